--
-- Retention: ir_purge(older_than, options) drops the staging tables and
-- change logs of batches that ended that long ago, expires batches left
-- unfinished that long (cancelled, "expired"), takes applied batches only
-- with "applied", lists without changing anything with "dry_run", and
-- keeps every batch row, count and event.  Reports on a purged batch say
-- so (IR005).
--
-- batch ids in this file start at 28000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 28000) AS ids_from \gset
CREATE ROLE regress_ir_keeper;
CREATE ROLE regress_ir_other;
CREATE TABLE kept_ledger (id int PRIMARY KEY, amount numeric);
ALTER TABLE kept_ledger OWNER TO regress_ir_keeper;
GRANT SELECT, INSERT, UPDATE ON kept_ledger TO regress_ir_other;
CREATE TABLE kept_other_ledger (id int PRIMARY KEY, amount numeric);
ALTER TABLE kept_other_ledger OWNER TO regress_ir_other;

-- a batch in every state, staged by the table's owner
SET ROLE regress_ir_keeper;
SELECT ir_stage_begin('kept_ledger', 'received.csv', ARRAY['id', 'amount']) AS r \gset
SELECT ir_stage('kept_ledger', 'staged.csv', E'id,amount\n1,10\n') AS s \gset
SELECT ir_stage('kept_ledger', 'validated.csv', E'id,amount\n2,20\n') AS v \gset
SELECT state FROM ir_validate(:v);
SELECT ir_stage('kept_ledger', 'failed.csv', E'id,amount\n3,x\n4,40\n') AS f \gset
SELECT state FROM ir_validate(:f, '{"rules": {"max_reject_ratio": 0}}');
SELECT ir_stage('kept_ledger', 'cancelled.csv', E'id,amount\n5,50\n') AS c \gset
SELECT ir_cancel(:c, 'not needed');
SELECT ir_stage('kept_ledger', 'applied.csv', E'id,amount\n6,60\n7,70\n') AS a \gset
SELECT inserted FROM ir_apply(:a);
SELECT ir_stage('kept_ledger', 'rolled_back.csv', E'id,amount\n8,80\n') AS rb \gset
SELECT inserted FROM ir_apply(:rb);
SELECT deleted FROM ir_rollback(:rb);
-- recent ones, which no purge below is old enough for
SELECT ir_stage('kept_ledger', 'recent_applied.csv', E'id,amount\n9,90\n') AS a2 \gset
SELECT inserted FROM ir_apply(:a2);
SELECT ir_stage('kept_ledger', 'recent_cancelled.csv', E'id,amount\n10,100\n') AS rc \gset
SELECT ir_cancel(:rc, 'not needed');
RESET ROLE;
-- another role's batches: one on the keeper's table, one on its own
SET ROLE regress_ir_other;
SELECT ir_stage('kept_ledger', 'other_on_kept_ledger.csv', E'id,amount\n11,110\n') AS o1 \gset
SELECT ir_cancel(:o1, 'not needed');
SELECT ir_stage('kept_other_ledger', 'other_own.csv', E'id,amount\n12,120\n') AS o2 \gset
SELECT ir_cancel(:o2, 'not needed');
RESET ROLE;

-- forty days pass for all but the recent ones
UPDATE import_rollback.batch
   SET started_at = started_at - interval '40 days', staged_at = staged_at - interval '40 days',
       validated_at = validated_at - interval '40 days', applied_at = applied_at - interval '40 days',
       rolled_back_at = rolled_back_at - interval '40 days', ended_at = ended_at - interval '40 days'
 WHERE batch_id IN (:r, :s, :v, :f, :c, :a, :rb, :o1, :o2);

-- a dry run lists what would go, in what state, and the space it frees,
-- and changes nothing (the client upload keeps its grant)
SET ROLE regress_ir_keeper;
SELECT batch_id - :ids_from AS batch, state, freed_bytes > 0 AS frees_space
  FROM ir_purge('30 days', '{"dry_run": true}');
SELECT batch_id - :ids_from AS batch, state, purged_at IS NOT NULL AS purged
  FROM ir_batches WHERE batch_id BETWEEN :ids_from AND :ids_from + 999 ORDER BY batch_id;
RESET ROLE;
SELECT count(*) AS client_grants FROM pg_attribute
 WHERE attrelid = ('import_rollback.stage_' || :r)::regclass AND cardinality(attacl) > 0;

