--
-- Runs: several batches applied and rolled back as one unit.  Members
-- staged children first are applied parents first; a cycle between
-- member targets; a member applied or rolled back alone (refused);
-- guards after the last write (a tripped one fails the run and every
-- member); the run's own checks; lookups into a table an earlier member
-- writes; rollback in reverse; cancel; the views; bad calls.
--
-- batch ids in this file start at 35000, run ids at 100, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 35000) AS ids_from \gset
SELECT setval('import_rollback.run_id_seq', 100) AS runs_from \gset
CREATE ROLE regress_ir_runner;
CREATE TABLE rn_customer (id serial PRIMARY KEY, external_id text UNIQUE NOT NULL, name text);
CREATE TABLE rn_opp (id int PRIMARY KEY, customer_id int REFERENCES rn_customer, title text);
CREATE TABLE rn_contact (id int PRIMARY KEY, name text);
CREATE TABLE rn_opp_contact (opp_id int REFERENCES rn_opp, contact_id int REFERENCES rn_contact,
                             PRIMARY KEY (opp_id, contact_id));
GRANT SELECT, INSERT, UPDATE ON rn_customer, rn_opp, rn_contact, rn_opp_contact TO regress_ir_runner;
GRANT USAGE ON SEQUENCE rn_customer_id_seq TO regress_ir_runner;
SET client_min_messages = warning;

SELECT ir_run_create('CRM cutover') AS run \gset
SELECT name, state, batches FROM ir_runs WHERE run_id = :run;

-- staged children first: the junction, then the opportunities (whose
-- customer is looked up by external id, among customers the same run
-- creates), then contacts and customers
SELECT ir_stage('rn_opp_contact', 'links.csv', $$opp_id,contact_id
1,10
2,20
$$, format('{"run": %s, "rules": {"reference": {"contact_id": "public.rn_contact.id"}}}', :run)::jsonb) AS links \gset
SELECT ir_stage('rn_opp', 'opps.csv', $$id,customer,title
1,C-1,big deal
2,C-2,small deal
3,C-9,no such customer
$$, format($${"run": %s, "rules": {"max_reject_ratio": 0.5},
  "mapping": {"id": "id", "title": "title",
              "customer": {"column": "customer_id",
                           "lookup": {"table": "public.rn_customer", "match": "external_id", "return": "id"}}}}$$,
  :run)::jsonb) AS opps \gset
SELECT ir_stage('rn_contact', 'contacts.csv', $$id,name
10,ann
20,bob
$$, format('{"run": %s}', :run)::jsonb) AS contacts \gset
SELECT ir_stage('rn_customer', 'customers.csv', $$external_id,name
C-1,Acme
C-2,Globex
$$, format('{"run": %s, "key": ["external_id"]}', :run)::jsonb) AS customers \gset
SELECT batch_id - :ids_from AS batch, target, state, run_id = :run AS in_run
  FROM ir_batches WHERE run_id = :run ORDER BY batch_id;

-- validated before the run applies, a member sees the rows its run's
-- earlier members will write: the opportunities' lookup finds C-1 and C-2
-- among the customers staged (their ids are known only once written: NULL
-- until then), C-9 nowhere; the links' foreign keys and reference rule
-- find the opportunities and contacts staged
SELECT state, rows_valid, rows_rejected FROM ir_validate(:opps);
SELECT row_no, errors FROM ir_rejects(:opps);
SELECT row_no, action, mapped->>'customer_id' AS customer_id FROM ir_sample(:opps) ORDER BY row_no;
SELECT state, rows_valid, rows_rejected FROM ir_validate(:links);

-- a member is applied (and rolled back) only through its run
\set VERBOSITY default
SELECT * FROM ir_apply(:opps);
\set VERBOSITY terse
-- its drill rehearses the whole run, and leaves no trace
SELECT batch_id - :ids_from AS batch, inserted, deleted, round_trip_exact FROM ir_drill(:opps);
SELECT batch_id - :ids_from AS batch, state FROM ir_batches WHERE run_id = :run ORDER BY batch_id;
SELECT count(*) AS customers FROM rn_customer;

