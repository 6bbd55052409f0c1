--
-- Post-apply guards: blank, orphans, unchanged, check; each tripping and
-- holding, with on_guard "fail" (the default) and "error"; bad guards,
-- found at staging, validation and apply; a check that errors, one that
-- tries to write, one that reads what the caller may not; guards kept
-- with the batch; ir_drill of a batch whose guards would trip.
--
-- batch ids in this file start at 33000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 33000) AS ids_from \gset
CREATE ROLE regress_ir_guard;
CREATE TABLE gd_opp (id int PRIMARY KEY, name text, email text, stage text, amount numeric);
CREATE TABLE gd_link (opportunity_id int REFERENCES gd_opp, contact int);
INSERT INTO gd_opp VALUES (1, 'one', 'a@x', 'won', 1), (17, 'sentinel', 's@x', 'won', 5),
                          (42, 'sentinel', 's@x', 'won', 5);
INSERT INTO gd_link VALUES (1, 100), (1, 101), (17, 102);
GRANT SELECT, INSERT, UPDATE ON gd_opp TO regress_ir_guard;
GRANT SELECT ON gd_link TO regress_ir_guard;
SET client_min_messages = warning;

-- blank: 1 of 3 written records has no email (33.3%); the limit 50% holds
SELECT ir_stage('gd_opp', 'blank-ok.csv', $$id,name,email
1,one,a@x
2,two,
3,three,c@x
$$, '{"guards": {"blank": {"email": 0.5}}}') AS b \gset
SELECT * FROM ir_apply(:b);
-- a limit of 3% trips: the writes are undone, the batch failed, zero counts
SELECT ir_stage('gd_opp', 'blank-trip.csv', $$id,name,email,stage
4,four,,won
5,five,e@x,
6,six,f@x,won
$$, '{"guards": {"blank": {"stage": 0.5, "email": 0.03}}}') AS b \gset
SELECT * FROM ir_apply(:b);
SELECT state, last_error, inserted, updated FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS records_4_to_6 FROM gd_opp WHERE id BETWEEN 4 AND 6;
SELECT to_state, detail FROM ir_batch_events WHERE batch_id = :b ORDER BY event_id DESC LIMIT 1;
-- the change log of the undone writes is empty too
SELECT count(*) AS changes FROM ir_changes(:b);
-- '' counts as blank for text; an update that blanks a field counts
SELECT ir_stage('gd_opp', 'blank-update.csv', $$id,email
1,
$$, '{"guards": {"blank": {"email": 0}}}') AS b \gset
SELECT * FROM ir_apply(:b);
SELECT email FROM gd_opp WHERE id = 1;

-- correct the guard with ir_validate and apply again
SELECT state FROM ir_validate(:b, '{"guards": {"blank": {"email": 1}}}');
SELECT * FROM ir_apply(:b);
SELECT options->'guards' AS kept FROM ir_batches WHERE batch_id = :b;

-- orphans: neither written opportunity has a link (1 is unchanged)
SELECT ir_stage('gd_opp', 'orphans.csv', $$id,name
1,one
7,seven
8,eight
$$) AS b \gset
\set VERBOSITY default
SELECT * FROM ir_apply(:b, '{"on_guard": "error", "guards": {"orphans": [{"child": "public.gd_link.opportunity_id", "max_ratio": 0.02}]}}');
\set VERBOSITY terse
-- on_guard "error" undid everything, guards given at apply included
SELECT state, options->'guards' AS guards FROM ir_batches WHERE batch_id = :b;
SELECT * FROM ir_apply(:b, '{"guards": {"orphans": [{"child": "public.gd_link.opportunity_id", "max_ratio": 0.7}]}}');
SELECT state, options->'guards' AS kept FROM ir_batches WHERE batch_id = :b;

-- unchanged: sentinels the batch must not write; rows that write nothing
-- (same values) do not count
SELECT ir_stage('gd_opp', 'sentinel.csv', $$id,name
17,sentinel
42,renamed
$$, '{"guards": {"unchanged": [{"id": 17}, {"id": "42"}]}}') AS b \gset
SELECT * FROM ir_apply(:b);
SELECT state, last_error FROM ir_batches WHERE batch_id = :b;
SELECT name FROM gd_opp WHERE id = 42;
SELECT ir_stage('gd_opp', 'sentinel-ok.csv', $$id,name
17,sentinel
9,nine
$$, '{"guards": {"unchanged": [{"id": 17}, {"id": 42}]}}') AS b \gset
SELECT * FROM ir_apply(:b);

