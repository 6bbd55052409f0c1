--
-- Transforms and lookups in the mapping: null_if, transform steps, date
-- and timestamp formats, constants, lookups into another table; what the
-- reports show; every bad option; planted functions and operators.
--
-- batch ids in this file start at 31000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 31000) AS ids_from \gset
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';
CREATE TABLE tf_categories (category_id int PRIMARY KEY, name text NOT NULL);
INSERT INTO tf_categories VALUES (1, 'Garden'), (2, 'Kitchen'), (3, 'Toys'), (4, 'toys');
CREATE TABLE tf_products (
    sku           text PRIMARY KEY,
    category_id   int REFERENCES tf_categories,
    email         text,
    signed        date,
    seen_at       timestamptz,
    phone         text,
    note          varchar(10),
    source_system text NOT NULL,
    price         numeric(8,2) CHECK (price > 0)
);
INSERT INTO tf_products VALUES ('P9', 1, 'old@example.com', '2024-01-01', NULL, NULL, NULL, 'legacy', 9);

\set mapping '{"sku": "sku", "Category": {"column": "category_id", "transform": ["trim"], "lookup": {"table": "public.tf_categories", "match": "name", "return": "category_id", "ignore_case": true}}, "Email": {"column": "email", "transform": ["trim", "lower"]}, "Signed": {"column": "signed", "date_format": "DD/MM/YYYY"}, "Seen": {"column": "seen_at", "timestamp_format": "YYYY-MM-DD HH24:MI"}, "Phone": {"column": "phone", "transform": ["digits"], "null_if": ["n/a", "-"]}, "Note": {"column": "note", "transform": ["trim", "squeeze", "upper"]}, "Price": "price"}'
SELECT ir_stage('tf_products', 'feed.csv', $$sku,Category,Email,Signed,Seen,Phone,Note,Price
P1, garden ,  Ann@Example.COM ,31/01/2025,2025-01-31 10:20,+1 (555) 123-4567, a   b ,1.50
P2,Kitchen,bob@example.com,31/02/2025,2025-01-31 10:20,n/a,x,2
P3,unknown,c@x.com,01/01/2025,2025-01-31 10:20,-,x,3
P4,Toys,d@x.com,01/01/2025,2025-01-31 10:20,555,x,4
P5,Garden,e@x.com,1/1/2025,2025-01-31 10:20,555,x,-1
P6,Kitchen,f@x.com,02/01/2025,2025-13-31 10:20,555,x,6
P9,Kitchen,  NEW@example.com,02/01/2025,2025-01-31 10:20,555,x,9
$$,
       jsonb_build_object('mapping', :'mapping'::jsonb,
                          'constants', '{"source_system": "partner-feed"}'::jsonb,
                          'rules', '{"mapping_check": "off", "max_reject_ratio": 1}'::jsonb)) AS b \gset
SELECT state, rows_total, rows_valid, rows_rejected FROM ir_validate(:b);
-- each reason names the column and the step that refused the value
SELECT row_no, errors FROM ir_rejects(:b);
-- source keeps the raw text; mapped is what will be written
SELECT row_no, action, source, mapped FROM ir_sample(:b, 10) WHERE action <> 'rejected';
SELECT * FROM ir_preview(:b);
-- the raw text stays untouched in staging
SELECT c2, c3 FROM import_rollback.stage_:b WHERE row_no = 1;
SELECT inserted, updated, unchanged, rejected FROM ir_apply(:b);
SELECT * FROM tf_products ORDER BY sku;
SELECT action, new_values FROM ir_changes(:b, '{"sku": "P1"}');

-- the lookup table changes after the validation: the apply fails naming
-- the source row, and writes nothing
SELECT deleted, restored FROM ir_rollback(:b);
SELECT ir_stage('tf_products', 'again.csv', E'sku,Category\nP7,Garden\nP8,Kitchen\n',
       jsonb_build_object('mapping', '{"sku": "sku", "Category": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "name", "return": "category_id"}}}'::jsonb,
                          'constants', '{"source_system": "partner-feed"}'::jsonb,
                          'rules', '{"mapping_check": "off"}'::jsonb)) AS b2 \gset
