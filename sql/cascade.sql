--
-- Cascade rollback, newest first: the plan over three and more batches
-- (transitive, fields not records, other targets untouched), the
-- cascade itself in one transaction, outside writes under on_conflict,
-- a cascade into a run member bringing its whole run; a "skip" rollback
-- followed by "force", and the preview of what a skip left.
--
-- batch ids in this file start at 36000, run ids at 200, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 36000) AS ids_from \gset
SELECT setval('import_rollback.run_id_seq', 200) AS runs_from \gset
CREATE TABLE cs_item (id int PRIMARY KEY, name text, price numeric, stock int);
INSERT INTO cs_item VALUES (1, 'one', 1, 10), (2, 'two', 2, 20), (3, 'three', 3, 30), (4, 'four', 4, 40);
SET client_min_messages = warning;

-- a writes names of 1 and 2; b writes the price of 1 (not a field a
-- wrote); c writes the name of 2 (a's field); d writes the price of 1
-- (b's field, so transitively); e writes item 4 only
SELECT ir_stage('cs_item', 'a.csv', E'id,name\n1,a-one\n2,a-two\n') AS a \gset
SELECT batch_id FROM ir_apply(:a);
SELECT ir_stage('cs_item', 'b.csv', E'id,price\n1,10\n') AS b \gset
SELECT batch_id FROM ir_apply(:b);
SELECT ir_stage('cs_item', 'c.csv', E'id,name\n2,c-two\n') AS c \gset
SELECT batch_id FROM ir_apply(:c);
SELECT ir_stage('cs_item', 'd.csv', E'id,price\n1,11\n') AS d \gset
SELECT batch_id FROM ir_apply(:d);
SELECT ir_stage('cs_item', 'e.csv', E'id,name\n4,e-four\n') AS e \gset
SELECT batch_id FROM ir_apply(:e);

-- a's cascade: c (wrote a's field); not b or d (other fields), not e
SELECT step, batch_id - :ids_from AS batch, source_name, records FROM ir_rollback_plan(:a);
-- b's cascade: d, transitively nothing more
SELECT step, batch_id - :ids_from AS batch, source_name, records FROM ir_rollback_plan(:b);
-- a batch a later one created records of: an insert is every field
SELECT ir_stage('cs_item', 'f.csv', E'id,name\n5,f-five\n') AS f \gset
SELECT batch_id FROM ir_apply(:f);
SELECT ir_stage('cs_item', 'g.csv', E'id,stock\n5,50\n') AS g \gset
SELECT batch_id FROM ir_apply(:g);
SELECT ir_stage('cs_item', 'h.csv', E'id,price\n5,5\n') AS h \gset
SELECT batch_id FROM ir_apply(:h);
SELECT step, batch_id - :ids_from AS batch, source_name, records FROM ir_rollback_plan(:f);

-- the cascade rolls back exactly the plan, newest first, in one go
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts
  FROM ir_rollback(:f, '{"cascade": true}');
SELECT * FROM cs_item WHERE id = 5;
SELECT batch_id - :ids_from AS batch, state FROM ir_batches
 WHERE batch_id IN (:f, :g, :h) ORDER BY batch_id;

-- an outside write in the cascade: abort (the default) changes nothing
UPDATE cs_item SET name = 'outside' WHERE id = 1;
SELECT batch_id - :ids_from AS batch FROM ir_rollback(:a, '{"cascade": true}');
\echo :SQLSTATE
SELECT batch_id - :ids_from AS batch, state FROM ir_batches WHERE batch_id IN (:a, :c) ORDER BY 1;
-- skip: everything else is rolled back, the outside write stays
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts
  FROM ir_rollback(:a, '{"cascade": true, "on_conflict": "skip"}');
SELECT * FROM cs_item WHERE id IN (1, 2) ORDER BY id;

-- a skip rollback is not final: its preview shows what it left, and force
-- restores it (the batch stays rolled_back)
SELECT column_name, status, batch_value, current_value FROM ir_rollback_preview(:a);
SELECT safe_to_retry FROM ir_batches WHERE batch_id = :a;
\set VERBOSITY default
SELECT * FROM ir_rollback(:a);
\set VERBOSITY terse
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts
  FROM ir_rollback(:a, '{"on_conflict": "force"}');
SELECT * FROM cs_item WHERE id IN (1, 2) ORDER BY id;
SELECT state, safe_to_retry FROM ir_batches WHERE batch_id = :a;
SELECT to_state, detail FROM ir_batch_events WHERE batch_id = :a ORDER BY event_id DESC LIMIT 1;
-- nothing is left: the batch is rolled back like any other
SELECT count(*) AS left_over FROM ir_rollback_preview(:a);
SELECT * FROM ir_rollback(:a, '{"on_conflict": "force"}');

-- a cascade into a member of a run rolls back its whole run
CREATE TABLE cs_order (id int PRIMARY KEY, item int REFERENCES cs_item, qty int);
SELECT ir_run_create('orders') AS run \gset
SELECT ir_stage('cs_item', 'run-items.csv', E'id,stock\n3,31\n', format('{"run": %s}', :run)::jsonb) AS ri \gset
SELECT ir_stage('cs_order', 'run-orders.csv', E'id,item,qty\n1,3,1\n', format('{"run": %s}', :run)::jsonb) AS ro \gset
SELECT batch_id - :ids_from AS batch, target FROM ir_run_apply(:run);
SELECT ir_stage('cs_item', 'later.csv', E'id,stock\n3,32\n') AS later \gset
SELECT batch_id FROM ir_apply(:later);
-- the later batch wrote the run's field: its cascade is itself; the run
-- member's cascade is the later batch, then the whole run
SELECT step, batch_id - :ids_from AS batch, source_name FROM ir_rollback_plan(:later);
SET client_min_messages = notice;
SELECT step, batch_id - :ids_from AS batch, source_name FROM ir_rollback_plan(:ri);
SET client_min_messages = warning;
SELECT batch_id - :ids_from AS batch, deleted, restored, conflicts
  FROM ir_rollback(:ri, '{"cascade": true}');
SELECT state FROM ir_runs WHERE run_id = :run;
SELECT count(*) AS orders, (SELECT stock FROM cs_item WHERE id = 3) AS stock FROM cs_order;

-- bad calls
SELECT * FROM ir_rollback_plan(:a);
SELECT * FROM ir_rollback_plan(NULL);
SELECT * FROM ir_rollback(:e, '{"cascade": "yes"}');
SELECT ir_stage('cs_item', 'staged.csv', E'id,name\n9,x\n') AS s \gset
SELECT * FROM ir_rollback_plan(:s);

RESET client_min_messages;
DROP TABLE cs_order, cs_item;
