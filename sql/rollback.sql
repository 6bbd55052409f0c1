--
-- ir_rollback: exactly that batch, field by field, even after later
-- batches; conflicts detected and reported under each policy.
--
-- batch ids in this file start at 14000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 14000) AS ids_from \gset
SET timezone = 'UTC';

CREATE TABLE prices (
    sku      text PRIMARY KEY,
    name     text,
    price    numeric,
    tags     text[],
    attrs    jsonb,
    valid_at timestamptz,
    quoted   text
);
INSERT INTO prices
SELECT 'P-' || g, 'Product ' || g, g + 0.5, ARRAY['x', NULL, 'y "z"'], jsonb_build_object('a', g, 'b', ARRAY[1.0, 2]),
       '2024-05-01 12:00:00.123456+00', $$it's "quoted", \ back$$
  FROM generate_series(1, 30) g;
CREATE TABLE prices_before AS SELECT * FROM prices;

-- 1. inserts and updates, NULLs and odd types, rolled back byte-exact
SELECT ir_stage('prices', 'monday.csv', $$sku,name,price,tags,attrs,valid_at,quoted
P-1,Product 1,1.990,"{a,NULL,""b,c""}","{""a"": 1.990, ""z"": null}",2024-05-02 00:00:00.5+02,"it's ""new"""
P-2,,2.5,,,,
P-3,Product 3,3.50,"{x,NULL,""y \""z\""""}","{""a"": 3, ""b"": [1.0, 2]}",2024-05-01 12:00:00.123456+00,"it's ""quoted"", \ back"
P-100,Brand new,0.001,{},{},2030-01-01,
$$, '{"rules": {"mapping_check": "off"}}') AS mon \gset
SELECT * FROM ir_apply(:mon);
SELECT change_id, action, record_key, old_values, new_values FROM ir_changes(:mon);
SELECT * FROM ir_rollback_preview(:mon) WHERE column_name IN ('price', 'name') ORDER BY record_key::text, column_name;
SELECT * FROM ir_rollback(:mon);
-- the whole table is exactly as before, every byte
SELECT count(*) AS differences FROM (
  (SELECT p::text FROM prices p EXCEPT ALL SELECT b::text FROM prices_before b)
  UNION ALL
  (SELECT b::text FROM prices_before b EXCEPT ALL SELECT p::text FROM prices p)) d;
SELECT change_id, action, record_key, old_values, new_values FROM ir_changes(:mon) WHERE action LIKE 'undo%';
SELECT state, safe_to_retry, rolled_back_at IS NOT NULL AS rolled_back FROM ir_batches WHERE batch_id = :mon;
-- a rolled-back batch cannot be rolled back (or applied) again
SELECT * FROM ir_rollback(:mon);
\echo :SQLSTATE
SELECT * FROM ir_apply(:mon);
\echo :SQLSTATE

-- 2. later batches on other records, and on other fields of the same
--    records, are kept: only this batch's fields go back
SELECT ir_stage('prices', 'tue-price.csv', E'sku,price\nP-5,5.55\nP-6,6.66\nP-200,1\n') AS tue \gset
SELECT * FROM ir_apply(:tue);
SELECT ir_stage('prices', 'wed-names.csv', E'sku,name\nP-5,Renamed 5\nP-7,Renamed 7\n') AS wed \gset
SELECT * FROM ir_apply(:wed);
SELECT * FROM ir_rollback(:tue);
SELECT sku, name, price FROM prices WHERE sku IN ('P-5', 'P-6', 'P-7', 'P-200') ORDER BY sku;

-- 3. a later batch on the same field is a conflict, attributed to it
SELECT ir_stage('prices', 'thu.csv', E'sku,price,name\nP-8,8.88,Eight\nP-9,9.99,Nine\nP-300,3,New\n') AS thu \gset
SELECT * FROM ir_apply(:thu);
SELECT ir_stage('prices', 'fri.csv', E'sku,price\nP-8,8.00\n') AS fri \gset
SELECT * FROM ir_apply(:fri);
-- and a hand edit is a conflict attributed to no batch; so is an edited
-- or deleted created record
UPDATE prices SET name = 'Hand edited' WHERE sku = 'P-9';
SELECT * FROM ir_rollback_preview(:thu) WHERE status <> 'restorable' OR column_name IN ('price', 'name')
 ORDER BY record_key::text, column_name;
-- abort (default): nothing changes, and the message says what to do
\set VERBOSITY default
SELECT * FROM ir_rollback(:thu);
\echo :SQLSTATE
SELECT sku, name, price FROM prices WHERE sku IN ('P-8', 'P-9', 'P-300') ORDER BY sku;
-- rolling back the later batch first clears that conflict
SELECT * FROM ir_rollback(:fri);
SELECT status, count(*) FROM ir_rollback_preview(:thu) GROUP BY status ORDER BY status;
-- skip: restore everything that does not conflict, report the rest
SELECT * FROM ir_rollback(:thu, '{"on_conflict": "skip"}');
SELECT sku, name, price FROM prices WHERE sku IN ('P-8', 'P-9', 'P-300') ORDER BY sku;
SELECT detail FROM ir_batch_events WHERE batch_id = :thu AND to_state = 'rolled_back';

-- force: restore even over later changes
SELECT ir_stage('prices', 'sat.csv', E'sku,price\nP-10,10.01\nP-400,4\n') AS sat \gset
SELECT * FROM ir_apply(:sat);
UPDATE prices SET price = 99 WHERE sku IN ('P-10', 'P-400');
SELECT * FROM ir_rollback(:sat, '{"on_conflict": "force"}');
SELECT sku, price FROM prices WHERE sku IN ('P-10', 'P-400') ORDER BY sku;
SELECT * FROM ir_rollback(:sat, '{"on_conflict": "sometimes"}');
\echo :SQLSTATE

-- a created record deleted since is "gone"
SELECT ir_stage('prices', 'sun.csv', E'sku,price\nP-500,5\n') AS sun \gset
SELECT * FROM ir_apply(:sun);
DELETE FROM prices WHERE sku = 'P-500';
SELECT status, count(*) FROM ir_rollback_preview(:sun) GROUP BY status;
SELECT * FROM ir_rollback(:sun, '{"on_conflict": "skip"}');

-- 4. schema changes since the apply: an added column is fine; a dropped or
--    retyped logged column, or a TRUNCATE, refuses the rollback
SELECT ir_stage('prices', 'm1.csv', E'sku,price\nP-11,11.11\n') AS m1 \gset
SELECT * FROM ir_apply(:m1);
ALTER TABLE prices ADD COLUMN extra int DEFAULT 7;
SELECT * FROM ir_rollback(:m1);
SELECT ir_stage('prices', 'm2.csv', E'sku,price\nP-12,12.12\n') AS m2 \gset
SELECT * FROM ir_apply(:m2);
ALTER TABLE prices DROP COLUMN quoted;
SELECT * FROM ir_rollback(:m2);
\echo :SQLSTATE
ALTER TABLE prices ALTER COLUMN name TYPE varchar(100);
SELECT * FROM ir_rollback(:m2);
\echo :SQLSTATE
ALTER TABLE prices ALTER COLUMN name TYPE text;
CREATE TABLE prices2 (sku text PRIMARY KEY, price numeric);
INSERT INTO prices2 SELECT 'Q-' || g, g FROM generate_series(1, 30) g;
SELECT ir_stage('prices2', 'q.csv', E'sku,price\nQ-1,1.5\n') AS q \gset
SELECT * FROM ir_apply(:q);
TRUNCATE prices2;
SELECT * FROM ir_rollback(:q);
\echo :SQLSTATE
SELECT state FROM ir_batches WHERE batch_id = :q;

-- 5. foreign keys: a cascade the rollback would set off is refused; a
--    restricting key fails the rollback cleanly
CREATE TABLE owners (id int PRIMARY KEY, name text);
CREATE TABLE pets (id int PRIMARY KEY, owner_id int REFERENCES owners ON DELETE CASCADE);
CREATE TABLE cars (id int PRIMARY KEY, owner_id int REFERENCES owners);
SELECT ir_stage('owners', 'owners.csv', E'id,name\n1,Ann\n2,Bob\n') AS ow \gset
SELECT * FROM ir_apply(:ow);
INSERT INTO pets VALUES (1, 1);
SELECT * FROM ir_rollback(:ow);
\echo :SQLSTATE
DELETE FROM pets;
INSERT INTO cars VALUES (1, 2);
\set VERBOSITY terse
SELECT * FROM ir_rollback(:ow);
\echo :SQLSTATE
\set VERBOSITY default
SELECT count(*) AS owners_kept FROM owners;
DELETE FROM cars;
SELECT * FROM ir_rollback(:ow);

-- 6. privileges: rollback writes as the caller
CREATE ROLE regress_ir_writer;
CREATE ROLE regress_ir_nodelete;
CREATE TABLE ledger (id int PRIMARY KEY, amount numeric);
INSERT INTO ledger SELECT g, g FROM generate_series(1, 30) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON ledger TO regress_ir_writer;
GRANT SELECT, INSERT, UPDATE ON ledger TO regress_ir_nodelete;
CREATE ROLE regress_ir_insertonly;
GRANT SELECT, INSERT ON ledger TO regress_ir_insertonly;
-- a role that may not UPDATE cannot apply updates: denied, nothing written
SET ROLE regress_ir_insertonly;
SELECT ir_stage('ledger', 'l0.csv', E'id,amount\n2,200\n32,32\n', '{"rules": {"mapping_check": "off"}}') AS l0 \gset
\set VERBOSITY terse
SELECT * FROM ir_apply(:l0);
\echo :SQLSTATE
RESET ROLE;
SELECT id, amount FROM ledger WHERE id IN (2, 32) ORDER BY id;
-- a role that may not DELETE cannot roll back inserts: denied, nothing changed
SET ROLE regress_ir_nodelete;
SELECT ir_stage('ledger', 'l1.csv', E'id,amount\n1,100\n31,31\n', '{"rules": {"mapping_check": "off"}}') AS l1 \gset
SELECT * FROM ir_apply(:l1);
SELECT * FROM ir_rollback(:l1);
\echo :SQLSTATE
\set VERBOSITY default
RESET ROLE;
SELECT id, amount FROM ledger WHERE id IN (1, 31) ORDER BY id;
SET ROLE regress_ir_writer;
SELECT * FROM ir_rollback(:l1);
-- a role that may only read cannot write the change log or the catalog
SELECT count(*) FROM import_rollback.changes_:l1;
RESET ROLE;
DROP OWNED BY regress_ir_writer, regress_ir_nodelete, regress_ir_insertonly;
DROP ROLE regress_ir_writer, regress_ir_nodelete, regress_ir_insertonly;

-- with nothing left to roll back, a table can be untracked; the next
-- apply tracks it again
SELECT ir_untrack('ledger');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ledger'::regclass;
SELECT ir_stage('ledger', 'l2.csv', E'id,amount\n1,1000\n', '{"rules": {"mapping_check": "off"}}') AS l2 \gset
SELECT inserted, updated FROM ir_apply(:l2);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'ledger'::regclass ORDER BY 1;

-- 7. NULL and wrong arguments
SELECT * FROM ir_rollback(NULL);
SELECT * FROM ir_rollback(:m1, NULL);
SELECT * FROM ir_rollback_preview(NULL);
SELECT * FROM ir_changes(NULL);
SELECT * FROM ir_drill(NULL);
SELECT ir_untrack(NULL);
SELECT * FROM ir_rollback(999999);
\echo :SQLSTATE
SELECT ir_stage('prices', 'never.csv', E'sku,price\nP-1,1\n') AS nv \gset
SELECT * FROM ir_rollback(:nv);
\echo :SQLSTATE
SELECT * FROM ir_changes(:nv);

-- 8. a partitioned target, one partition with its own column layout: every
--    partition's writes are logged and rolled back
CREATE TABLE regional (region text, id int, amount numeric, note text, PRIMARY KEY (region, id))
  PARTITION BY LIST (region);
CREATE TABLE regional_eu PARTITION OF regional FOR VALUES IN ('eu');
CREATE TABLE regional_us (note text, amount numeric, id int NOT NULL, region text NOT NULL);
ALTER TABLE regional_us DROP COLUMN note;
ALTER TABLE regional_us ADD COLUMN note text;
ALTER TABLE regional ATTACH PARTITION regional_us FOR VALUES IN ('us');
INSERT INTO regional SELECT (ARRAY['eu', 'us'])[1 + g % 2], g, g, 'n' || g FROM generate_series(1, 40) g;
CREATE TABLE regional_before AS SELECT * FROM regional;
SELECT ir_stage('regional', 'regional.csv', E'region,id,amount\neu,2,22.5\nus,3,33.5\nus,100,1\neu,101,2\n',
                '{"rules": {"mapping_check": "off"}}') AS rg \gset
SELECT inserted, updated FROM ir_apply(:rg);
SELECT tgrelid::regclass, tgenabled FROM pg_trigger
 WHERE tgname = 'import_rollback_changelog' AND tgrelid::regclass::text LIKE 'regional%' ORDER BY 1;
SELECT row_no, action, record_key, old_values, new_values FROM ir_changes(:rg);
SELECT deleted, restored, conflicts FROM ir_rollback(:rg);
SELECT count(*) AS differences FROM (SELECT * FROM regional EXCEPT SELECT * FROM regional_before) d;

-- a TRUNCATE of one partition is seen: the rollback refuses
SELECT ir_stage('regional', 'regional-2.csv', E'region,id,amount\neu,4,44\nus,5,55\n',
                '{"rules": {"mapping_check": "off"}}') AS rg2 \gset
SELECT inserted, updated FROM ir_apply(:rg2);
TRUNCATE regional_eu;
SELECT * FROM ir_rollback(:rg2);
\echo :SQLSTATE

-- 9. more schema changes since the apply
-- logged columns are matched by name: a rename refuses; renamed back, the
-- rollback runs
SELECT ir_stage('prices', 'm3.csv', E'sku,price\nP-13,13.13\n') AS m3 \gset
SELECT * FROM ir_apply(:m3);
ALTER TABLE prices RENAME COLUMN price TO unit_price;
SELECT * FROM ir_rollback(:m3);
\echo :SQLSTATE
ALTER TABLE prices RENAME COLUMN unit_price TO price;
SELECT * FROM ir_rollback(:m3);
SELECT price FROM prices WHERE sku = 'P-13';
-- DROP TYPE ... CASCADE drops the target's column (and the log's): refused
-- like a dropped column, and the log still reads
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE moods (id int PRIMARY KEY, mood mood, note text);
INSERT INTO moods SELECT g, 'ok', 'n' || g FROM generate_series(1, 30) g;
SELECT ir_stage('moods', 'moods.csv', E'id,mood,note\n1,happy,changed\n31,sad,new\n',
                '{"rules": {"mapping_check": "off"}}') AS md \gset
SELECT * FROM ir_apply(:md);
DROP TYPE mood CASCADE;
SELECT * FROM ir_rollback(:md);
\echo :SQLSTATE
SELECT row_no, action, record_key, old_values, new_values FROM ir_changes(:md);
SELECT state FROM ir_batches WHERE batch_id = :md;

-- 10. a cascading foreign key is checked as the referencing table's owner,
--     with the key's own equality, as PostgreSQL's foreign-key triggers
--     do: the caller needs no right on that table, and its row security
--     (forced, hiding every row) hides no reference
CREATE ROLE regress_ir_landlord;
CREATE ROLE regress_ir_clerk;
CREATE TABLE houses (code text PRIMARY KEY, street text NOT NULL, city text NOT NULL,
                     UNIQUE (street, city));
INSERT INTO houses SELECT 'H' || g, 'Street ' || g, 'Town' FROM generate_series(1, 30) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON houses TO regress_ir_clerk;
GRANT REFERENCES ON houses TO regress_ir_landlord;
CREATE TABLE rentals (id int PRIMARY KEY, street text, city text, house text,
                      FOREIGN KEY (street, city) REFERENCES houses (street, city) ON UPDATE CASCADE,
                      FOREIGN KEY (house) REFERENCES houses ON DELETE CASCADE);
ALTER TABLE rentals OWNER TO regress_ir_landlord;
ALTER TABLE rentals ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SET ROLE regress_ir_clerk;
SELECT ir_stage('houses', 'h.csv', E'code,street,city\nH1,Main Street 1,Town\nH31,New Street,Town\n',
                '{"rules": {"mapping_check": "off"}}') AS h \gset
SELECT inserted, updated FROM ir_apply(:h);
RESET ROLE;
INSERT INTO rentals VALUES (1, 'Main Street 1', 'Town', NULL);
-- restoring H1's street would cascade to the rental
SET ROLE regress_ir_clerk;
SELECT * FROM ir_rollback(:h);
\echo :SQLSTATE
RESET ROLE;
UPDATE rentals SET street = NULL, city = NULL, house = 'H31';
-- deleting H31 would cascade to the rental
SET ROLE regress_ir_clerk;
SELECT * FROM ir_rollback(:h);
\echo :SQLSTATE
RESET ROLE;
DELETE FROM rentals;
INSERT INTO rentals VALUES (2, 'Street 2', 'Town', 'H2');
-- the check's SQL comes from the catalogs alone: a function ahead of
-- pg_catalog in the caller's search_path, shadowing format(), does not
-- shape what runs as the landlord
CREATE SCHEMA regress_ir_shadow;
CREATE FUNCTION regress_ir_shadow.format(text, bigint, name, name, name) RETURNS text
  LANGUAGE sql AS $$SELECT 'k.c1 OPERATOR(pg_catalog.=) k.c1'$$;
GRANT USAGE ON SCHEMA regress_ir_shadow TO regress_ir_clerk;
SET ROLE regress_ir_clerk;
SET search_path = regress_ir_shadow, pg_catalog, public;
SELECT format('%s', 1::bigint, 'a'::name, 'b'::name, 'c'::name) AS shadowed;
SELECT deleted, restored, conflicts FROM ir_rollback(:h);
RESET search_path;
RESET ROLE;
SELECT code, street FROM houses WHERE code IN ('H1', 'H31') ORDER BY code;
DROP SCHEMA regress_ir_shadow CASCADE;
DROP TABLE rentals;
DROP OWNED BY regress_ir_landlord, regress_ir_clerk;
DROP ROLE regress_ir_landlord, regress_ir_clerk;
