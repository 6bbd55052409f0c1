--
-- Review before apply: ir_sample spreads over the whole file; ir_preview
-- counts the changes per column with an example, and the inserts.
--
-- batch ids in this file start at 12000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 12000) AS ids_from \gset

CREATE TABLE stock (sku text PRIMARY KEY, name text, price numeric(8,2), qty integer, tags text[], meta json);
INSERT INTO stock SELECT 'K-' || g, 'Thing ' || g, g, g * 10, ARRAY['a'], '{"v": 1}'
  FROM generate_series(1, 50) g;

-- 100 rows: K-1..K-50 exist (every 5th gets a new price, every 10th a new
-- name), K-51..K-100 are new; one row is malformed, one fails its type
SELECT ir_stage('stock', 'stock.csv',
       'sku,name,price,qty,tags,meta' || E'\n' ||
       (SELECT string_agg(CASE WHEN g = 33 THEN 'K-33,broken'
                               WHEN g = 77 THEN 'K-77,Bad price,abc,1,{a},{}'
                               ELSE format('K-%s,%s,%s,%s,"{a}","{""v"": 1}"', g,
                                           CASE WHEN g % 10 = 0 AND g <= 50 THEN 'Renamed ' || g ELSE 'Thing ' || g END,
                                           CASE WHEN g % 5 = 0 AND g <= 50 THEN g + 0.5 ELSE g END,
                                           g * 10) END, E'\n' ORDER BY g)
          FROM generate_series(1, 100) g)) AS b \gset
SELECT state, rows_total, rows_valid, rows_rejected
  FROM ir_validate(:b, '{"rules": {"mapping_check": "off"}}');

-- review needs a validated batch
SELECT ir_stage('stock', 'later.csv', E'sku,name\nK-1,x\n') AS l \gset
SELECT * FROM ir_sample(:l);
\echo :SQLSTATE
SELECT * FROM ir_preview(:l);
\echo :SQLSTATE

-- the sample is spread over the file, deterministic, and shows all sides
SELECT row_no, action FROM ir_sample(:b);
SELECT row_no, action, source, mapped, "current" FROM ir_sample(:b, 4);
SELECT array_agg(row_no) = (SELECT array_agg(row_no) FROM ir_sample(:b)) AS same_sample
  FROM ir_sample(:b);
SELECT action, count(*) FROM ir_sample(:b, 50) GROUP BY action ORDER BY action;
SELECT row_no, action, source, mapped, "current" FROM ir_sample(:b, 100) WHERE row_no IN (10, 33, 77);
SELECT count(*) AS whole_file FROM ir_sample(:b, 1000);
SELECT count(*) FROM ir_sample(:b, 0);
SELECT ir_sample(:b, -1);
\echo :SQLSTATE

-- the preview: changes per column, with the first example, then inserts
-- and unchanged records
SELECT * FROM ir_preview(:b);

-- nothing of this touched the target
SELECT count(*), sum(price) FROM stock;
