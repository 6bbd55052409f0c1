--
-- Settings under import_rollback.*: the default max_reject_ratio, a
-- tablespace for staging tables and change logs, UNLOGGED staging; the
-- prefix is reserved.
--
-- batch ids in this file start at 29000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 29000) AS ids_from \gset
LOAD 'import_rollback';
SELECT name, setting, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'import_rollback.%' ORDER BY name;
-- a misspelt setting is refused, not kept as a placeholder
SET import_rollback.max_reject_ration = 0.1;
\echo :SQLSTATE

CREATE TABLE gauges (id int PRIMARY KEY, reading numeric);

-- max_reject_ratio: the share of rejected rows that stops a validation
-- whose rules give none; the rules' own value still wins
SELECT ir_stage('gauges', 'g.csv', E'id,reading\n1,1\n2,x\n3,3\n4,4\n') AS b \gset
SELECT state, stop_reason FROM ir_validate(:b);
SET import_rollback.max_reject_ratio = 0.3;
SELECT state, stop_reason FROM ir_validate(:b);
SELECT state, stop_reason FROM ir_validate(:b, '{"rules": {"max_reject_ratio": 0.1}}');
SET import_rollback.max_reject_ratio = 1.5;
\echo :SQLSTATE
RESET import_rollback.max_reject_ratio;
SELECT ir_cancel(:b, 'test');

-- tablespace: new staging tables, change logs and their indexes go there
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE regress_ir_space LOCATION '';
SET import_rollback.tablespace = 'regress_ir_space';
SELECT ir_stage('gauges', 'g.csv', E'id,reading\n1,1\n2,2\n') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT c.relname ~ '^changes_' AS log, c.relkind, t.spcname
  FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE c.relname IN ('stage_' || :b, 'changes_' || :b)
    OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ('import_rollback.changes_' || :b)::regclass)
 ORDER BY 1, 2;
RESET import_rollback.tablespace;
SELECT ir_stage('gauges', 'g.csv', E'id,reading\n5,5\n') AS b2 \gset
SELECT reltablespace AS default_tablespace FROM pg_class WHERE relname = 'stage_' || :b2;
SELECT ir_cancel(:b2, 'test');
-- a tablespace that does not exist is refused when set; only superusers set it
SET import_rollback.tablespace = 'no_such_space';
\echo :SQLSTATE
CREATE ROLE regress_ir_setter;
SET ROLE regress_ir_setter;
SET import_rollback.tablespace = 'regress_ir_space';
\echo :SQLSTATE
-- while ordinary roles may choose UNLOGGED staging and their ratio
SET import_rollback.unlogged_staging = on;
SET import_rollback.max_reject_ratio = 0.2;
RESET ROLE;
DROP ROLE regress_ir_setter;

-- unlogged_staging: staging tables are UNLOGGED (a crash empties them, and
-- the batch then fails: test/t/006_unlogged_staging.pl); change logs never are
SET import_rollback.unlogged_staging = on;
SELECT ir_stage('gauges', 'g.csv', E'id,reading\n1,10\n') AS b3 \gset
SELECT inserted, updated FROM ir_apply(:b3);
SELECT relname ~ '^changes_' AS log, relpersistence
  FROM pg_class WHERE relname IN ('stage_' || :b3, 'changes_' || :b3) ORDER BY 1;
SELECT ir_stage_begin('gauges', 'up.csv', ARRAY['id', 'reading']) AS b4 \gset
SELECT relpersistence FROM pg_class WHERE relname = 'stage_' || :b4;
SELECT ir_cancel(:b4, 'test');
RESET import_rollback.unlogged_staging;
SELECT deleted, restored FROM ir_rollback(:b3);
SELECT deleted FROM ir_rollback(:b);

-- the tablespace is empty again once the batches that used it are purged
UPDATE import_rollback.batch SET ended_at = ended_at - interval '2 days'
 WHERE batch_id BETWEEN :ids_from AND :ids_from + 999;
SELECT batch_id - :ids_from AS batch, state FROM ir_purge('1 day');
DROP TABLESPACE regress_ir_space;
DROP TABLE gauges;
