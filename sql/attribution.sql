--
-- Attribution and exactness of conflicts.  A conflicting field is
-- attributed to the newest later batch that wrote that field of that
-- record, whatever key each batch found the record by, and the same
-- batch is named by the abort's message and the preview; a later write
-- of an equal but different value (1.99 over 1.990) is a conflict, never
-- silently overwritten.
--
-- batch ids in this file start at 24000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 24000) AS ids_from \gset
CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, phone text, score numeric,
                       tags numeric[], attrs jsonb);
INSERT INTO contacts SELECT g, 'c' || g || '@example.com', 'C ' || g, '555-000' || g, 1.5, '{1.0}', '{"a": 1.0}'
  FROM generate_series(1, 5) g;

-- A writes name of 1; B (later) writes only phone of 1; then name is
-- edited by hand: the name conflict is an outside write, not B's
SELECT ir_stage('contacts', 'a.csv', E'id,name\n1,Ann\n', '{"mode": "update"}') AS a \gset
SELECT updated FROM ir_apply(:a);
SELECT ir_stage('contacts', 'b.csv', E'id,phone\n1,555-1111\n', '{"mode": "update"}') AS b \gset
SELECT updated FROM ir_apply(:b);
UPDATE contacts SET name = 'Annie' WHERE id = 1;
SELECT record_key, status, column_name, changed_by_batch - :ids_from AS by_batch FROM ir_rollback_preview(:a);
SELECT * FROM ir_rollback(:a);
-- B's own field is B's
SELECT record_key, status, column_name, changed_by_batch - :ids_from AS by_batch FROM ir_rollback_preview(:b);
SELECT deleted, restored, conflicts FROM ir_rollback(:b);
SELECT deleted, restored, conflicts FROM ir_rollback(:a, '{"on_conflict": "skip"}');

-- C finds records by id, D (later) by email: D's write to the record C
-- wrote is D's, in the preview and in the abort's message alike
SELECT ir_stage('contacts', 'c.csv', E'id,name\n2,Bob\n3,Cy\n', '{"mode": "update"}') AS c \gset
SELECT updated FROM ir_apply(:c);
SELECT ir_stage('contacts', 'd.csv', E'email,name\nc2@example.com,Robert\n', '{"key": ["email"], "mode": "update"}') AS d \gset
SELECT updated FROM ir_apply(:d);
UPDATE contacts SET name = 'Cyrus' WHERE id = 3;
SELECT record_key, status, column_name, changed_by_batch - :ids_from AS by_batch
  FROM ir_rollback_preview(:c) ORDER BY record_key::text;
SELECT * FROM ir_rollback(:c);
SELECT deleted, restored, conflicts FROM ir_rollback(:d);
SELECT record_key, status, changed_by_batch FROM ir_rollback_preview(:c) ORDER BY record_key::text;
SELECT deleted, restored, conflicts FROM ir_rollback(:c, '{"on_conflict": "skip"}');
SELECT id, name FROM contacts WHERE id IN (2, 3) ORDER BY id;

-- E writes 1.990 over 1.5 (and like values in an array and JSON); then a
-- user writes the values the type calls equal, in other digits
SELECT ir_stage('contacts', 'e.csv', E'id,score,tags,attrs\n4,1.990,{1.00},"{""a"": 1.00}"\n5,2.5,{2.0},"{""a"": 2}"\n',
                '{"mode": "update"}') AS e \gset
SELECT updated FROM ir_apply(:e);
UPDATE contacts SET score = 1.99, tags = '{1.000}', attrs = '{"a": 1.000}' WHERE id = 4;
-- (a field set back to exactly what the batch overwrote conflicts with
-- nothing: the rollback leaves it, overwriting nothing)
UPDATE contacts SET score = 1.5 WHERE id = 5;
SELECT score = 1.990 AS type_says_equal, tags = '{1.00}' AS arrays_equal, attrs = '{"a": 1.00}' AS json_equal
  FROM contacts WHERE id = 4;
SELECT record_key, status, column_name, batch_value, current_value
  FROM ir_rollback_preview(:e) ORDER BY record_key::text, column_name;
SELECT * FROM ir_rollback(:e);
SELECT deleted, restored, conflicts FROM ir_rollback(:e, '{"on_conflict": "skip"}');
-- the user's values stay; the other record is back exactly, and counts as
-- restored (its tags and attrs were)
SELECT id, score, tags, attrs FROM contacts WHERE id IN (4, 5) ORDER BY id;

DROP TABLE contacts;
