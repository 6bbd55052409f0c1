--
-- Re-validation starts over from the raw rows, whatever the batch's state
-- before (validated or failed), and the counts always add up:
-- rows_total = rows_valid + rows_rejected, the rejects listed are the rows
-- rejected, and after apply inserted + updated + unchanged = rows_valid.
--
-- batch ids in this file start at 22000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 22000) AS ids_from \gset
\set invariants 'SELECT batch_id - :ids_from AS batch, state, rows_total, rows_valid, rows_rejected, rows_total = rows_valid + rows_rejected AS rows_add_up, rows_rejected = (SELECT count(*) FROM ir_rejects(batch_id)) AS rejects_listed, inserted + updated + unchanged = rows_valid AS writes_add_up FROM ir_batches WHERE batch_id > :ids_from ORDER BY 1'
CREATE TABLE goods (sku text PRIMARY KEY, price numeric, qty integer);
INSERT INTO goods VALUES ('A', 1, 1), ('B', 2, 2);

-- a failed batch (one N/A price of three, over the default 5%) ...
SELECT ir_stage('goods', 'goods.csv', E'sku,price,qty\nA,1.50,1\nB,N/A,2\nC,3,3\n') AS g \gset
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:g, '{"rules": {"mapping_check": "off"}}');
:invariants;
-- ... validated again with a laxer stop keeps its reject and its counts
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:g, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:g);
:invariants;
-- again, the same: re-validation is repeatable
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:g, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
:invariants;
-- a stricter rule on a validated batch rejects more, and the counts follow
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:g, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off", "allowed": {"sku": ["A", "B"]}}}');
SELECT row_no, errors FROM ir_rejects(:g);
:invariants;
-- and a laxer one takes them back
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:g, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
:invariants;
SELECT * FROM ir_apply(:g);
:invariants;

-- a batch that failed on its mapping (the key is not in the file) is
-- corrected by a mapping, without re-uploading
SELECT ir_stage('goods', 'renamed.csv', E'code,price\nA,9\nD,4\nD,5\n') AS r \gset
SELECT state, rows_total, rows_valid, rows_rejected, stop_reason FROM ir_validate(:r, '{"rules": {"mapping_check": "off"}}');
:invariants;
SELECT state, rows_total, rows_valid, rows_rejected, stop_reason FROM ir_validate(:r, '{"mapping": {"code": "sku", "price": "price"}, "rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:r);
:invariants;
-- a failed expect_rows, then the right count
SELECT state, stop_reason FROM ir_validate(:r, '{"expect_rows": 4, "rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
:invariants;
SELECT state, last_error IS NOT NULL AS has_error FROM ir_batches WHERE batch_id = :r;
SELECT state, stop_reason FROM ir_validate(:r, '{"expect_rows": 3, "rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
-- validated again: the old failure is history (the events), not last_error
SELECT state, last_error FROM ir_batches WHERE batch_id = :r;
SELECT from_state, to_state, detail IS NOT NULL AS has_detail
  FROM ir_batch_events WHERE batch_id = :r ORDER BY event_id DESC LIMIT 2;
SELECT * FROM ir_apply(:r);
:invariants;
SELECT * FROM goods ORDER BY sku;

DROP TABLE goods;