-- the purge: the keeper takes its own batches and every batch on its table,
-- not another role's batch on that role's table, not applied ones, not
-- recent ones
SET ROLE regress_ir_keeper;
SELECT batch_id - :ids_from AS batch, state, freed_bytes > 0 AS frees_space
  FROM ir_purge('30 days');
-- (a fixed time, for the messages below)
RESET ROLE;
UPDATE import_rollback.batch SET purged_at = '2026-01-02 03:04:05+00' WHERE purged_at IS NOT NULL;
SET ROLE regress_ir_keeper;
SELECT batch_id - :ids_from AS batch, state, rows_total, purged_at IS NOT NULL AS purged,
       last_error
  FROM ir_batches WHERE batch_id BETWEEN :ids_from AND :ids_from + 999 ORDER BY batch_id;
-- the unfinished ones were cancelled as expired, and their events say so
SELECT batch_id - :ids_from AS batch, from_state, to_state, detail
  FROM ir_batch_events WHERE batch_id IN (:r, :s, :v) AND to_state = 'cancelled' ORDER BY batch_id;
RESET ROLE;
-- their tables are gone; their rows, columns and events are kept
SELECT b.batch_id - :ids_from AS batch,
       to_regclass('import_rollback.stage_' || b.batch_id) AS stage,
       to_regclass('import_rollback.changes_' || b.batch_id) AS log,
       (SELECT count(*) FROM import_rollback.batch_column c WHERE c.batch_id = b.batch_id) AS columns,
       (SELECT count(*) FROM import_rollback.batch_event e WHERE e.batch_id = b.batch_id) AS events
  FROM import_rollback.batch b WHERE b.batch_id BETWEEN :ids_from AND :ids_from + 999 ORDER BY b.batch_id;
-- a second purge finds nothing new
SET ROLE regress_ir_keeper;
SELECT count(*) AS again FROM ir_purge('30 days');

-- reports on a purged batch say it was purged (IR005), never an internal
-- error or a silently empty result
SELECT * FROM ir_rejects(:f);
\echo :SQLSTATE
SELECT * FROM ir_changes(:rb);
\echo :SQLSTATE
SELECT * FROM ir_sample(:f);
\echo :SQLSTATE
SELECT * FROM ir_preview(:f);
\echo :SQLSTATE
SELECT * FROM ir_validate(:f);
\echo :SQLSTATE
-- state checks come first: the expired batches are cancelled
SELECT * FROM ir_apply(:v);
\echo :SQLSTATE
SELECT ir_stage_copy_command(:r);
\echo :SQLSTATE

-- applied batches only on request; their rollback is then refused, naming
-- when the log was purged
SELECT batch_id - :ids_from AS batch, state FROM ir_purge('30 days', '{"applied": true}');
RESET ROLE;
UPDATE import_rollback.batch SET purged_at = '2026-01-02 03:04:05+00' WHERE batch_id = :a;
SET ROLE regress_ir_keeper;
SELECT * FROM ir_rollback(:a);
\echo :SQLSTATE
SELECT * FROM ir_rollback_preview(:a);
\echo :SQLSTATE
SELECT * FROM ir_changes(:a, '{"id": 6}');
\echo :SQLSTATE
SELECT state, inserted, purged_at FROM ir_batches WHERE batch_id = :a;
-- the records it wrote stay, and a purged applied batch no longer keeps
-- the table tracked
SELECT * FROM kept_ledger ORDER BY id;
SELECT deleted FROM ir_rollback(:a2);
SELECT ir_untrack('kept_ledger');
RESET ROLE;

-- a superuser purges every role's batches
SELECT batch_id - :ids_from AS batch, state FROM ir_purge('30 days');

-- bad arguments
SELECT * FROM ir_purge('-1 day');
\echo :SQLSTATE
SELECT * FROM ir_purge(NULL);
\echo :SQLSTATE
SELECT * FROM ir_purge('1 day', NULL);
\echo :SQLSTATE
SELECT * FROM ir_purge('1 day', '{"dryrun": true}');
\echo :SQLSTATE
SELECT * FROM ir_purge('1 day', '{"applied": "yes"}');
\echo :SQLSTATE

DROP TABLE kept_ledger, kept_other_ledger;
DROP ROLE regress_ir_keeper, regress_ir_other;
