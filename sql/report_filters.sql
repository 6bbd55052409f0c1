--
-- Filtered reports: ir_changes(batch, record_key) finds one record's
-- writes through the change log's index on the key; ir_rollback_preview
-- (batch, status) keeps the fields with one status.  Both agree with the
-- unfiltered reports.
--
-- batch ids in this file start at 30000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 30000) AS ids_from \gset
CREATE TABLE rf_parts (maker text, code int, name text, price numeric, PRIMARY KEY (maker, code));
INSERT INTO rf_parts SELECT 'acme', g, 'part ' || g, g FROM generate_series(1, 50) g;
SELECT ir_stage('rf_parts', 'parts.csv', E'maker,code,name,price\nacme,1,bolt,1.5\nacme,2,nut,2.5\nacme,51,washer,0.1\nzeta,1,gear,9\n',
                '{"rules": {"mapping_check": "off"}}') AS b \gset
SELECT inserted, updated FROM ir_apply(:b);
-- a later write outside any batch makes one field a conflict
UPDATE rf_parts SET price = 3 WHERE maker = 'acme' AND code = 2;

-- the log is indexed by the key (coalesce of new and old values)
SELECT regexp_replace(indexdef, '_\d+', '_N', 'g') AS log_index FROM pg_indexes
 WHERE schemaname = 'import_rollback' AND tablename = 'changes_' || :b;

-- one record's writes, by its key as ir_changes shows it, or typed
SELECT action, record_key, old_values, new_values FROM ir_changes(:b, '{"maker": "acme", "code": "2"}');
SELECT action, record_key FROM ir_changes(:b, '{"code": 51, "maker": "acme"}');
SELECT count(*) AS no_such_record FROM ir_changes(:b, '{"maker": "acme", "code": 999}');
-- the same rows as filtering the whole report
SELECT (SELECT array_agg(c ORDER BY change_id) FROM ir_changes(:b, '{"maker": "zeta", "code": 1}') c)::text
     = (SELECT array_agg(c ORDER BY change_id) FROM ir_changes(:b) c
         WHERE record_key = '{"maker": "zeta", "code": "1"}')::text AS same_as_filtered;
-- found through the index (a plan a large log gets; forced here on a small
-- one), not by reading the log: the statistics of one transaction show it
SELECT pg_stat_force_next_flush();
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM ir_changes(:b, '{"maker": "acme", "code": 1}');
SELECT seq_scan, idx_scan FROM pg_stat_xact_all_tables WHERE relid = ('import_rollback.changes_' || :b)::regclass;
COMMIT;
-- after the rollback, the record's undo is found too
SELECT deleted, restored, conflicts FROM ir_rollback(:b, '{"on_conflict": "skip"}');
SELECT action, old_values, new_values FROM ir_changes(:b, '{"maker": "acme", "code": 51}') ORDER BY change_id;

-- bad record keys
SELECT * FROM ir_changes(:b, '{"maker": "acme"}');
\echo :SQLSTATE
SELECT * FROM ir_changes(:b, '{"maker": "acme", "code": 1, "name": "bolt"}');
\echo :SQLSTATE
SELECT * FROM ir_changes(:b, '["acme", 1]');
\echo :SQLSTATE
SELECT * FROM ir_changes(:b, '{"maker": "acme", "code": null}');
\echo :SQLSTATE
SELECT * FROM ir_changes(:b, '{"maker": "acme", "code": "one"}');
\echo :SQLSTATE
SELECT * FROM ir_changes(:b, NULL);
\echo :SQLSTATE

-- the preview by status
SELECT ir_stage('rf_parts', 'parts2.csv', E'maker,code,name,price\nacme,52,clip,0.2\nacme,4,pin,4.5\nacme,3,screw,3.5\n',
                '{"rules": {"mapping_check": "off"}}') AS b2 \gset
SELECT inserted, updated FROM ir_apply(:b2);
UPDATE rf_parts SET price = 30 WHERE maker = 'acme' AND code = 3;
DELETE FROM rf_parts WHERE maker = 'acme' AND code = 52;
SELECT status, count(*) FROM ir_rollback_preview(:b2) GROUP BY status ORDER BY status;
SELECT record_key, column_name, batch_value, current_value FROM ir_rollback_preview(:b2, 'conflict');
SELECT record_key, column_name FROM ir_rollback_preview(:b2, 'gone') ORDER BY column_name;
SELECT (SELECT array_agg(p) FROM ir_rollback_preview(:b2, 'restorable') p)::text
     = (SELECT array_agg(p) FROM ir_rollback_preview(:b2) p WHERE status = 'restorable')::text
       AS same_as_filtered;
-- rows come in the log's order, field by field; a log rewritten in another
-- physical order (CLUSTER by its key index) gives the same rows in the
-- same order
CREATE TEMP TABLE preview_before AS
  SELECT row_number() OVER () AS n, p.* FROM ir_rollback_preview(:b2) p;
SELECT n, record_key, column_name, status FROM preview_before ORDER BY n;
SELECT c.relname AS log_index FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = ('import_rollback.changes_' || :b2)::regclass \gset
CLUSTER import_rollback.changes_:b2 USING :log_index;
SELECT array_agg(change_id ORDER BY ctid) AS physical_order FROM import_rollback.changes_:b2;
SELECT (SELECT array_agg(p::text) FROM ir_rollback_preview(:b2) p)
     = (SELECT array_agg((record_key, action, status, column_name, batch_value, current_value,
                          changed_by_batch)::text ORDER BY n) FROM preview_before) AS same_order;
SELECT * FROM ir_rollback_preview(:b2, 'conflicts');
\echo :SQLSTATE
SELECT * FROM ir_rollback_preview(:b2, NULL);
\echo :SQLSTATE
SELECT deleted, restored, conflicts FROM ir_rollback(:b2, '{"on_conflict": "force"}');
DROP TABLE rf_parts;