-- parents first: customers and contacts, then opportunities, then links;
-- the staged members are validated in that order, and the opportunities'
-- lookup, at apply, reads the ids of the customers the run just wrote
SELECT batch_id - :ids_from AS batch, target, inserted, updated, unchanged, rejected
  FROM ir_run_apply(:run);
SELECT o.id, c.external_id FROM rn_opp o JOIN rn_customer c ON c.id = o.customer_id ORDER BY o.id;
SELECT state, batches, applied_at IS NOT NULL AS applied FROM ir_runs WHERE run_id = :run;
SELECT batch_id - :ids_from AS batch, state FROM ir_batches WHERE run_id = :run ORDER BY batch_id;
SELECT from_state, to_state FROM ir_run_events WHERE run_id = :run ORDER BY event_id;

-- an applied run takes no more batches and is applied once
SELECT ir_stage('rn_contact', 'late.csv', $$id,name
30,cy
$$, format('{"run": %s}', :run)::jsonb);
SELECT * FROM ir_run_apply(:run);
\set VERBOSITY default
SELECT * FROM ir_rollback(:links);
\set VERBOSITY terse

-- rolled back in reverse: links, opportunities, then contacts and customers
SELECT batch_id - :ids_from AS batch, target, deleted, restored, conflicts
  FROM ir_run_rollback(:run);
SELECT (SELECT count(*) FROM rn_customer) AS customers, (SELECT count(*) FROM rn_opp) AS opps,
       (SELECT count(*) FROM rn_contact) AS contacts, (SELECT count(*) FROM rn_opp_contact) AS links;
SELECT state, rolled_back_at IS NOT NULL AS rolled_back FROM ir_runs WHERE run_id = :run;
SELECT * FROM ir_run_rollback(:run);

-- guards after the last write: the opportunities' orphans guard sees the
-- links the run writes after them; one opportunity has none (50% > 10%):
-- everything is undone, the run and every member fail
SELECT ir_run_create('cutover, second try', $${"guards": {"check": [
  {"name": "every link has its opportunity",
   "sql": "SELECT NOT EXISTS (SELECT 1 FROM public.rn_opp_contact l LEFT JOIN public.rn_opp o ON o.id = l.opp_id WHERE o.id IS NULL)"}]}}$$) AS run \gset
SELECT ir_stage('rn_contact', 'contacts.csv', $$id,name
10,ann
$$, format('{"run": %s}', :run)::jsonb) AS contacts \gset
SELECT ir_stage('rn_opp_contact', 'links.csv', $$opp_id,contact_id
3,10
$$, format('{"run": %s}', :run)::jsonb) AS links \gset
SELECT ir_stage('rn_opp', 'opps.csv', $$id,title
3,linked
4,orphan
$$, format($${"run": %s, "guards": {"orphans": [{"child": "public.rn_opp_contact.opp_id", "max_ratio": 0.1}]}}$$,
           :run)::jsonb) AS opps \gset
SELECT batch_id - :ids_from AS batch, target, inserted, updated, unchanged, rejected
  FROM ir_run_apply(:run);
