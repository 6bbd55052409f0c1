--
-- Client path for large files: ir_stage_begin, COPY ... FROM STDIN into the
-- batch's staging table, ir_stage_finish.
--
-- batch ids in this file start at 6000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 6000) AS ids_from \gset
SELECT ir_stage_begin('customers', 'big.csv', ARRAY['id', 'name', 'email'],
       '{"sha256": "6377205d64a7d40f7d02bb19aef6dbb26a07771810ed15914a6c981e8c2b21f8", "bytes": 70}') AS b \gset
SELECT state, rows_total, source_bytes, source_sha256, load_method FROM ir_batches WHERE batch_id = :b;
SELECT regexp_replace(ir_stage_copy_command(:b), 'stage_\d+', 'stage_N') AS copy_command;
-- The client runs that statement with the file as STDIN (psql: psql -c
-- "<statement>" < file; drivers: their COPY API).  Here the same statement
-- reads the fixture server-side instead, so the test does not depend on
-- how a given psql sends inline COPY data to a given server.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'
SELECT replace(ir_stage_copy_command(:b), 'FROM STDIN', 'FROM ' || quote_literal(:'fixtures' || 'client_short_row.csv')) AS copy_short,
       replace(ir_stage_copy_command(:b), 'FROM STDIN', 'FROM ' || quote_literal(:'fixtures' || 'client_upload.csv')) AS copy_upload \gset

-- the loader's first attempt has a row with the wrong number of fields:
-- COPY rejects the whole attempt and the batch keeps waiting
:copy_short ;
SELECT state, rows_total FROM ir_batches WHERE batch_id = :b;

-- the corrected file goes through; rows are numbered 1..N in file order
:copy_upload ;
SELECT ir_stage_finish(:b) AS rows;
SELECT state, rows_total, rows_rejected FROM ir_batches WHERE batch_id = :b;
SELECT row_no, status, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2, quote_nullable(c3) AS c3
  FROM import_rollback.stage_:b ORDER BY row_no;
SELECT from_state, to_state FROM ir_batch_events WHERE batch_id = :b ORDER BY event_id;

-- once staged, the staging table is closed to the loader and the client
-- steps refuse to run again
SELECT ir_stage_copy_command(:b);
\echo :SQLSTATE
SELECT ir_stage_finish(:b);
\echo :SQLSTATE

-- the client path applies to client batches only
SELECT ir_stage('customers', 'small.csv', E'id\n1\n') AS small \gset
SELECT ir_stage_finish(:small);
\echo :SQLSTATE

-- dialect options are carried into the COPY statement
SELECT ir_stage_begin('customers', 'semi.csv', ARRAY['id', 'name'],
       '{"delimiter": ";", "null": "NULL", "header": false, "encoding": "LATIN1"}') AS b2 \gset
SELECT regexp_replace(ir_stage_copy_command(:b2), 'stage_\d+', 'stage_N') AS copy_command;

-- an empty load is staged with no rows; a cancelled client batch is
-- closed to the loader too
SELECT ir_stage_begin('customers', 'none.csv', ARRAY['id']) AS b3 \gset
SELECT ir_stage_finish(:b3) AS rows;
SELECT ir_stage_begin('customers', 'abandoned.csv', ARRAY['id']) AS b4 \gset
SELECT ir_cancel(:b4, 'upload abandoned');
SELECT state FROM ir_batches WHERE batch_id IN (:b3, :b4) ORDER BY batch_id;

-- a COPY that failed (or never ran) does not pass for an empty file: with
-- the size declared, finishing with no rows fails the batch with a WARNING
-- (the batch and its events are kept; the grant is taken back as for any
-- finished upload, see privileges)
SELECT ir_stage_begin('customers', 'lost.csv', ARRAY['id', 'name', 'email'], '{"bytes": 70}') AS b6 \gset
SELECT replace(:'copy_short', 'stage_' || :b, 'stage_' || :b6) AS copy_short6 \gset
:copy_short6 ;
SELECT ir_stage_finish(:b6) AS rows;
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b6;
SELECT from_state, to_state, detail FROM ir_batch_events WHERE batch_id = :b6 ORDER BY event_id;
SELECT * FROM ir_validate(:b6);
\echo :SQLSTATE
-- rows that contradict a declared expect_rows fail it too; matching ones stage
SELECT ir_stage_begin('customers', 'counted.csv', ARRAY['id', 'name', 'email'], '{"expect_rows": 5}') AS b7 \gset
SELECT replace(:'copy_upload', 'stage_' || :b, 'stage_' || :b7) AS copy_upload7 \gset
:copy_upload7 ;
SELECT ir_stage_finish(:b7) AS rows;
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b7;
SELECT count(*) AS rows_in_file FROM import_rollback.stage_:b7;
SELECT ir_stage_begin('customers', 'counted.csv', ARRAY['id', 'name', 'email'],
       format('{"expect_rows": %s, "bytes": 70}', (SELECT count(*) FROM import_rollback.stage_:b7))::jsonb) AS b8 \gset
SELECT replace(:'copy_upload', 'stage_' || :b, 'stage_' || :b8) AS copy_upload8 \gset
:copy_upload8 ;
SELECT ir_stage_finish(:b8) AS rows;
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b8;
SELECT ir_cancel(:b8, 'test');

-- bad column lists
SELECT ir_stage_begin('customers', 'x.csv', '{}');
\echo :SQLSTATE
SELECT ir_stage_begin('customers', 'x.csv', '{{a},{b}}');
\echo :SQLSTATE
-- odd header names are data here too
SELECT ir_stage_begin('customers', 'odd.csv', ARRAY['id', NULL, 'id', 'a"; DROP TABLE customers; --']) AS b5 \gset
SELECT ordinal, header, source_key FROM import_rollback.batch_column WHERE batch_id = :b5 ORDER BY 1;
SELECT ir_cancel(:b5, 'test');
