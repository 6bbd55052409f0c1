--
-- NULL for any argument of any function is an error, never a crash or a
-- silent NULL.
--
-- batch ids in this file start at 8000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 8000) AS ids_from \gset
SELECT ir_stage(NULL, 'x.csv', E'id\n1\n');
SELECT ir_stage('customers', NULL, E'id\n1\n');
SELECT ir_stage('customers', 'x.csv', NULL);
SELECT ir_stage('customers', 'x.csv', E'id\n1\n', NULL);
SELECT ir_stage_file(NULL, '/tmp/x.csv');
SELECT ir_stage_file('customers', NULL);
SELECT ir_stage_file('customers', '/tmp/x.csv', NULL);
SELECT ir_stage_begin(NULL, 'x.csv', ARRAY['id']);
SELECT ir_stage_begin('customers', NULL, ARRAY['id']);
SELECT ir_stage_begin('customers', 'x.csv', NULL);
SELECT ir_stage_begin('customers', 'x.csv', ARRAY['id'], NULL);
SELECT ir_stage_copy_command(NULL);
SELECT ir_stage_finish(NULL);
SELECT ir_cancel(NULL, 'reason');
SELECT ir_cancel(1, NULL);
SELECT * FROM ir_rejects(NULL);
\echo :SQLSTATE
-- JSON nulls inside options are as good as absent
SELECT ir_stage('customers', 'nulls.csv', E'id\n1\n', '{"delimiter": null, "mapping": null}') IS NOT NULL AS staged;
SELECT 1 AS server_alive;
