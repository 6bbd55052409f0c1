--
-- CSV dialects: header, delimiter, quote, escape, null marker, CRLF, BOM.
--
-- batch ids in this file start at 2000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 2000) AS ids_from \gset
\set VERBOSITY default

-- no header: the first record is data, columns go by column<N>
SELECT ir_stage('customers', 'noheader.csv', E'1,a\n2,b\n', '{"header": false}') AS b \gset
SELECT rows_total FROM ir_batches WHERE batch_id = :b;
SELECT ordinal, header, source_key FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;
SELECT row_no, c1, c2 FROM import_rollback.stage_:b ORDER BY 1;

-- semicolons, single quotes, backslash escape, and 'NULL' as the null marker
SELECT ir_stage('customers', 'europe.csv',
       E'id;name;email\n1;''O\\''Brien; Pat'';NULL\n2;;''NULL''\n',
       '{"delimiter": ";", "quote": "''", "escape": "\\", "null": "NULL"}') AS b \gset
SELECT row_no, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2, quote_nullable(c3) AS c3
  FROM import_rollback.stage_:b ORDER BY 1;

-- tab-separated
SELECT ir_stage('customers', 'tabs.tsv', E'id\tname\n7\tx y\n', '{"delimiter": "\t"}') AS b \gset
SELECT row_no, c1, c2 FROM import_rollback.stage_:b;

-- CRLF line ends and a UTF-8 byte order mark: the BOM is not part of the
-- first header, but it is part of the file's size and SHA-256
SELECT ir_stage('customers', 'windows.csv',
       convert_from('\xefbbbf'::bytea, 'UTF8') || E'id,name\r\n1,"a\r\nb"\r\n2,c\r\n') AS b \gset
SELECT ordinal, header FROM import_rollback.batch_column WHERE batch_id = :b ORDER BY 1;
SELECT row_no, quote_nullable(c1) AS c1, quote_nullable(c2) AS c2
  FROM import_rollback.stage_:b ORDER BY 1;
SELECT source_bytes FROM ir_batches WHERE batch_id = :b;

-- the dialect is checked by COPY itself before a batch is created
SELECT count(*) AS batches_before FROM ir_batches \gset
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"delimiter": ";;"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"delimiter": ",", "quote": ","}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"null": "\n"}');
\echo :SQLSTATE
-- options are checked too: typos, types, values
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"delimeter": ";"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"header": "yes"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"mode": "merge"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"mapping": {"a": 1}}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"expect_rows": -1}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"key": []}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"key": "id"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"key": ["id", 1]}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '[1, 2]');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"encoding": "LATIN1"}');
\echo :SQLSTATE
SELECT ir_stage('customers', 'x.csv', E'a\n', '{"sha256": "00"}');
\echo :SQLSTATE
SELECT count(*) = :batches_before AS no_batch_created FROM ir_batches;

-- valid options are kept with the batch
SELECT ir_stage('customers', 'opts.csv', E'ID,Name\n1,a\n',
       '{"mapping": {"ID": "id", "Name": "name"}, "mode": "insert", "expect_rows": 1,
         "rules": {"required": ["name"]}}') AS b \gset
SELECT options, key_columns FROM ir_batches WHERE batch_id = :b;
