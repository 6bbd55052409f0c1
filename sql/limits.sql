--
-- Limits and the environment user code sees.
--
-- batch ids in this file start at 26000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 26000) AS ids_from \gset

-- the change log keeps an old and a new value of every column: a target
-- wider than 798 columns is refused when a file is staged for it, not
-- after validation
DO $$
BEGIN
  EXECUTE 'CREATE TABLE wide_ok (id int PRIMARY KEY, '
       || (SELECT string_agg('c' || g || ' int', ', ') FROM generate_series(2, 798) g) || ')';
  EXECUTE 'CREATE TABLE wide_bad (id int PRIMARY KEY, '
       || (SELECT string_agg('c' || g || ' int', ', ') FROM generate_series(2, 799) g) || ')';
END $$;
SELECT ir_stage('wide_bad', 'w.csv', E'id,c2\n1,2\n');
\echo :SQLSTATE
SELECT count(*) AS batches_made FROM ir_batches WHERE batch_id > :ids_from;
SELECT ir_stage('wide_ok', 'w.csv', E'id,c2\n1,2\n') AS w \gset
SELECT state FROM ir_validate(:w, '{"rules": {"mapping_check": "off"}}');
SELECT inserted FROM ir_apply(:w);
-- a column added later makes the table too wide for new batches (and for
-- validating pending ones); the applied batch still rolls back
ALTER TABLE wide_ok ADD COLUMN c799 int;
SELECT ir_stage('wide_ok', 'w2.csv', E'id,c2\n2,2\n');
\echo :SQLSTATE
SELECT deleted FROM ir_rollback(:w);
DROP TABLE wide_ok, wide_bad;

-- user code run by a batch's statements (triggers, defaults, domain
-- checks) sees search_path = pg_catalog, pg_temp, as PostgreSQL's own
-- maintenance commands give theirs: the extension's statements are
-- planned and run under that one path so no name in them can be taken
-- over; functions that rely on unqualified names set their own path
CREATE TABLE audit (note text);
CREATE TABLE notes (id int PRIMARY KEY, body text);
CREATE FUNCTION note_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.audit VALUES ('path: ' || current_setting('search_path'));
  RETURN NEW;
END $$;
CREATE FUNCTION note_unqualified() RETURNS trigger LANGUAGE plpgsql
  SET search_path = public AS $$
BEGIN
  INSERT INTO audit VALUES ('unqualified, own path: ' || NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER a_path AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION note_path();
CREATE TRIGGER b_unqualified AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION note_unqualified();
INSERT INTO notes VALUES (1, 'by hand');
SELECT ir_stage('notes', 'n.csv', E'id,body\n2,by batch\n') AS n \gset
SELECT inserted FROM ir_apply(:n);
SELECT note FROM audit;
SELECT deleted FROM ir_rollback(:n);
DROP TABLE notes, audit;
DROP FUNCTION note_path(), note_unqualified();

-- a value is quoted in a reason up to 200 characters, cut between two
-- characters, never inside one (here after the 199th "é", a two-byte
-- character), whether the reason is worded in C (a type's input) or in SQL
-- (a pattern); "valid": the text converts, so no character was cut
CREATE TABLE shown (id int PRIMARY KEY, n int, t text);
SELECT ir_stage('shown', 'shown.csv',
  E'id,n,t\n1,a' || repeat('é', 250) || ',a' || repeat('é', 250) || E'\n') AS s \gset
SELECT state, rows_rejected FROM ir_validate(:s, '{"rules": {"pattern": {"t": "^[0-9]+$"}, "mapping_check": "off"}}');
SELECT left(split_part(e, ': ', 1), 10) AS col, convert_to(e, 'LATIN1') IS NOT NULL AS valid,
       length(substring(e from '"(a[é]*)\.\.\."')) AS chars_shown, right(e, 30) AS ends
  FROM ir_rejects(:s) r, unnest(r.errors) e ORDER BY 1;
DROP TABLE shown;
