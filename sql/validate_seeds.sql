--
-- The seed cases: a partner feed with "N/A" prices and unknown categories
-- stopped with every bad row listed; 12,000 rows with 240 malformed codes
-- validated with exactly those 240 rejected.
--
-- batch ids in this file start at 15000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 15000) AS ids_from \gset

CREATE TABLE feed_categories (code text PRIMARY KEY);
INSERT INTO feed_categories VALUES ('garden'), ('kitchen'), ('toys'), ('books');
CREATE TABLE catalog (sku text PRIMARY KEY, title text NOT NULL, price numeric(10,2), category text);
INSERT INTO catalog
SELECT 'SKU-' || lpad(g::text, 5, '0'), 'Article ' || g, g % 100 + 0.99,
       (ARRAY['garden', 'kitchen', 'toys', 'books'])[1 + g % 4]
  FROM generate_series(1, 500) g;

-- the partner feed: 400 rows, 30 with price "N/A", 25 with an unknown
-- category (row 208 has both)
SELECT ir_stage('catalog', 'partner-feed.csv',
       'sku,title,price,category' || E'\n' ||
       (SELECT string_agg(format('SKU-%s,Article %s,%s,%s', lpad(g::text, 5, '0'), g,
                                 CASE WHEN g % 13 = 0 THEN 'N/A' ELSE (g % 100 + 1.49)::text END,
                                 CASE WHEN g % 16 = 0 THEN 'outdoor-living' ELSE (ARRAY['garden', 'kitchen', 'toys', 'books'])[1 + g % 4] END),
                          E'\n' ORDER BY g)
          FROM generate_series(1, 400) g)) AS feed \gset
SELECT state, rows_total, rows_valid, rows_rejected, stop_reason
  FROM ir_validate(:feed, '{"rules": {"reference": {"category": "public.feed_categories.code"}}}');
-- every bad row is listed, with every reason
SELECT count(*) AS rejected,
       count(*) FILTER (WHERE array_to_string(errors, '|') LIKE '%numeric: "N/A"%') AS na_prices,
       count(*) FILTER (WHERE array_to_string(errors, '|') LIKE '%"outdoor-living" is not in%') AS unknown_categories,
       count(*) FILTER (WHERE cardinality(errors) = 2) AS both
  FROM ir_rejects(:feed);
SELECT row_no, errors FROM ir_rejects(:feed) WHERE cardinality(errors) = 2 ORDER BY row_no;
-- the batch cannot be applied, and nothing reached the catalog
SELECT * FROM ir_apply(:feed);
\echo :SQLSTATE
SELECT count(*) AS articles, sum(price) AS total FROM catalog;

-- 12,000 rows with 240 malformed codes: exactly those 240 are rejected,
-- under the default 5% reject ratio
CREATE TABLE parts (part_no integer PRIMARY KEY, code text, qty integer);
SELECT ir_stage('parts', 'parts.csv',
       'part_no,code,qty' || E'\n' ||
       (SELECT string_agg(format('%s,%s,%s', g,
                                 CASE WHEN g % 50 = 0 THEN 'X' || g || '-?' ELSE 'PT-' || lpad((g % 1000)::text, 4, '0') END,
                                 g % 7), E'\n' ORDER BY g)
          FROM generate_series(1, 12000) g)) AS parts \gset
SELECT state, rows_total, rows_valid, rows_rejected, stop_reason
  FROM ir_validate(:parts, '{"rules": {"pattern": {"code": "^PT-[0-9]{4}$"}}}');
SELECT count(*) AS rejected,
       bool_and(row_no % 50 = 0) AS exactly_the_malformed,
       min(row_no), max(row_no)
  FROM ir_rejects(:parts);
SELECT row_no, errors FROM ir_rejects(:parts) ORDER BY row_no LIMIT 3;
SELECT inserted, updated, unchanged, rejected FROM ir_apply(:parts);
SELECT count(*) AS parts FROM parts;
