--
-- ir_stage_large_object: a file uploaded as a large object, read through
-- COPY's parser in chunks, with ir_stage's outcomes: malformed rows kept,
-- broken quoting and invalid bytes fail the batch (rows read are kept),
-- SHA-256 of the bytes; the large object is unlinked once staged.
--
-- batch ids in this file start at 6500, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 6500) AS ids_from \gset
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'

-- UTF-8 with a BOM, CRLF line ends, a quoted field over two lines and a
-- short row: the same rows as ir_stage_file of the same file
\set f :fixtures 'bom_crlf.csv'
SELECT lo_from_bytea(150001, pg_read_binary_file(:'f')) AS lo \gset
SELECT ir_stage_large_object('customers', 'bom_crlf.csv', :lo) AS b \gset
SELECT ir_stage_file('customers', :'f') AS bf \gset
SELECT source_name, state, rows_total, rows_rejected, load_method,
       source_bytes = (pg_stat_file(:'f')).size AS size_ok,
       source_sha256 = encode(sha256(pg_read_binary_file(:'f')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
SELECT row_no, status, errors, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2,
       quote_nullable(c3) AS c3
  FROM import_rollback.stage_:b ORDER BY 1;
SELECT (SELECT array_agg(s ORDER BY row_no) FROM import_rollback.stage_:b s)::text
     = (SELECT array_agg(s ORDER BY row_no) FROM import_rollback.stage_:bf s)::text AS same_as_file;
SELECT ordinal, header FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;
-- unlinked once staged
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :lo;

-- a file of many chunks: records cross the reader's chunk boundaries (the
-- parser reads 64 kB at a time); every byte arrives, in order
SELECT 'id,name,email' || E'\n' ||
       string_agg(g || ',"name ' || g || E'\nsecond line",' || repeat('x', g % 97) || '@example.com',
                  E'\n' ORDER BY g) || E'\n' AS big
  FROM generate_series(1, 3000) g \gset
SELECT lo_from_bytea(150002, convert_to(:'big', 'UTF8')) AS lo \gset
SELECT ir_stage_large_object('customers', 'big.csv', :lo) AS b \gset
SELECT ir_stage('customers', 'big.csv', :'big') AS bt \gset
SELECT state, rows_total, rows_rejected, source_bytes = octet_length(:'big') AS size_ok,
       source_sha256 = encode(sha256(convert_to(:'big', 'UTF8')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
SELECT (SELECT md5(string_agg(row_no || '|' || c1 || '|' || c2 || '|' || c3, '/' ORDER BY row_no))
          FROM import_rollback.stage_:b)
     = (SELECT md5(string_agg(row_no || '|' || c1 || '|' || c2 || '|' || c3, '/' ORDER BY row_no))
          FROM import_rollback.stage_:bt) AS same_rows;
SELECT ir_cancel(:bt, 'test');

-- LATIN1, converted by COPY to the database encoding
\set f :fixtures 'latin1_crlf.csv'
SELECT lo_from_bytea(150003, pg_read_binary_file(:'f')) AS lo \gset
SELECT ir_stage_large_object('customers', 'latin1.csv', :lo, '{"encoding": "LATIN1"}') AS b \gset
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;

-- an invalid byte sequence fails the batch naming the record; the rows
-- before it are kept, the SHA-256 covers the whole file, and the large
-- object is kept: the rest of the file is only there
\set f :fixtures 'bad_utf8.csv'
SELECT lo_from_bytea(150004, pg_read_binary_file(:'f')) AS lo \gset
SELECT ir_stage_large_object('customers', 'bad_utf8.csv', :lo, '{"encoding": "UTF8"}') AS b \gset
SELECT state, rows_total, last_error,
       source_sha256 = encode(sha256(pg_read_binary_file(:'f')), 'hex') AS sha_ok
  FROM ir_batches WHERE batch_id = :b;
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :lo;
SELECT lo_unlink(:lo);

-- broken quoting: the same
SELECT lo_from_bytea(150005, convert_to(E'id,name\n1,a\n2,"open\n3,c\n', 'UTF8')) AS lo \gset
SELECT ir_stage_large_object('customers', 'open_quote.csv', :lo) AS b \gset
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :lo;
SELECT lo_unlink(:lo);

-- an empty large object: a failed batch, as an empty file
SELECT lo_create(150100) AS lo \gset
SELECT ir_stage_large_object('customers', 'empty.csv', :lo) AS b \gset
SELECT state, rows_total, last_error FROM ir_batches WHERE batch_id = :b;
SELECT lo_unlink(:lo);

-- "unlink": false leaves the large object in place
SELECT lo_from_bytea(150006, convert_to(E'id,name\n7,kept\n', 'UTF8')) AS lo \gset
SELECT ir_stage_large_object('customers', 'kept.csv', :lo, '{"unlink": false}') AS b \gset
SELECT state, rows_total FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :lo;

-- a role that owns its large object stages and unlinks it without being
-- superuser; another role's large object needs SELECT on it, and owning
-- it to unlink it
CREATE ROLE regress_ir_uploader;
GRANT SELECT, INSERT, UPDATE ON customers TO regress_ir_uploader;
SET ROLE regress_ir_uploader;
SELECT lo_from_bytea(150007, convert_to(E'id,name\n8,own\n', 'UTF8')) AS own \gset
SELECT ir_stage_large_object('customers', 'own.csv', :own) AS b \gset
SELECT state, rows_total, started_by FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :own;
-- :lo belongs to the superuser, and the uploader may not read it
SELECT ir_stage_large_object('customers', 'theirs.csv', :lo, '{"unlink": false}');
\echo :SQLSTATE
RESET ROLE;
GRANT SELECT ON LARGE OBJECT :lo TO regress_ir_uploader;
SET ROLE regress_ir_uploader;
SELECT ir_stage_large_object('customers', 'theirs.csv', :lo);
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', 'theirs.csv', :lo, '{"unlink": false}') AS b \gset
SELECT state, rows_total FROM ir_batches WHERE batch_id = :b;
RESET ROLE;
SELECT count(*) AS lo_left FROM pg_largeobject_metadata WHERE oid = :lo;
SELECT lo_unlink(:lo);
REVOKE ALL ON customers FROM regress_ir_uploader;

-- bad arguments and options
SELECT ir_stage_large_object('customers', 'x.csv', NULL);
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', NULL, 1);
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', 'x.csv', 4294967000);
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', 'x.csv', 1, '{"unlnk": false}');
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', 'x.csv', 1, '{"unlink": "no"}');
\echo :SQLSTATE
SELECT ir_stage_large_object('customers', 'x.csv', 1, '{"bytes": 10}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'id\n1\n', '{"unlink": false}');
\echo :SQLSTATE
-- nothing was created by the refused calls
SELECT count(*) AS refused_batches FROM ir_batches WHERE batch_id > :b;
DROP ROLE regress_ir_uploader;
