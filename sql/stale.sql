--
-- Staleness at apply: a batch validated before another batch on the same
-- target was applied, whose records that batch wrote since, is refused
-- (IR004, naming the newer batch and a record) unless allow_stale; a newer
-- batch that wrote other records, or was rolled back, does not make it
-- stale; validating again does.
--
-- batch ids in this file start at 34000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 34000) AS ids_from \gset
CREATE TABLE st_items (code text, region int, name text, PRIMARY KEY (code, region));
INSERT INTO st_items VALUES ('a', 1, 'seed'), ('b', 1, 'seed');
SET client_min_messages = warning;

-- Monday's file is validated, Wednesday's applied, Monday's applied Friday
SELECT ir_stage('st_items', 'monday.csv', $$code,region,name
a,1,monday
b,1,monday
$$) AS mon \gset
SELECT state FROM ir_validate(:mon);
SELECT ir_stage('st_items', 'wednesday.csv', $$code,region,name
b,1,wednesday
c,1,wednesday
$$) AS wed \gset
SELECT * FROM ir_apply(:wed);
\set VERBOSITY default
SELECT * FROM ir_apply(:mon);
\set VERBOSITY terse
SELECT code, name FROM st_items ORDER BY code;
-- the application branches on the SQLSTATE
SELECT set_config('regress.batch', :'mon', false) AS mon;
DO $$
BEGIN
  PERFORM * FROM ir_apply(current_setting('regress.batch')::bigint);
EXCEPTION WHEN SQLSTATE 'IR004' THEN
  RAISE WARNING 'stale (%): %', SQLSTATE, SQLERRM;
END $$;

-- allow_stale applies it anyway; Wednesday's record is overwritten
SELECT * FROM ir_apply(:mon, '{"allow_stale": true}');
SELECT code, name FROM st_items ORDER BY code;

-- a newer batch that wrote other records only: not stale
SELECT ir_stage('st_items', 'other.csv', $$code,region,name
a,1,other
$$) AS x \gset
SELECT state FROM ir_validate(:x);
SELECT ir_stage('st_items', 'newer.csv', $$code,region,name
d,1,newer
$$) AS y \gset
SELECT * FROM ir_apply(:y);
SELECT * FROM ir_apply(:x);

-- a newer batch rolled back since: not stale
SELECT ir_stage('st_items', 'late.csv', $$code,region,name
c,1,late
$$) AS x \gset
SELECT state FROM ir_validate(:x);
SELECT ir_stage('st_items', 'undone.csv', $$code,region,name
c,1,undone
$$) AS y \gset
SELECT * FROM ir_apply(:y);
SELECT * FROM ir_rollback(:y);
SELECT * FROM ir_apply(:x);

-- validated again after the newer apply: not stale
SELECT ir_stage('st_items', 'again.csv', $$code,region,name
c,1,again
$$) AS x \gset
SELECT state FROM ir_validate(:x);
SELECT ir_stage('st_items', 'between.csv', $$code,region,name
c,1,between
$$) AS y \gset
SELECT * FROM ir_apply(:y);
SELECT * FROM ir_apply(:x);
SELECT state FROM ir_validate(:x);
SELECT row_no, action, current->>'name' AS now, mapped->>'name' AS then FROM ir_sample(:x);
SELECT * FROM ir_apply(:x);
SELECT code, name FROM st_items ORDER BY code;

-- a staged batch is validated by its apply: never stale
SELECT ir_stage('st_items', 'staged.csv', $$code,region,name
c,1,staged
$$) AS x \gset
SELECT * FROM ir_apply(:x);

RESET client_min_messages;
DROP TABLE st_items;
