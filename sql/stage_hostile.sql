--
-- Hostile and odd input: headers and values are data, never SQL; odd,
-- duplicated, empty and over-long headers; wrong field counts.
--
-- batch ids in this file start at 3000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 3000) AS ids_from \gset

-- headers that try to be SQL stay data; the target table survives
SELECT ir_stage('customers', 'evil.csv',
       E'id,"""; DROP TABLE customers; --",name) VALUES (1); DROP TABLE customers; --,c1\n'
       || E'1,''); DROP TABLE customers; --,$$x$$,"\\"\n') AS b \gset
SELECT ordinal, header, source_key FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;
SELECT row_no, c1, c2, c3, c4 FROM import_rollback.stage_:b;
SELECT source FROM ir_rejects(:b);
SELECT to_regclass('customers') IS NOT NULL AS customers_still_there;

-- a header longer than 63 bytes is kept whole (columns are positional)
SELECT ir_stage('customers', 'long.csv',
       repeat('x', 70) || ',' || repeat('x', 63) || 'y' || E'\n1,2\n') AS b \gset
SELECT ordinal, length(header) AS header_length, source_key = header AS key_is_header
  FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;

-- empty and repeated headers are renamed column<N>, with one warning
SELECT ir_stage('customers', 'dups.csv', E'id,email,,email,Email,column3\n1,a,b,c,d,e\n') AS b \gset
SELECT ordinal, header, source_key FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;

-- rows with too few or too many fields, and an empty line, are kept as
-- rejected with the reason; surplus fields are kept in "extra"
SELECT ir_stage('customers', 'counts.csv',
       E'id,name,email\n1,a,a@x\n2,b\n3,c,c@x,surplus,"more, still"\n\n5,e,e@x\n') AS b \gset
SELECT state, rows_total, rows_rejected FROM ir_batches WHERE batch_id = :b;
SELECT row_no, status, errors, extra, c1, c2, c3 FROM import_rollback.stage_:b ORDER BY 1;
SELECT * FROM ir_rejects(:b);

-- a single-column file: an empty line is a NULL value, not a bad row
SELECT ir_stage('customers', 'one.csv', E'id\n1\n\n""\n') AS b \gset
SELECT row_no, quote_nullable(c1), status FROM import_rollback.stage_:b ORDER BY 1;

-- a file with only line breaks has one empty header column
SELECT ir_stage('customers', 'blank.csv', E'\n\n') AS b \gset
SELECT state, rows_total, rows_rejected FROM ir_batches WHERE batch_id = :b;
SELECT ordinal, header, source_key FROM import_rollback.batch_column WHERE batch_id = :b;

-- control characters and a very long value round-trip exactly
SELECT ir_stage('customers', 'ctrl.csv',
       E'id,name\n1,"tab\there\u0001bell"\n2,' || repeat('z', 100000) || E'\n') AS b \gset
SELECT row_no, c2 = E'tab\there\u0001bell' AS ctrl_ok, length(c2) FROM import_rollback.stage_:b ORDER BY 1;

-- more columns than a staging table can hold: a failed batch, not a crash
SELECT ir_stage('customers', 'wide.csv',
       (SELECT string_agg('h' || g, ',') FROM generate_series(1, 1597) g) || E'\n') AS b \gset
SELECT state, last_error FROM ir_batches WHERE batch_id = :b;
SELECT ir_stage('customers', 'widest-ok.csv',
       (SELECT string_agg('h' || g, ',') FROM generate_series(1, 1596) g) || E'\n'
       || (SELECT string_agg(g::text, ',') FROM generate_series(1, 1596) g) || E'\n') AS b \gset
SELECT state, rows_total FROM ir_batches WHERE batch_id = :b;
