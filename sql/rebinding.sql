--
-- A batch belongs to the table it was staged for, not to a name: it
-- follows the table through a rename, a table created later under the old
-- name gets none of it, and a dropped target leaves batches bound to
-- nothing.  And a rollback finds records by a key that is still unique.
--
-- batch ids in this file start at 27000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 27000) AS ids_from \gset
CREATE ROLE regress_ir_alice;
CREATE ROLE regress_ir_eve;
GRANT CREATE ON SCHEMA public TO regress_ir_alice, regress_ir_eve;

SET ROLE regress_ir_alice;
CREATE TABLE public.clients (id int PRIMARY KEY, name text, email text);
INSERT INTO clients SELECT g, 'c' || g, 'c' || g || '@x.org' FROM generate_series(1, 5) g;
SELECT ir_stage('clients', 'c.csv', E'id,name,email,ssn\n1,Ann,ann@x.org,078-05-1120\n9,Nine,n@x.org,457-55-5462\nxx,Bad,b@x.org,111-22-3333\n') AS b \gset
SELECT state FROM ir_validate(:b, '{"mapping": {"id": "id", "name": "name", "email": "email"},
                                    "rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT inserted, updated FROM ir_apply(:b);
ALTER TABLE clients RENAME TO clients_2024;
RESET ROLE;

-- another role creates a table under the old name: it sees none of the
-- batch, and can do nothing with it
SET ROLE regress_ir_eve;
CREATE TABLE public.clients (id int PRIMARY KEY, name text, email text);
SELECT count(*) AS visible FROM ir_batches WHERE batch_id = :b;
SELECT * FROM ir_rejects(:b);
SELECT * FROM ir_sample(:b);
SELECT * FROM ir_changes(:b);
SELECT * FROM ir_rollback(:b, '{"on_conflict": "force"}');
DROP TABLE public.clients;
RESET ROLE;

-- the batch followed its table: it reports the new name and rolls back there
SET ROLE regress_ir_alice;
SELECT target, state FROM ir_batches WHERE batch_id = :b;
SELECT deleted, restored, conflicts FROM ir_rollback(:b);
SELECT * FROM clients_2024 ORDER BY id;

-- a dropped target: the batch keeps its rows and history, bound to nothing
SELECT ir_stage('clients_2024', 'd.csv', E'id,name\n2,Bo\n') AS d \gset
DROP TABLE clients_2024;
SELECT target, state FROM ir_batches WHERE batch_id = :d;
SELECT row_no, source FROM ir_rejects(:d);
SELECT * FROM ir_validate(:d);
RESET ROLE;
SELECT count(*) AS still_bound FROM import_rollback.batch WHERE batch_id IN (:b, :d) AND target_relid IS NOT NULL;

-- and a new table under that name is not its target either
SET ROLE regress_ir_eve;
CREATE TABLE public.clients_2024 (id int PRIMARY KEY, name text);
SELECT count(*) AS visible FROM ir_batches WHERE batch_id = :d;
SELECT * FROM ir_validate(:d);
DROP TABLE public.clients_2024;
RESET ROLE;

-- a rollback needs the key's unique index: without it, one key could be
-- several records, and the batch's rollback would touch others' rows
CREATE TABLE tokens (id int PRIMARY KEY, v text);
INSERT INTO tokens SELECT g, 'v' || g FROM generate_series(1, 5) g;
SELECT ir_stage('tokens', 't.csv', E'id,v\n1,new1\n40,forty\n') AS t \gset
SELECT inserted, updated FROM ir_apply(:t);
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
INSERT INTO tokens VALUES (40, 'forty'), (1, 'new1');
SELECT * FROM ir_rollback(:t, '{"on_conflict": "skip"}');
\echo :SQLSTATE
SELECT * FROM ir_rollback_preview(:t);
DELETE FROM tokens WHERE ctid = (SELECT max(ctid) FROM tokens WHERE id = 1);
DELETE FROM tokens WHERE ctid = (SELECT max(ctid) FROM tokens WHERE id = 40);
ALTER TABLE tokens ADD UNIQUE (id);
SELECT deleted, restored, conflicts FROM ir_rollback(:t);
SELECT * FROM tokens ORDER BY id;

DROP TABLE tokens;
REVOKE CREATE ON SCHEMA public FROM regress_ir_alice, regress_ir_eve;
DROP OWNED BY regress_ir_alice, regress_ir_eve;
DROP ROLE regress_ir_alice, regress_ir_eve;
