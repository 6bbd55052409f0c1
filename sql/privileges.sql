--
-- Privileges: a role can stage exactly where it may write the target;
-- catalog and staging tables are closed to ordinary roles; search_path
-- cannot hijack the extension's internal statements.
--
-- batch ids in this file start at 9000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 9000) AS ids_from \gset
CREATE ROLE regress_ir_loader;
CREATE ROLE regress_ir_reader;
CREATE ROLE regress_ir_nobody;
CREATE TABLE accounts (id int PRIMARY KEY, owner text);
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO regress_ir_loader;
GRANT SELECT ON accounts TO regress_ir_reader;
CREATE SCHEMA evil AUTHORIZATION regress_ir_loader;

-- an ordinary role with rights on the target runs the whole staging workflow
SET ROLE regress_ir_loader;
SELECT ir_stage('accounts', 'accounts.csv', E'id,owner\n1,ann\n2\n') AS b \gset
SELECT target, state, started_by, rows_total, rows_rejected FROM ir_batches WHERE batch_id = :b;
SELECT row_no, errors FROM ir_rejects(:b);
SELECT count(*) AS events FROM ir_batch_events WHERE batch_id = :b;
-- ... but cannot write the catalog or staging tables itself
UPDATE import_rollback.batch SET state = 'applied' WHERE batch_id = :b;
INSERT INTO import_rollback.batch_event (batch_id, event_at, role_name, to_state)
     VALUES (:b, now(), 'x', 'applied');
DELETE FROM import_rollback.batch_column;
SELECT count(*) FROM import_rollback.stage_:b;
INSERT INTO import_rollback.stage_:b (row_no, c1) VALUES (99, 'forged');
-- nor read server files
SELECT ir_stage_file('accounts', '/etc/passwd');
\echo :SQLSTATE

-- client path: the loader may write its own batch's data columns only (as
-- its COPY ... FROM STDIN does), and only until the batch is staged
SELECT ir_stage_begin('accounts', 'upload.csv', ARRAY['id', 'owner']) AS c \gset
INSERT INTO import_rollback.stage_:c (c1, c2) VALUES ('3', 'cy');
INSERT INTO import_rollback.stage_:c (row_no, status, c1) VALUES (1, 'rejected', 'forged');
SELECT ir_stage_finish(:c) AS rows;
INSERT INTO import_rollback.stage_:c (c1, c2) VALUES ('4', 'late');
RESET ROLE;

-- a role that may only read the target sees the batches and their rejects,
-- but cannot stage or change them
SET ROLE regress_ir_reader;
SELECT count(*) AS visible_batches FROM ir_batches WHERE target = 'public.accounts';
SELECT row_no, errors FROM ir_rejects(:b);
SELECT ir_stage('accounts', 'accounts.csv', E'id,owner\n1,ann\n');
\echo :SQLSTATE
SELECT ir_cancel(:b, 'not mine');
\echo :SQLSTATE
RESET ROLE;

-- a role without privileges sees nothing and can do nothing
SET ROLE regress_ir_nobody;
SELECT count(*) AS visible_batches FROM ir_batches;
SELECT count(*) AS visible_events FROM ir_batch_events;
SELECT ir_stage('accounts', 'accounts.csv', E'id,owner\n1,ann\n');
\echo :SQLSTATE
SELECT * FROM ir_rejects(:b);
\echo :SQLSTATE
SELECT ir_cancel(:b, 'not mine');
\echo :SQLSTATE
SELECT ir_stage_copy_command(:c);
\echo :SQLSTATE
SELECT count(*) FROM import_rollback.batch;
RESET ROLE;

-- search_path cannot redirect the extension's internal statements: an
-- operator planted ahead of pg_catalog is never called
SET ROLE regress_ir_loader;
CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'hijacked'; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (FUNCTION = evil.eq, LEFTARG = bigint, RIGHTARG = bigint);
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'hijacked'; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (FUNCTION = evil.eq, LEFTARG = text, RIGHTARG = text);
CREATE TABLE evil.batch (batch_id bigint);
SET search_path = evil, pg_catalog, public;
SELECT 1::bigint = 1::bigint AS planted_operator_works;
SELECT ir_stage('accounts', 'again.csv', E'id,owner\n5,eve\n') AS e \gset
SELECT state FROM ir_batches WHERE batch_id = :e;
SELECT count(*) FROM ir_rejects(:e);
SELECT ir_cancel(:e, 'search_path test');
RESET search_path;
RESET ROLE;

-- reading a batch's rows needs SELECT on the target: a role that may only
-- INSERT stages files but cannot read other batches' rows
CREATE ROLE regress_ir_inserter;
GRANT INSERT ON accounts TO regress_ir_inserter;
SET ROLE regress_ir_inserter;
SELECT * FROM ir_rejects(:b);
\echo :SQLSTATE
RESET ROLE;

-- user code in a type's input (a domain's CHECK) runs as the caller, in
-- every function, never as the extension owner
CREATE FUNCTION who(v text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN IF current_user <> 'regress_ir_loader' THEN RAISE EXCEPTION 'ran as %', current_user; END IF;
   RETURN true; END $$;
CREATE DOMAIN tagged AS text CHECK (who(VALUE));
CREATE TABLE tagged_target (id tagged PRIMARY KEY, v text);
GRANT SELECT, INSERT, UPDATE, DELETE ON tagged_target TO regress_ir_loader;
SET ROLE regress_ir_loader;
SELECT ir_stage('tagged_target', 'tagged.csv', E'id,v\na,1\nb,2\n') AS tg \gset
SELECT state FROM ir_validate(:tg);
SELECT inserted FROM ir_apply(:tg);
SELECT row_no, action, record_key FROM ir_changes(:tg);
SELECT count(*) FROM ir_sample(:tg);
SELECT deleted FROM ir_rollback(:tg);
RESET ROLE;

DROP SCHEMA evil CASCADE;
DROP OWNED BY regress_ir_loader, regress_ir_reader, regress_ir_nobody, regress_ir_inserter;
DROP ROLE regress_ir_loader, regress_ir_reader, regress_ir_nobody, regress_ir_inserter;
