--
-- ir_stage_file: server-side files, with encodings, BOM and CRLF; invalid
-- bytes; paths that are not files.
--
-- batch ids in this file start at 5000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 5000) AS ids_from \gset
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'

-- UTF-8 with a BOM and CRLF line ends; a short row is kept as rejected
\set f :fixtures 'bom_crlf.csv'
SELECT ir_stage_file('customers', :'f') AS b \gset
SELECT regexp_replace(source_name, '^.*/', '') AS file, state, rows_total, rows_rejected,
       load_method, source_bytes = (pg_stat_file(:'f')).size AS size_ok,
       source_sha256 = encode(sha256(pg_read_binary_file(:'f')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
SELECT ordinal, header FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;
SELECT row_no, status, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2, quote_nullable(c3) AS c3
  FROM import_rollback.stage_:b ORDER BY 1;

-- LATIN1 file, converted by COPY to the database encoding
\set f :fixtures 'latin1_crlf.csv'
SELECT ir_stage_file('customers', :'f', '{"encoding": "LATIN1"}') AS b \gset
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;

-- an invalid byte sequence: the batch fails naming the record, earlier
-- rows are kept, and the SHA-256 covers the whole file
\set f :fixtures 'bad_utf8.csv'
SET client_min_messages = error;  -- the WARNING names the absolute path
SELECT ir_stage_file('customers', :'f', '{"encoding": "UTF8"}') AS b \gset
RESET client_min_messages;
SELECT state, rows_total, regexp_replace(last_error, 'stage_\d+', 'stage_N') AS last_error,
       source_sha256 = encode(sha256(pg_read_binary_file(:'f')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;

-- paths that cannot be staged create no batch
SELECT count(*) AS batches_before FROM ir_batches \gset
\set VERBOSITY sqlstate
SELECT ir_stage_file('customers', :'fixtures' || 'no-such-file.csv');
\echo :SQLSTATE
SELECT ir_stage_file('customers', :'fixtures');
\echo :SQLSTATE
\set VERBOSITY default
SELECT count(*) = :batches_before AS no_batch_created FROM ir_batches;
