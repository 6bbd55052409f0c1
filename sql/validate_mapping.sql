--
-- The mapping check: incoming values whose shape looks nothing like the
-- live values of their column stop the batch (or warn), and an honest
-- file whose values vary normally passes.
--
-- batch ids in this file start at 11000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 11000) AS ids_from \gset

CREATE TABLE people (id integer PRIMARY KEY, name text, email text, phone text, city text);
INSERT INTO people
SELECT g,
       (ARRAY['Ann','Bob','Chloé','Dmitri','Eve','Farid','Grace','Hiro'])[1 + g % 8] || ' ' ||
       (ARRAY['Lee','Smith','Ng','Okafor','García','Kowalski','Brown'])[1 + g % 7],
       'u' || g || '@example.com',
       '+1 555 ' || lpad((g % 10000)::text, 4, '0'),
       (ARRAY['Paris','Lagos','Osaka','Lima'])[1 + g % 4]
  FROM generate_series(1, 2000) g;

-- seed case: 2,000 customers whose email and phone columns were swapped
SELECT ir_stage('people', 'swapped.csv',
       'id,name,email,phone,city' || E'\n' ||
       (SELECT string_agg(format('%s,%s,%s,%s,%s', g, 'Client ' || g,
                                 '+44 20 7946 ' || lpad(g::text, 4, '0'),
                                 'n' || (3000 + g) || '@example.net', 'Leeds'), E'\n')
          FROM generate_series(1, 2000) g)) AS sw \gset
SELECT state, rows_total, rows_valid, rows_rejected, stop_reason FROM ir_validate(:sw);
SELECT state, last_error IS NOT NULL AS has_reason FROM ir_batches WHERE batch_id = :sw;
-- fixing the mapping validates the same batch, with no false alarm
SELECT state, rows_valid, stop_reason
  FROM ir_validate(:sw, '{"mapping": {"id": "id", "name": "name", "email": "phone", "phone": "email", "city": "city"}}');
-- "warn" reports and lets the batch through; "off" says nothing
SELECT state, stop_reason FROM ir_validate(:sw, '{"mapping": null, "rules": {"mapping_check": "warn"}}');
SELECT state, stop_reason FROM ir_validate(:sw, '{"rules": {"mapping_check": "off"}}');

-- names in the email column
SELECT ir_stage('people', 'names-in-email.csv',
       'id,email' || E'\n' ||
       (SELECT string_agg(format('%s,%s', g, 'Person Number ' || g), E'\n')
          FROM generate_series(1, 300) g)) AS ne \gset
SELECT state, stop_reason FROM ir_validate(:ne);

-- an honest file: other domains, phone formats, accents, cities
SELECT ir_stage('people', 'honest.csv',
       'id,name,email,phone,city' || E'\n' ||
       (SELECT string_agg(format('%s,"%s",%s,%s,%s', 5000 + g,
                                 (ARRAY['Zoë Ø. Brandt','Li Wei','Mary-Jane Watson-Parker','O''Neil','Jean de la Fontaine'])[1 + g % 5],
                                 (ARRAY['first.last+tag@mail.example.org','j@x.io','n' || (3000 + g) || '@example.net'])[1 + g % 3],
                                 (ARRAY['(555) 123-4567','+44 20 7946 0958','555.010.0199','0033 1 23 45 67 89'])[1 + g % 4],
                                 (ARRAY['New York','São Paulo','Kyiv','Rio de Janeiro','Oslo'])[1 + g % 5]), E'\n')
          FROM generate_series(1, 500) g)) AS ho \gset
SELECT state, rows_valid, rows_rejected, stop_reason FROM ir_validate(:ho);

-- columns with too few live values to judge are skipped, and it is said
CREATE TABLE fresh (id integer PRIMARY KEY, email text);
INSERT INTO fresh VALUES (1, 'a@example.com'), (2, 'b@example.com');
SELECT ir_stage('fresh', 'fresh.csv', E'id,email\n10,Just A Name\n11,Another Name\n') AS fr \gset
SELECT state, stop_reason FROM ir_validate(:fr);
SELECT notes FROM import_rollback.validation_run WHERE batch_id = :fr;
