--
-- ir_validate: type checks, rules, duplicates, lookups, mode, target
-- constraints, hard stops, re-validation from the raw rows.
--
-- batch ids in this file start at 10000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 10000) AS ids_from \gset

CREATE TABLE categories (code text PRIMARY KEY);
INSERT INTO categories VALUES ('toys'), ('books'), ('garden');
CREATE TYPE size AS ENUM ('S', 'M', 'L');
CREATE DOMAIN percent AS numeric CHECK (VALUE BETWEEN 0 AND 100);
CREATE TABLE items (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price       numeric(10,2) CHECK (price >= 0),
    category    text,
    qty         integer,
    code        varchar(5),
    size        size,
    discount    percent,
    launched    date,
    active      boolean,
    ref         uuid,
    added       timestamptz DEFAULT now()
);
INSERT INTO items (sku, name, price, category, qty)
     SELECT 'S-' || g, 'Item ' || g, g, 'toys', g FROM generate_series(1, 10) g;

-- Every reason for a row, each naming the column and the value, with
-- PostgreSQL's own message for type errors.
SELECT ir_stage('items', 'every-check.csv', $$sku,name,price,category,qty,code,size,discount,launched,active,ref
S-1,Ball,1.99,toys,3,AB1,S,10,2024-01-31,true,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11
S-2,Book,N/A,book,x,TOOLONG,XL,150,2024-02-30,maybe,not-a-uuid
S-3,,-5,garden,1,C,M,0,2024-03-01,f,
S-1,Dup,2,toys,1,D,L,5,,,
S-40,New,3.5,unknown,2,E,,,,yes,
,Nokey,1,toys,1,F,,,,,
S-41,"Trailing ",1.005,books,2147483648,G,,,,,
$$) AS b \gset
SELECT * FROM ir_validate(:b, '{"rules": {"reference": {"category": "public.categories.code"},
                                          "required": ["name"],
                                          "pattern": {"code": "^[A-Z]+[0-9]*$"},
                                          "max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:b);
-- valid is "not rejected": nothing but the rejects was written
SELECT row_no, status FROM import_rollback.stage_:b ORDER BY row_no;

-- mode "insert" rejects existing keys, "update" missing ones
SELECT ir_stage('items', 'modes.csv', E'sku,name\nS-1,Old one\nS-99,New one\n') AS m \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:m, '{"mode": "insert", "rules": {"max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:m);
SELECT state, rows_valid, rows_rejected FROM ir_validate(:m, '{"mode": "update", "rules": {"max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:m);
SELECT state, rows_valid, rows_rejected FROM ir_validate(:m, '{"mode": "upsert"}');

-- a new record needs every NOT NULL column without a default
SELECT ir_stage('items', 'no-name.csv', E'sku,price\nS-1,5\nS-77,6\n') AS nn \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:nn, '{"rules": {"max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:nn);

-- unique_in_file, format and allowed; duplicates point at each other
SELECT ir_stage('items', 'rules.csv', $$sku,name,code,size
A-1,x@example.com,AA,S
A-2,x@example.com,AA,S
A-3,not-an-email,BB,XL
A-4,+1 (555) 010-0199,CC,M
A-5,12,DD,L
$$) AS r \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:r, '{"rules": {
  "unique_in_file": ["name", ["code", "size"]],
  "allowed": {"size": ["S", "M"]},
  "max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:r);
SELECT state, rows_valid, rows_rejected FROM ir_validate(:r, '{"mapping": {"sku": "sku", "name": "category"},
  "rules": {"format": {"category": "email"}, "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:r);
SELECT state, rows_valid, rows_rejected FROM ir_validate(:r, '{"mapping": {"sku": "sku", "name": "category"},
  "rules": {"format": {"category": "phone"}, "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:r);

-- duplicate keys in the file: every copy is rejected, naming the others;
-- "000123" and "123" are the same integer key
CREATE TABLE counters (id integer PRIMARY KEY, n integer);
SELECT ir_stage('counters', 'dups.csv', E'id,n\n123,1\n7,2\n000123,3\n8,4\n+123,5\n') AS d \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:d, '{"rules": {"max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:d);

-- hard stops: the batch fails, keeps its rows and reasons, and says why
SELECT ir_stage('counters', 'stops.csv', E'id,n\n1,1\n2,x\n3,3\n4,4\n') AS s \gset
SELECT * FROM ir_validate(:s);
SELECT state, rows_valid, rows_rejected, last_error FROM ir_batches WHERE batch_id = :s;
SELECT row_no, errors FROM ir_rejects(:s);
SELECT state, stop_reason FROM ir_validate(:s, '{"rules": {"max_reject_ratio": 0.5, "max_reject_count": 0}}');
SELECT state, stop_reason FROM ir_validate(:s, '{"expect_rows": 5, "rules": {"max_reject_ratio": 0.5}}');
-- the corrected expectations validate the same failed batch, no re-upload
SELECT * FROM ir_validate(:s, '{"expect_rows": 4, "rules": {"max_reject_ratio": 0.5}}');

-- max_touch_ratio: share of the existing records the batch would change
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 10) g;
SELECT ir_stage('counters', 'touch.csv', E'id,n\n1,9\n2,9\n3,0\n50,1\n51,1\n52,1\n') AS t \gset
SELECT state, stop_reason FROM ir_validate(:t, '{"rules": {"max_touch_ratio": 0.1}}');
SELECT state, stop_reason FROM ir_validate(:t, '{"rules": {"max_touch_ratio": 0.2}}');

-- a key column missing from the file, and a required one
SELECT ir_stage('counters', 'nokey.csv', E'n\n1\n') AS k \gset
SELECT state, stop_reason FROM ir_validate(:k);
SELECT ir_stage('items', 'noreq.csv', E'sku,name\nZ-1,z\n') AS q \gset
SELECT state, stop_reason FROM ir_validate(:q, '{"rules": {"required": ["price"]}}');

-- re-validation with a corrected mapping starts from the raw rows; every
-- run is recorded, and the batch keeps what it was validated with
SELECT ir_stage('counters', 'renamed.csv', E'ident,N\n1,10\n2,20\n') AS rv \gset
SELECT state, stop_reason FROM ir_validate(:rv);
SELECT state, rows_valid, stop_reason FROM ir_validate(:rv, '{"mapping": {"ident": "id", "N": "n"}}');
SELECT run_no, rows_valid, rows_rejected, stop_reason, options
  FROM import_rollback.validation_run WHERE batch_id = :rv ORDER BY run_no;
SELECT from_state, to_state FROM ir_batch_events WHERE batch_id = :rv ORDER BY event_id;
SELECT options FROM ir_batches WHERE batch_id = :rv;

-- wrong calls change nothing
SELECT ir_stage('counters', 'nothing.csv', E'a,b\n1,2\n') AS no \gset
SELECT ir_validate(:no);
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"delimiter": ";"}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"rules": {"requird": ["n"]}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"rules": {"pattern": {"nope": "x"}}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"mapping": {"ident": "id", "N": "nope"}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"mapping": {"nope": "id"}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"mapping": {"ident": "id", "N": "id"}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"mapping": {"N": "n"}, "key": ["n"]}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"rules": {"format": {"n": "zip"}}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"rules": {"max_reject_ratio": 2}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, '{"rules": {"reference": {"n": "public.nosuch.col"}}}');
\echo :SQLSTATE
SELECT ir_validate(:rv, NULL);
\echo :SQLSTATE
SELECT ir_validate(NULL);
\echo :SQLSTATE
SELECT state FROM ir_batches WHERE batch_id = :rv;
-- ambiguous same-name mapping
SELECT ir_stage('counters', 'ambiguous.csv', E'ID,Id,n\n1,2,3\n') AS am \gset
SELECT ir_validate(:am);
\echo :SQLSTATE
-- wrong states
SELECT ir_stage_begin('counters', 'pending.csv', ARRAY['id']) AS pe \gset
SELECT ir_validate(:pe);
\echo :SQLSTATE
SELECT ir_cancel(:pe, 'test');
SELECT ir_validate(:pe);
\echo :SQLSTATE
SELECT ir_stage('counters', 'broken.csv', E'id,n\n1,"x\n') AS br \gset
SELECT ir_validate(:br);
\echo :SQLSTATE

-- duplicates are found by the types' own equality: equal numerics written
-- differently, a type without hash support (tsvector), a domain with its
-- own collation, and cells that failed their type check (never duplicates)
CREATE DOMAIN c_text AS text COLLATE "C";
CREATE TABLE labels (id int PRIMARY KEY, label c_text, doc tsvector, amount numeric);
SELECT ir_stage('labels', 'labels.csv', E'id,label,doc,amount\n1,a,x y,1.0\n2,a,y x,1.00\n3,b,z,x\n4,A,z,1\n5,x,q,x\n6,7,q r,2\n007,8,r q,x\n') AS tg \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:tg, '{"rules": {"unique_in_file": ["label", "doc", "amount"], "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:tg);

-- reference rules are looked up by distinct value: across types (a varchar
-- value in an int8 column's table: the int8 value 007 is 7), NULLs never
-- checked, an empty referenced table, a value several rows hold
CREATE TABLE ref_codes (code int8);
INSERT INTO ref_codes VALUES (7), (7), (9);
CREATE TABLE ref_empty (code int);
CREATE TABLE ref_items (id int PRIMARY KEY, code int, other int);
SELECT ir_stage('ref_items', 'refs.csv', E'id,code,other\n1,7,\n2,007,\n3,8,\n4,,\n5,9,1\n6,8,\n') AS rf \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:rf, '{"rules": {"reference": {"code": "public.ref_codes.code", "other": "public.ref_empty.code"}, "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:rf);
