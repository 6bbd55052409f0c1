--
-- Row security: batches are not filtered by a target's policies, and a
-- rollback must restore every record a batch wrote, so a role that the
-- target's row security applies to can run no batch operation on it; and
-- a rule never evaluates a view, or another table's policies, while a
-- batch's rows are lent to the caller.
--
-- batch ids in this file start at 21000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 21000) AS ids_from \gset
CREATE ROLE regress_ir_limited;
CREATE ROLE regress_ir_owner;
CREATE ROLE regress_ir_bypass BYPASSRLS;
CREATE TABLE docs (id int PRIMARY KEY, title text);
ALTER TABLE docs OWNER TO regress_ir_owner;
INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 10) g;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY low_ids ON docs USING (id <= 5) WITH CHECK (id <= 5);
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO regress_ir_limited, regress_ir_bypass;

-- a role the policies apply to cannot stage ...
SET ROLE regress_ir_limited;
SELECT count(*) AS visible FROM docs;
SELECT ir_stage('docs', 'docs.csv', E'id,title\n1,One\n');
\echo :SQLSTATE
RESET ROLE;

-- ... nor touch a batch someone else staged, applied and may roll back
SELECT ir_stage('docs', 'docs.csv', E'id,title\n1,One\n2,Two\n7,Seven\n8,Eight\n') AS b \gset
SELECT state FROM ir_validate(:b, '{"rules": {"mapping_check": "off"}}');
SELECT ir_stage('docs', 'later.csv', E'id,title\n3,Three\n') AS pending \gset
SET ROLE regress_ir_limited;
SELECT * FROM ir_validate(:pending);
\echo :SQLSTATE
SELECT * FROM ir_apply(:b);
\echo :SQLSTATE
SELECT * FROM ir_rejects(:b);
\echo :SQLSTATE
SELECT * FROM ir_sample(:b);
\echo :SQLSTATE
SELECT ir_cancel(:pending, 'not mine');
\echo :SQLSTATE
RESET ROLE;
SELECT inserted, updated FROM ir_apply(:b);
SET ROLE regress_ir_limited;
SELECT * FROM ir_rollback(:b, '{"on_conflict": "force"}');
\echo :SQLSTATE
SELECT * FROM ir_rollback_preview(:b);
\echo :SQLSTATE
SELECT * FROM ir_changes(:b);
\echo :SQLSTATE
SELECT * FROM ir_drill(:pending);
\echo :SQLSTATE
RESET ROLE;
-- nothing changed, and the batch is still applied and not safe to retry
SELECT id, title FROM docs WHERE id IN (1, 2, 7, 8) ORDER BY id;
SELECT state, safe_to_retry FROM ir_batches WHERE batch_id = :b;

-- the table's owner is not subject to its policies (unless FORCEd), and
-- neither is a BYPASSRLS role: they run the whole workflow
SET ROLE regress_ir_bypass;
SELECT * FROM ir_rollback_preview(:b) ORDER BY record_key::text, column_name;
RESET ROLE;
SET ROLE regress_ir_owner;
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts FROM ir_rollback(:b);
SELECT id, title FROM docs WHERE id IN (1, 2, 7, 8) ORDER BY id;
RESET ROLE;
ALTER TABLE docs FORCE ROW LEVEL SECURITY;
SET ROLE regress_ir_owner;
SELECT ir_stage('docs', 'docs.csv', E'id,title\n1,One\n');
\echo :SQLSTATE
RESET ROLE;
ALTER TABLE docs NO FORCE ROW LEVEL SECURITY;

-- rules read other tables as the caller while the batch's rows are lent:
-- a view (its functions would run with that access), a foreign or other
-- non-table relation, or a table whose policies apply to the caller is
-- refused; a table or materialized view is read as is
CREATE TABLE titles (title text PRIMARY KEY);
INSERT INTO titles VALUES ('One'), ('Two');
CREATE FUNCTION copy_staging() RETURNS SETOF text LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'view function ran as %', current_user; RETURN QUERY SELECT title FROM titles; END $$;
CREATE VIEW titles_view AS SELECT copy_staging() AS title;
CREATE MATERIALIZED VIEW titles_mat AS SELECT title FROM titles;
CREATE TABLE titles_rls (title text);
INSERT INTO titles_rls VALUES ('One');
ALTER TABLE titles_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY none_visible ON titles_rls USING (false);
GRANT SELECT ON titles, titles_view, titles_mat, titles_rls TO regress_ir_bypass;
SET ROLE regress_ir_bypass;
SELECT ir_stage('docs', 'titles.csv', E'id,title\n1,One\n2,Three\n') AS r \gset
SELECT * FROM ir_validate(:r, '{"rules": {"reference": {"title": "public.titles_view.title"}}}');
\echo :SQLSTATE
RESET ROLE;
-- (docs' owner bypasses docs' policies, not those of a table it does not own)
GRANT SELECT ON titles_rls TO regress_ir_owner;
SET ROLE regress_ir_owner;
SELECT * FROM ir_validate(:r, '{"rules": {"reference": {"title": "public.titles_rls.title"}}}');
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_ir_bypass;
SELECT state, rows_valid, rows_rejected FROM ir_validate(:r, '{"rules": {"reference": {"title": "public.titles_mat.title"},
                                                                         "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:r);
SELECT state, rows_valid, rows_rejected FROM ir_validate(:r, '{"rules": {"reference": {"title": "titles.title"},
                                                                         "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT ir_cancel(:r, 'done');
RESET ROLE;

DROP VIEW titles_view;
DROP MATERIALIZED VIEW titles_mat;
DROP FUNCTION copy_staging();
DROP TABLE docs, titles, titles_rls;
DROP ROLE regress_ir_limited, regress_ir_owner, regress_ir_bypass;
