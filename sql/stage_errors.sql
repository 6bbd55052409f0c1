--
-- Files COPY cannot read to the end, and targets that cannot be imported to.
--
-- batch ids in this file start at 4000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 4000) AS ids_from \gset

-- an unterminated quote: the batch fails naming the record and the line,
-- rows read before it are kept as evidence, and ir_stage returns its id
SELECT ir_stage('customers', 'broken.csv',
       E'id,name\n1,ok\n2,"fine"\n3,"never closed\n4,lost\n') AS b \gset
SELECT state, rows_total, rows_rejected, safe_to_retry, last_error
  FROM ir_batches WHERE batch_id = :b;
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;
SELECT from_state, to_state, detail FROM ir_batch_events WHERE batch_id = :b ORDER BY event_id;
-- the whole file was hashed even though parsing stopped
SELECT source_sha256 = encode(sha256(convert_to(E'id,name\n1,ok\n2,"fine"\n3,"never closed\n4,lost\n', 'UTF8')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
-- a failed batch can be cancelled, and the reason is logged
SELECT ir_cancel(:b, 'broken file');
SELECT state FROM ir_batches WHERE batch_id = :b;

-- broken quoting in the header itself
SELECT ir_stage('customers', 'badheader.csv', E'"id,name\n1,a\n') AS b \gset
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b;

-- an empty file fails: there is no header to stage against
SELECT ir_stage('customers', 'empty.csv', '') AS b \gset
SELECT state, rows_total, source_bytes, last_error FROM ir_batches WHERE batch_id = :b;

-- the server is alive and nothing was half-written to the target
SELECT count(*) AS customers FROM customers;

-- an error inside ir_stage's transaction leaves no batch behind
SELECT count(*) AS batches_before FROM ir_batches \gset
BEGIN;
SELECT ir_stage('customers', 'rolled-back.csv', E'id\n1\n') IS NOT NULL AS staged;
ROLLBACK;
SELECT count(*) = :batches_before AS nothing_left FROM ir_batches;

-- targets: not a table, not permanent, no key, system catalogs
CREATE VIEW customers_view AS SELECT * FROM customers;
SELECT ir_stage('customers_view', 'x.csv', E'id\n1\n');
\echo :SQLSTATE
CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
SELECT ir_stage('scratch', 'x.csv', E'id\n1\n');
\echo :SQLSTATE
CREATE TEMP TABLE temp_customers (id int PRIMARY KEY);
SELECT ir_stage('temp_customers', 'x.csv', E'id\n1\n');
\echo :SQLSTATE
CREATE TABLE no_key (id int, name text);
SELECT ir_stage('no_key', 'x.csv', E'id\n1\n');
\echo :SQLSTATE
SELECT ir_stage('pg_class', 'x.csv', E'oid\n1\n');
\echo :SQLSTATE
SELECT ir_stage('import_rollback.batch', 'x.csv', E'batch_id\n1\n');
\echo :SQLSTATE
-- an unknown target
SELECT ir_stage('no_such_table', 'x.csv', E'id\n1\n');
\echo :SQLSTATE
SELECT ir_stage(4294967295::oid::regclass, 'x.csv', E'id\n1\n');
\echo :SQLSTATE

-- keys: named columns need a matching unique, non-partial index
SELECT ir_stage('no_key', 'x.csv', E'id\n1\n', '{"key": ["id"]}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'id\n1\n', '{"key": ["nope"]}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'id\n1\n', '{"key": ["id", "id"]}');
\echo :SQLSTATE
CREATE UNIQUE INDEX no_key_partial ON no_key (id) WHERE id > 0;
SELECT ir_stage('no_key', 'x.csv', E'id\n1\n', '{"key": ["id"]}');
\echo :SQLSTATE
CREATE UNIQUE INDEX no_key_name ON no_key (name, id);
SELECT ir_stage('no_key', 'keyed.csv', E'id,name\n1,a\n', '{"key": ["id", "name"]}') AS b \gset
SELECT state, key_columns FROM ir_batches WHERE batch_id = :b;
-- a partitioned table with a primary key is a fine target
CREATE TABLE orders (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
SELECT ir_stage('orders', 'orders.csv', E'id,region\n1,eu\n') AS b \gset
SELECT state, key_columns FROM ir_batches WHERE batch_id = :b;

-- unknown batches
SELECT ir_cancel(999999, 'no such batch');
\echo :SQLSTATE
SELECT * FROM ir_rejects(-1);
\echo :SQLSTATE