-- check: one boolean, true while all is well; it sees the batch's writes
SELECT ir_stage('gd_opp', 'check.csv', $$id,name,amount
10,ten,-3
$$) AS b \gset
SELECT * FROM ir_apply(:b, $${"guards": {"check": [
    {"name": "some opportunities", "sql": "SELECT count(*) > 0 FROM public.gd_opp"},
    {"name": "no negative amounts", "sql": "SELECT count(*) = 0 FROM public.gd_opp WHERE amount < 0"}]}}$$);
SELECT state, last_error FROM ir_batches WHERE batch_id = :b;
SELECT state FROM ir_validate(:b);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [
    {"name": "null", "sql": "SELECT NULL::boolean"}]}}$$);
SELECT state FROM ir_validate(:b);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [
    {"name": "ten is there", "sql": "SELECT EXISTS (SELECT 1 FROM public.gd_opp WHERE id = 10 AND amount = -3)"}]}}$$);

-- a check that errors, that writes, or that is not one boolean fails the
-- apply (an error, not a tripped guard): nothing is written, the batch
-- stays as it was
SELECT ir_stage('gd_opp', 'check-bad.csv', $$id,name
11,eleven
$$) AS b \gset
\set VERBOSITY default
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "div", "sql": "SELECT 1/0 = 1"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "cte", "sql": "WITH d AS (DELETE FROM public.gd_link RETURNING 1) SELECT count(*) = 0 FROM d"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "seq", "sql": "SELECT nextval('import_rollback.batch_id_seq') > 0"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "two", "sql": "SELECT true; DELETE FROM public.gd_link"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "two selects", "sql": "SELECT true; SELECT true"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "int", "sql": "SELECT 1"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "rows", "sql": "SELECT true FROM public.gd_opp"}]}}$$);
-- the pinned search_path: a check qualifies its names
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "unqualified", "sql": "SELECT count(*) > 0 FROM gd_opp"}]}}$$);
\set VERBOSITY terse
SELECT state FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS links, (SELECT count(*) FROM gd_opp WHERE id = 11) AS eleven FROM gd_link;

-- a check runs as the caller: it cannot read what the caller may not,
-- the extension's own catalog included
SET ROLE regress_ir_guard;
SELECT ir_stage('gd_opp', 'as-caller.csv', $$id,name
12,twelve
$$) AS b \gset
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "catalog", "sql": "SELECT count(*) >= 0 FROM import_rollback.batch"}]}}$$);
SELECT * FROM ir_apply(:b, $${"guards": {"check": [{"name": "role", "sql": "SELECT current_user = 'regress_ir_guard'"}]}}$$);
RESET ROLE;

