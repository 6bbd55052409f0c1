--
-- The batch life cycle: states, events, cancel, duplicate files, the view.
--
-- batch ids in this file start at 7000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 7000) AS ids_from \gset
CREATE TABLE products (sku text PRIMARY KEY, price numeric);

SELECT ir_stage('products', 'p1.csv', E'sku,price\nA-1,1.99\n') AS b \gset

-- cancel needs a reason
SELECT ir_cancel(:b, '   ');
\echo :SQLSTATE
SELECT ir_cancel(:b, 'supplier sent the wrong price list');
SELECT state, safe_to_retry FROM ir_batches WHERE batch_id = :b;
SELECT from_state, to_state, detail FROM ir_batch_events WHERE batch_id = :b ORDER BY event_id;
-- cancelled is final: the state machine says so
SELECT ir_cancel(:b, 'again');
\echo :SQLSTATE
-- staging rows of a cancelled batch are kept as evidence
SELECT count(*) AS staged_rows FROM import_rollback.stage_:b;

-- A file identical to one applied to the same target, and not rolled back,
-- is reported when staged.
SELECT ir_stage('products', 'prices-monday.csv', E'sku,price\nA-1,2.49\nB-2,10\n') AS applied \gset
SELECT inserted, updated FROM ir_apply(:applied);
-- same bytes under another name: reported, and still staged
SELECT ir_stage('products', 'prices-monday (1).csv', E'sku,price\nA-1,2.49\nB-2,10\n') AS again \gset
SELECT state FROM ir_batches WHERE batch_id = :again;
-- a different file, or the same file for another target, is not reported
SELECT ir_stage('products', 'prices-tuesday.csv', E'sku,price\nA-1,2.59\nB-2,10\n') IS NOT NULL AS staged;
CREATE TABLE products_archive (sku text PRIMARY KEY, price numeric);
SELECT ir_stage('products_archive', 'prices-monday.csv', E'sku,price\nA-1,2.49\nB-2,10\n') IS NOT NULL AS staged;
-- an applied batch cannot be cancelled
SELECT ir_cancel(:applied, 'too late');
\echo :SQLSTATE
-- once rolled back, the file is no longer reported
SELECT deleted, restored FROM ir_rollback(:applied);
SELECT ir_stage('products', 'prices-monday.csv', E'sku,price\nA-1,2.49\nB-2,10\n') IS NOT NULL AS staged;
-- nor a rolled-back one: it has ended
SELECT ir_cancel(:applied, 'ended');

-- the report: one row per batch, newest last
SELECT batch_id, target, source_name, state, rows_total, rows_rejected, safe_to_retry
  FROM ir_batches WHERE target LIKE 'public.products%' ORDER BY batch_id;

-- states are constrained in the catalog too
\set VERBOSITY terse
UPDATE import_rollback.batch SET state = 'done' WHERE batch_id = :b;
\set VERBOSITY default
