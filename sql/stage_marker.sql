--
-- A line "\." ends CSV data for COPY's parser before PostgreSQL 18 (18
-- reads it as data): a file that goes on after it fails instead of losing
-- its tail.  Inside quotes it is data everywhere.  stage_marker_1.out is
-- the expected output on 18.
--
-- batch ids in this file start at 4500, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 4500) AS ids_from \gset

SELECT ir_stage('customers', 'marker.csv', E'id\na\n\\.\nb\nc\n') AS mk \gset
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :mk;
SELECT ir_stage('customers', 'quoted-marker.csv', E'id,name\n1,"x\n\\.\ny"\n2,b\n') AS qm \gset
SELECT state, rows_total FROM ir_batches WHERE batch_id = :qm;
SELECT row_no, c2 FROM import_rollback.stage_:qm ORDER BY 1;
