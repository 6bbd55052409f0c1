--
-- Numbers in options and rules are checked exactly: a count must be a
-- whole number that fits a bigint, a ratio a number from 0 to 1; nothing
-- overflows into something else (1e30 rows turning the row-count stop
-- off), and a sample larger than the file is the file, at once.
--
-- batch ids in this file start at 25000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 25000) AS ids_from \gset
CREATE TABLE tallies (id int PRIMARY KEY, n int);
\set VERBOSITY terse

-- expect_rows at staging: refused before a batch exists
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"expect_rows": 1e30}');
\echo :SQLSTATE
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"expect_rows": 9223372036854775808}');
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"expect_rows": -1}');
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"expect_rows": 1.5}');
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"expect_rows": "1"}');
SELECT count(*) AS batches_made FROM ir_batches WHERE batch_id > :ids_from;
-- the client path's declared size likewise
SELECT ir_stage_begin('tallies', 'c.csv', '{id,n}', '{"bytes": 1e19}');
\echo :SQLSTATE
SELECT ir_stage_begin('tallies', 'c.csv', '{id,n}', '{"bytes": -5}');

-- the largest bigint and a whole number written with a fraction are counts
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n2,2\n3,3\n', '{"expect_rows": 9223372036854775807}') AS big \gset
SELECT state, stop_reason FROM ir_validate(:big, '{"rules": {"mapping_check": "off"}}');
SELECT state, stop_reason FROM ir_validate(:big, '{"expect_rows": 3.0, "rules": {"mapping_check": "off"}}');

-- rules: counts and ratios
SELECT * FROM ir_validate(:big, '{"expect_rows": 1e30}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_count": 1e30}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_count": 2.5}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_count": -1}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_ratio": 1e400}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_ratio": -0.01}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_ratio": 1.0000001}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_reject_ratio": "0.5"}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_touch_ratio": 2}}');
SELECT * FROM ir_validate(:big, '{"rules": {"max_touch_ratio": true}}');
-- the batch is as it was after its last good run
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_batches WHERE batch_id = :big;
SELECT state, rows_valid FROM ir_validate(:big, '{"rules": {"max_reject_count": 0, "max_reject_ratio": 0, "max_touch_ratio": 1, "mapping_check": "off"}}');

-- a sample: never more rows than the file has, however many are asked for
SELECT count(*) AS sampled FROM ir_sample(:big, 2147483647);
SELECT count(*) AS sampled FROM ir_sample(:big, 0);
SELECT * FROM ir_sample(:big, -1);
\echo :SQLSTATE

\set VERBOSITY default

-- a misspelt name is refused with the closest valid one, wherever it is
-- given; an unknown one with the names valid there
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"delimeter": ";"}');
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"rules": {"max_reject_ration": 1}}');
SELECT ir_stage('tallies', 'a.csv', E'id,n\n1,1\n', '{"colour": "blue"}');
SELECT * FROM ir_validate(:big, '{"mappping": {"id": "id"}}');
SELECT * FROM ir_validate(:big, '{"delimiter": ";"}');
SELECT * FROM ir_rollback(:big, '{"on_conflit": "skip"}');
SELECT * FROM ir_rollback(:big, '{"on_conflict": "sometimes"}');
SELECT * FROM ir_apply(:big, '{"force": true}');
SELECT count(*) AS batches_made FROM ir_batches WHERE batch_id > :big;
DROP TABLE tallies;