SELECT state, rows_valid FROM ir_validate(:b2);
UPDATE tf_categories SET name = 'Kitchens' WHERE category_id = 2;
SELECT * FROM ir_apply(:b2);
\echo :SQLSTATE
SELECT count(*) AS written FROM tf_products WHERE sku IN ('P7', 'P8');
UPDATE tf_categories SET name = 'Kitchen' WHERE category_id = 2;
SELECT inserted FROM ir_apply(:b2);
SELECT deleted FROM ir_rollback(:b2);

-- a constant that its column's type refuses, and constants without a file column
SELECT ir_stage('tf_products', 'c.csv', E'sku\nP1\n',
       '{"constants": {"source_system": "feed", "price": "cheap"}}') AS c \gset
SELECT * FROM ir_validate(:c);
\echo :SQLSTATE
SELECT state, rows_valid FROM ir_validate(:c, '{"constants": {"source_system": "feed", "price": 2.5}}');
SELECT mapped FROM ir_sample(:c, 1);
SELECT ir_cancel(:c, 'test');
-- a unique_in_file set of constants alone holds one value in every row
-- (here with the key missing from the file, so the pass reads no column)
CREATE TABLE tf_const (id int PRIMARY KEY, grp text, v text);
SELECT ir_stage('tf_const', 'k.csv', E'v\na\nb\n') AS k \gset
SELECT state, rows_rejected FROM ir_validate(:k, '{"constants": {"grp": "x"},
  "rules": {"unique_in_file": ["grp"], "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:k) ORDER BY row_no;
DROP TABLE tf_const;

-- bad mapping objects
\set m '{"sku": "sku", "Category": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "name", "return": "category_id"}}}'
SELECT ir_stage('tf_products', 'x.csv', E'sku,Category\nP1,a\n', '{"mapping": {"sku": "sku", "Category": {"tranform": ["trim"]}}}');
\echo :SQLSTATE
SELECT ir_stage('tf_products', 'x.csv', E'sku,Category\nP1,a\n', '{"mapping": {"sku": "sku", "Category": {"transform": ["trim"]}}}') AS x \gset
SELECT * FROM ir_validate(:x);
\echo :SQLSTATE
SELECT ir_cancel(:x, 'test');
SELECT ir_stage('tf_products', 'x.csv', E'sku,Email\nP1,a\n', '{"mapping": {"sku": "sku", "Email": {"column": "email", "transform": ["trim", "lowercase"]}}}') AS x \gset
SELECT * FROM ir_validate(:x);
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "email", "transform": "trim"}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "email", "null_if": "n/a"}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "signed", "date_format": "DD/MM"}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "signed", "date_format": ""}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "signed", "date_format": "DD/MM/YYYY", "timestamp_format": "YYYY"}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "tf_categories", "match": "name", "return": "category_id"}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.no_such_table", "match": "name", "return": "category_id"}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "label", "return": "category_id"}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "name", "return": "name"}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "category_id", "return": "category_id", "ignore_case": true}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "name"}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": "sku", "Email": {"column": "category_id", "lookup": {"table": "public.tf_categories", "match": "name", "return": "category_id", "case": true}}}}');
\echo :SQLSTATE
SELECT * FROM ir_validate(:x, '{"mapping": {"sku": {"column": "sku", "lookup": {"table": "public.tf_categories", "match": "name", "return": "name"}}}}');
\echo :SQLSTATE
SELECT ir_cancel(:x, 'test');

