--
-- Inheritance and partitions: a batch on a table reads and writes that
-- table's own rows only, never those of its inheritance children, and a
-- rollback touches exactly the records the batch wrote, wherever they
-- are now; counts never go negative.
--
-- batch ids in this file start at 23000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 23000) AS ids_from \gset
CREATE TABLE parent (id int PRIMARY KEY, v text);
CREATE TABLE kid (extra text) INHERITS (parent);
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 2) g;
INSERT INTO kid VALUES (2, 'kid 2', 'x'), (9, 'kid 9', 'x');

-- validation sees the parent's records only: 2 exists, 9 (a child's) does not
SELECT ir_stage('parent', 'p.csv', E'id,v\n2,two\n3,three\n5,five\n9,nine\n') AS b \gset
SELECT state, rows_valid FROM ir_validate(:b, '{"rules": {"mapping_check": "off"}}');
SELECT row_no, action, "current" FROM ir_sample(:b, 4);
SELECT * FROM ir_preview(:b);
SELECT * FROM ir_apply(:b);
SELECT tableoid::regclass AS t, id, v FROM parent ORDER BY id, 1;

-- later, the child gets rows with the keys the batch created
INSERT INTO kid VALUES (5, 'kid 5', 'y'), (3, 'kid 3', 'y');
SELECT record_key, action, status, column_name FROM ir_rollback_preview(:b) WHERE column_name = 'v'
 ORDER BY record_key::text;
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts FROM ir_rollback(:b);
-- the child's rows are untouched, the parent's are as before
SELECT tableoid::regclass AS t, id, v FROM parent ORDER BY id, 1;

-- modes insert and update, and the drill, ignore the child's rows too
SELECT ir_stage('parent', 'ins.csv', E'id,v\n9,nine\n', '{"mode": "insert"}') AS i \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:i, '{"rules": {"mapping_check": "off"}}');
SELECT * FROM ir_drill(:i);
SELECT ir_stage('parent', 'upd.csv', E'id,v\n9,nine\n1,one\n', '{"mode": "update"}') AS u \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:u, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:u);
SELECT * FROM ir_apply(:u);
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts FROM ir_rollback(:u);
SELECT tableoid::regclass AS t, id, v FROM parent ORDER BY id, 1;

-- a partitioned target: records live in its partitions; one the batch
-- created moves to another partition (its key changes) before the
-- rollback: it is gone for the batch, and left where it is
CREATE TABLE sales (region text, id int, amount numeric, PRIMARY KEY (region, id))
    PARTITION BY LIST (region);
CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu');
CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
INSERT INTO sales VALUES ('eu', 1, 10), ('us', 1, 20);
SELECT ir_stage('sales', 's.csv', E'region,id,amount\neu,1,11\nus,1,21\neu,2,12\nus,3,13\n') AS s \gset
SELECT state FROM ir_validate(:s, '{"rules": {"mapping_check": "off"}}');
SELECT * FROM ir_apply(:s);
UPDATE sales SET region = 'us' WHERE region = 'eu' AND id = 2;
UPDATE sales SET amount = 99 WHERE region = 'us' AND id = 1;
SELECT record_key, action, status, column_name, batch_value, current_value
  FROM ir_rollback_preview(:s) WHERE column_name = 'amount' ORDER BY record_key::text;
SELECT * FROM ir_rollback(:s);
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts
  FROM ir_rollback(:s, '{"on_conflict": "skip"}');
SELECT tableoid::regclass AS t, * FROM sales ORDER BY region, id;

DROP TABLE parent CASCADE;
DROP TABLE sales;
