--
-- ir_stage: raw staging, byte-exact values, row numbers, counts, events.
--
-- batch ids in this file start at 1000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 1000) AS ids_from \gset
CREATE TEMP TABLE files (name text PRIMARY KEY, data text);
INSERT INTO files VALUES ('customers.csv',
E'id,name,email\n000123,  Alice Ng  ,alice@example.com\n2,"Bob, ""the"" builder","bob@example.com"\n3,"multi\nline",\n4,"",\n5,Zoë Łukasz 山田,"zoe@example.com"');
SELECT ir_stage('customers', name, data) AS b FROM files WHERE name = 'customers.csv' \gset

SELECT batch_id = :b AS same_id, target, source_name, state, started_by = current_user AS by_me,
       rows_total, rows_valid, rows_rejected, inserted, updated, unchanged,
       rolled_back_at, safe_to_retry, last_error, source_bytes, load_method, key_columns
  FROM ir_batches WHERE batch_id = :b;

-- size and SHA-256 are those of the bytes given
SELECT source_bytes = octet_length(f.data) AS bytes_ok,
       source_sha256 = encode(sha256(convert_to(f.data, 'UTF8')), 'hex') AS sha_ok
  FROM ir_batches, files f WHERE batch_id = :b AND f.name = 'customers.csv';

-- the file's columns, exactly as in the header
SELECT ordinal, header, source_key FROM import_rollback.batch_column
 WHERE batch_id = :b ORDER BY ordinal;

-- every value byte-exact: leading zeros, spaces, quotes, commas, newlines,
-- non-ASCII, and the empty string ("") apart from the null marker (nothing)
SELECT row_no, status, errors, extra, quote_nullable(c1) AS id,
       quote_nullable(c2) AS name, quote_nullable(c3) AS email
  FROM import_rollback.stage_:b ORDER BY row_no;

-- nothing rejected, and the target is untouched
SELECT count(*) AS rejects FROM ir_rejects(:b);
SELECT count(*) AS customers FROM customers;

-- the event log of the batch
SELECT role_name = current_user AS by_me, from_state, to_state, detail
  FROM ir_batch_events WHERE batch_id = :b ORDER BY event_id;

-- a quoted field spanning lines is one record; row numbers count records
SELECT ir_stage('customers', 'multiline.csv',
                E'id,name\n1,"a\nb\nc"\n2,d\n3,"e\r\nf"\n') AS b \gset
SELECT row_no, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2
  FROM import_rollback.stage_:b ORDER BY row_no;

-- a header-only file is staged with no rows
SELECT ir_stage('customers', 'header-only.csv', E'id,name,email\n') AS b \gset
SELECT state, rows_total, rows_rejected FROM ir_batches WHERE batch_id = :b;
SELECT ordinal, header FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;

-- a file without a final newline loses nothing
SELECT ir_stage('customers', 'no-eol.csv', E'id,name\n1,last') AS b \gset
SELECT row_no, c1, c2 FROM import_rollback.stage_:b;

-- staging never touches the target
SELECT count(*) AS customers FROM customers;