-- a lookup table the caller may not read; then functions and operators
-- planted in public and pg_temp by another role change nothing
CREATE ROLE regress_ir_feeder;
CREATE ROLE regress_ir_planter;
GRANT SELECT, INSERT, UPDATE ON tf_products TO regress_ir_feeder;
GRANT CREATE ON SCHEMA public TO regress_ir_planter;
SET ROLE regress_ir_feeder;
SELECT ir_stage('tf_products', 'feeder.csv', E'sku,Category,Email\nP10,Garden, X@Y.COM\n',
       jsonb_build_object('mapping', :'m'::jsonb || '{"Email": {"column": "email", "transform": ["lower"]}}',
                          'constants', '{"source_system": "feeder"}'::jsonb,
                          'rules', '{"mapping_check": "off"}'::jsonb)) AS f \gset
SELECT * FROM ir_validate(:f);
\echo :SQLSTATE
RESET ROLE;
GRANT SELECT ON tf_categories TO regress_ir_feeder;
SET ROLE regress_ir_planter;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'planted' $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE sql AS $$ SELECT 'planted' $$;
CREATE FUNCTION public.eq_planted(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_planted);
RESET ROLE;
SET ROLE regress_ir_feeder;
SET search_path = public, pg_catalog;
SELECT state, rows_valid FROM ir_validate(:f, jsonb_build_object('mapping', :'m'::jsonb || '{"Email": {"column": "email", "transform": ["trim", "lower"]}}'));
SELECT mapped FROM ir_sample(:f, 1);
SELECT inserted FROM ir_apply(:f);
RESET search_path;
SELECT sku, category_id, email FROM tf_products WHERE sku = 'P10';
SELECT deleted FROM ir_rollback(:f);
RESET ROLE;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.eq_planted(text, text), public.lower(text), public.btrim(text);
REVOKE ALL ON tf_products, tf_categories FROM regress_ir_feeder;
REVOKE CREATE ON SCHEMA public FROM regress_ir_planter;
DROP ROLE regress_ir_feeder, regress_ir_planter;

-- the SQL functions the statements call are usable on their own too
SELECT import_rollback.ir_prepare('  A   b  ', ARRAY['x'], ARRAY['trim', 'squeeze', 'lower'], NULL, NULL);
SELECT import_rollback.ir_prepare('x', ARRAY['x'], ARRAY['trim'], NULL, NULL) IS NULL AS null_if;
SELECT import_rollback.ir_prepare('31/12/2024', NULL, NULL, 'DD/MM/YYYY', NULL);
SELECT import_rollback.ir_prepare('2025-02-30', NULL, NULL, 'YYYY-MM-DD', NULL);
\echo :SQLSTATE
SELECT import_rollback.ir_prepare('x', NULL, ARRAY['shout'], NULL, NULL);
\echo :SQLSTATE

-- timestamp_format in a zone whose offset has seconds (Asia/Kolkata kept
-- local mean time, +05:21:10, until 1906): the value written is the one
-- to_timestamp reads, to the second, into timestamptz and into text (the
-- offset's seconds once went missing, and the two rows became the same
-- instant)
SET TimeZone = 'Asia/Kolkata';
CREATE TABLE tf_lmt (id int PRIMARY KEY, ts timestamptz, t text);
SELECT ir_stage('tf_lmt', 'lmt.csv', $$id,ts,t
1,1905-12-31 23:59:55,1905-12-31 23:59:55
2,1906-01-01 00:08:55,1906-01-01 00:08:55
$$) AS b \gset
SELECT state, rows_rejected FROM ir_validate(:b, '{"mapping": {"id": "id",
  "ts": {"column": "ts", "timestamp_format": "YYYY-MM-DD HH24:MI:SS"},
  "t": {"column": "t", "timestamp_format": "YYYY-MM-DD HH24:MI:SS"}},
  "rules": {"unique_in_file": ["ts"], "mapping_check": "off"}}');
SELECT inserted FROM ir_apply(:b);
SELECT id, ts, t, ts = to_timestamp(t, 'YYYY-MM-DD HH24:MI:SS.US') AS exact FROM tf_lmt ORDER BY id;
RESET TimeZone;
DROP TABLE tf_lmt;