-- bad guards are refused at staging, at validation and at apply
SELECT ir_stage('gd_opp', 'bad.csv', 'id
13', '{"guards": {"blank": {"nope": 0.1}}}');
SELECT ir_stage('gd_opp', 'bad.csv', 'id
13', '{"guards": {"bogus": {}}}');
SELECT ir_stage('gd_opp', 'bad.csv', 'id
13') AS b \gset
SELECT * FROM ir_validate(:b, '{"guards": {"blank": {"email": 1.5}}}');
SELECT * FROM ir_validate(:b, '{"guards": {"blank": ["email"]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"unchanged": [{"code": 3}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"unchanged": [{"id": "abc"}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"unchanged": {"id": 1}}}');
SELECT * FROM ir_apply(:b, '{"guards": {"orphans": [{"child": "public.gd_nope.x", "max_ratio": 0.1}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"orphans": [{"child": "public.gd_link.nope", "max_ratio": 0.1}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"orphans": [{"child": "gd_link", "max_ratio": 0.1}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"orphans": [{"child": "public.gd_link.opportunity_id"}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"check": [{"name": "x"}]}}');
SELECT * FROM ir_apply(:b, '{"guards": {"check": {"name": "x", "sql": "SELECT true"}}}');
SELECT * FROM ir_apply(:b, '{"guards": []}');
SELECT * FROM ir_apply(:b, '{"on_guard": "maybe"}');
SELECT * FROM ir_apply(:b, '{"allow_stale": "yes"}');
SELECT * FROM ir_rollback(:b, '{"on_guard": "error"}');
SELECT state FROM ir_batches WHERE batch_id = :b;

-- ir_drill of a batch whose guards would trip reports it (and leaves no trace)
SELECT ir_stage('gd_opp', 'drill.csv', $$id,name,email
14,fourteen,
$$, '{"guards": {"blank": {"email": 0}}}') AS b \gset
\set VERBOSITY default
SELECT * FROM ir_drill(:b);
\set VERBOSITY terse
SELECT state FROM ir_batches WHERE batch_id = :b;
SELECT count(*) AS fourteen FROM gd_opp WHERE id = 14;

-- a two-column key: of three sentinels the batch writes two; the first
-- of them in the guard's order is named
CREATE TABLE gd_region (region text, code int, label text, PRIMARY KEY (region, code));
INSERT INTO gd_region VALUES ('eu', 1, 'a'), ('us', 2, 'b'), ('eu', 3, 'c');
SELECT ir_stage('gd_region', 'regions.csv', $$region,code,label
eu,3,changed
us,2,changed
eu,4,new
$$, '{"guards": {"unchanged": [{"region": "eu", "code": 1}, {"region": "us", "code": "2"},
                               {"region": "eu", "code": 3}]}}') AS b \gset
SELECT * FROM ir_apply(:b);
SELECT state, last_error FROM ir_batches WHERE batch_id = :b;
SELECT * FROM gd_region ORDER BY region, code;


-- blank over other column kinds: varchar and a domain over text ('' is
-- blank), a number (NULL only), a column the file does not map (read
-- from the table after the write), a partitioned target whose partition
-- has its columns at other positions
CREATE DOMAIN gd_note AS text;
CREATE TABLE gd_kinds (id int PRIMARY KEY, v varchar(10), d gd_note, n int, extra text);
SELECT ir_stage('gd_kinds', 'kinds-v.csv', $$id,v,d,n
1,,x,1
2,a,y,2
$$, '{"guards": {"blank": {"v": 0.4}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT ir_stage('gd_kinds', 'kinds-d.csv', $$id,v,d,n
3,a,,3
4,a,y,4
$$, '{"guards": {"blank": {"d": 0.4}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT ir_stage('gd_kinds', 'kinds-n.csv', $$id,v,d,n
5,a,x,
6,a,y,6
$$, '{"guards": {"blank": {"n": 0.5, "d": 0}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT ir_stage('gd_kinds', 'kinds-n2.csv', $$id,v,d,n
7,a,x,
8,a,y,8
$$, '{"guards": {"blank": {"n": 0.4}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT ir_stage('gd_kinds', 'kinds-extra.csv', $$id,v
9,a
10,b
$$, '{"guards": {"blank": {"extra": 0.99}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT id FROM gd_kinds ORDER BY id;
CREATE TABLE gd_part (id int PRIMARY KEY, note text) PARTITION BY RANGE (id);
CREATE TABLE gd_part_low PARTITION OF gd_part FOR VALUES FROM (0) TO (100);
CREATE TABLE gd_part_high (dropped int, id int NOT NULL, note text);
ALTER TABLE gd_part_high DROP COLUMN dropped;
ALTER TABLE gd_part ATTACH PARTITION gd_part_high FOR VALUES FROM (100) TO (200);
SELECT ir_stage('gd_part', 'part.csv', $$id,note
1,x
150,
$$, '{"guards": {"blank": {"note": 0.4}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT ir_stage('gd_part', 'part-ok.csv', $$id,note
1,x
150,y
$$, '{"guards": {"blank": {"note": 0}}}') AS b \gset
SELECT inserted FROM ir_apply(:b);
SELECT * FROM gd_part ORDER BY id;

RESET client_min_messages;
DROP TABLE gd_link, gd_opp, gd_region, gd_kinds, gd_part;
-- (domain gd_note stays: the batches' change logs are typed by it)
DROP ROLE regress_ir_guard;