SELECT state, last_error FROM ir_runs WHERE run_id = :run;
SELECT batch_id - :ids_from AS batch, state, last_error FROM ir_batches WHERE run_id = :run ORDER BY batch_id;
SELECT count(*) AS opps FROM rn_opp;
-- on_guard "error" raises instead, and leaves everything as it was
SELECT state FROM ir_validate(:contacts);
SELECT state FROM ir_validate(:links);
SELECT state FROM ir_validate(:opps);
\set VERBOSITY default
SELECT * FROM ir_run_apply(:run, '{"on_guard": "error"}');
\set VERBOSITY terse
SELECT batch_id - :ids_from AS batch, state FROM ir_batches WHERE run_id = :run ORDER BY batch_id;
-- corrected (the guard's limit), the run applies
SELECT state FROM ir_validate(:opps, $${"guards": {"orphans": [{"child": "public.rn_opp_contact.opp_id", "max_ratio": 0.5}]}}$$);
SELECT batch_id - :ids_from AS batch, target, inserted FROM ir_run_apply(:run);
SELECT state FROM ir_runs WHERE run_id = :run;
SELECT * FROM ir_run_rollback(:run) ORDER BY batch_id;

-- the run's own check: a failed one fails the run
SELECT ir_run_create('checked', $${"guards": {"check": [
  {"name": "at most one contact", "sql": "SELECT count(*) <= 1 FROM public.rn_contact"}]}}$$) AS run \gset
SELECT ir_stage('rn_contact', 'two.csv', $$id,name
10,ann
20,bob
$$, format('{"run": %s}', :run)::jsonb) AS two \gset
SELECT batch_id - :ids_from AS batch, inserted FROM ir_run_apply(:run);
SELECT state, last_error FROM ir_runs WHERE run_id = :run;
-- cancelled: the run and its members that were not applied
SELECT ir_run_cancel(:run, 'wrong contacts file');
SELECT state, last_error FROM ir_runs WHERE run_id = :run;
SELECT state FROM ir_batches WHERE batch_id = :two;
SELECT * FROM ir_run_apply(:run);

-- a cycle between member targets has no parents-first order
CREATE TABLE rn_a (id int PRIMARY KEY, b int);
CREATE TABLE rn_b (id int PRIMARY KEY, a int REFERENCES rn_a);
ALTER TABLE rn_a ADD FOREIGN KEY (b) REFERENCES rn_b;
SELECT ir_run_create('cycle') AS run \gset
SELECT ir_stage('rn_a', 'a.csv', E'id\n1\n', format('{"run": %s}', :run)::jsonb) AS a \gset
SELECT ir_stage('rn_b', 'b.csv', E'id\n1\n', format('{"run": %s}', :run)::jsonb) AS b \gset
\set VERBOSITY default
SELECT * FROM ir_run_apply(:run);
\set VERBOSITY terse
\echo :SQLSTATE
SELECT ir_run_cancel(:run, 'cycle');

-- bad calls
SELECT ir_run_create('');
SELECT ir_run_create('x', '{"guards": {"blank": {"name": 0.1}}}');
SELECT ir_run_create('x', '{"guards": {"check": [{"name": "n"}]}}');
SELECT ir_run_create('x', '{"colour": "blue"}');
SELECT ir_run_create(NULL);
SELECT * FROM ir_run_apply(NULL);
SELECT * FROM ir_run_apply(999999);
\echo :SQLSTATE
SELECT * FROM ir_run_apply(:run, '{"guards": {}}');
SELECT * FROM ir_run_rollback(:run, '{"cascade": true}');
SELECT ir_run_cancel(:run, ' ');
SELECT ir_stage('rn_contact', 'x.csv', E'id\n1\n', '{"run": 999999}');
SELECT ir_stage('rn_contact', 'x.csv', E'id\n1\n', '{"run": "one"}');
SELECT ir_run_create('empty') AS run \gset
SELECT * FROM ir_run_apply(:run);
-- a run belongs to its creator
SET ROLE regress_ir_runner;
SELECT ir_stage('rn_contact', 'x.csv', E'id\n1\n', format('{"run": %s}', :run)::jsonb);
\echo :SQLSTATE
SELECT * FROM ir_run_apply(:run);
SELECT count(*) AS runs_visible FROM ir_runs;
RESET ROLE;

RESET client_min_messages;
DROP TABLE rn_opp_contact, rn_opp, rn_contact, rn_customer;
ALTER TABLE rn_a DROP CONSTRAINT rn_a_b_fkey;
DROP TABLE rn_b, rn_a;
DROP ROLE regress_ir_runner;
