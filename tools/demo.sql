-- tools/demo.sql -- the import_rollback workflow end to end, run by
-- tools/demo.sh against a throwaway cluster (psql variables: file, week2,
-- week2_header, week2_bytes, week2_sha256; environment IR_DEMO_WEEK2 for the
-- client-side COPY).
--
-- Steps whose functions are not in the extension yet (validation, review,
-- apply, rollback) run only once the function exists (checked with
-- to_regprocedure below) and print "(not yet available)" until then, so
-- this script stays green while the extension grows.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset null '(null)'
\timing off

CREATE EXTENSION import_rollback;

-- Which of the later steps exist yet?
SELECT to_regprocedure('ir_validate(bigint,jsonb)') IS NOT NULL AS have_validate,
       to_regprocedure('ir_sample(bigint,integer)') IS NOT NULL AS have_sample,
       to_regprocedure('ir_preview(bigint)') IS NOT NULL AS have_preview,
       to_regprocedure('ir_apply(bigint,jsonb)') IS NOT NULL AS have_apply,
       to_regprocedure('ir_changes(bigint)') IS NOT NULL AS have_changes,
       to_regprocedure('ir_rollback_preview(bigint)') IS NOT NULL AS have_rollback_preview,
       to_regprocedure('ir_rollback(bigint,jsonb)') IS NOT NULL AS have_rollback
\gset

\echo
\echo '==> 1. The live table: customers, with 30 existing records'
CREATE TABLE customers (
    id            bigint PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    phone         text,
    country       char(2) NOT NULL,
    signup_date   date NOT NULL,
    credit_limit  numeric(10,2) NOT NULL DEFAULT 0,
    account_code  text,
    notes         text
);
INSERT INTO customers (id, email, name, phone, country, signup_date, credit_limit, account_code, notes) VALUES
(1, 'oliver.thomas@example.net', 'Oliver Thomas', '+44 20 7946 0368', 'GB', DATE '2020-09-16', 5000.00, '045645', 'Delivery: ring bell twice, leave with concierge'),
(2, 'james.oconnor@mail.example.com', 'James O''Connor', '+1 202-555-0100', 'US', DATE '2023-08-03', 1500.00, '089966', NULL),
(3, 'marcus.williams@mail.example.com', 'Marcus Williams', '+1 202-555-0100', 'US', DATE '2020-05-19', 1000.00, '066253', NULL),
(4, 'ava.walker@example.org', 'Ava Walker', '+44 20 7946 0963', 'GB', DATE '2019-08-09', 500.00, '041824', 'Net 30 terms, approved by finance'),
(5, 'chloe.garcia@example.com', 'Chloé Garcia', '+1 202-555-0129', 'US', DATE '2022-03-28', 2000.00, '049171', 'VIP'),
(6, 'siobhan.davies@example.co.uk', 'Siobhán Davies', '+44 20 7946 0259', 'GB', DATE '2023-06-11', 1250.50, '072439', NULL),
(7, 'aaliyah.miller@mail.example.com', 'Aaliyah Miller', '+1 202-555-0108', 'US', DATE '2019-01-03', 300.00, '002273', 'Delivery: ring bell twice, leave with concierge'),
(8, 'olivia.gagnon@example.net', 'Olivia Gagnon', '+1 613-555-0153', 'CA', DATE '2023-02-27', 2500.00, '016959', 'Prefers email contact'),
(9, 'david.oconnor@example.com', 'David O''Connor', '+1 202-555-0160', 'US', DATE '2020-03-09', 10000.00, '051565', NULL),
(10, 'lucia.fernandez@example.org', 'Lucía Fernández', '+34 91 147 11 93', 'ES', DATE '2023-05-07', 5000.00, '065500', 'Moved from reseller account, see ticket #4512'),
(11, 'jose.fernandez@example.com', 'José Fernández', '+34 91 767 48 38', 'ES', DATE '2024-03-13', 750.00, '090798', 'Moved from reseller account, see ticket #4512'),
(12, 'chloe.brown@example.com', 'Chloé Brown', '+1 202-555-0102', 'US', DATE '2019-08-30', 2000.00, '080329', 'Moved from reseller account, see ticket #4512'),
(13, 'michal.wisniewski@example.com', 'Michał Wiśniewski', '+48 22 847 89 45', 'PL', DATE '2019-06-09', 5000.00, '098313', 'Asked for "paperless" invoices'),
(14, 'linda.oconnor@example.net', 'Linda O''Connor', '+1 202-555-0163', 'US', DATE '2019-08-11', 2000.00, '020465', 'Asked for "paperless" invoices'),
(15, 'benoit.bouchard@mail.example.com', 'Bouchard, Benoît', '+1 613-555-0112', 'CA', DATE '2020-04-05', 500.00, '019066', 'VIP'),
(16, 'haruto.tanaka@example.net', 'Haruto Tanaka', '+81 3-3736-1584', 'JP', DATE '2021-05-08', 2000.00, '088817', 'Moved from reseller account, see ticket #4512'),
(17, 'lea.robert@example.com', 'Léa Robert', '+33 1 32 72 93 39', 'FR', DATE '2023-06-29', 1500.00, '066998', 'Prefers email contact'),
(18, 'oliver.thomas2@example.com', 'Oliver Thomas', '+44 20 7946 0040', 'GB', DATE '2021-10-10', 1000.00, '019064', 'Asked for "paperless" invoices'),
(19, 'amelia.evans@example.com', 'Evans, Amelia', '+44 20 7946 0552', 'GB', DATE '2022-04-18', 2000.00, '060061', 'Net 30 terms, approved by finance'),
(20, 'mary.johnson@example.net', 'Mary Johnson', '+1 202-555-0162', 'US', DATE '2024-11-03', 10000.00, '000191', 'Net 30 terms, approved by finance'),
(21, 'zoe.oconnor@example.co.uk', 'Zoë O''Connor', '+1 202-555-0194', 'US', DATE '2019-08-12', 5000.00, '060430', 'Asked for "paperless" invoices'),
(22, 'alvaro.martinez@example.com', 'Álvaro Martínez', '+34 91 858 61 80', 'ES', DATE '2020-09-24', 1000.00, '054602', NULL),
(23, 'liam.tremblay@example.net', 'Liam Tremblay', '+1 613-555-0179', 'CA', DATE '2023-07-12', 2500.00, '025355', NULL),
(24, 'lorenzo.bianchi@example.com', 'Lorenzo Bianchi', '+39 06 1179 5849', 'IT', DATE '2023-03-07', 500.00, '076313', NULL),
(25, 'ida.andersen@mail.example.com', 'Ida Andersen', '+45 52 61 71 54', 'DK', DATE '2021-12-04', 5000.00, '019708', NULL),
(26, 'chiara.colombo@example.org', 'Chiara Colombo', '+39 06 3843 4330', 'IT', DATE '2022-04-28', 5000.00, '072024', 'Asked for "paperless" invoices'),
(27, 'soren.hansen@example.org', 'Søren Hansen', '+45 35 41 69 29', 'DK', DATE '2024-03-27', 1250.50, '008673', NULL),
(28, 'isla.obrien@example.net', 'Isla O''Brien', '+44 20 7946 0215', 'GB', DATE '2020-03-18', 500.00, '040253', NULL),
(29, 'freja.jensen@mail.example.com', 'Freja Jensen', '+45 49 34 60 81', 'DK', DATE '2023-04-21', 500.00, '015601', 'VIP'),
(30, 'ida.jensen@example.org', 'Ida Jensen', '+45 24 64 40 77', 'DK', DATE '2022-06-28', 2000.00, '071861', NULL);
SELECT count(*) AS customers, count(DISTINCT country) AS countries,
       min(signup_date) AS first_signup, max(signup_date) AS last_signup
  FROM customers;
SELECT id, email, name, country, credit_limit, account_code FROM customers ORDER BY id LIMIT 5;

\echo
\echo '==> 2. The weekly export arrives: stage it (server-side file, ir_stage_file)'
\echo '    file:' :'file'
\echo '    325 records: quoted commas and quotes, multi-line addresses, non-ASCII'
\echo '    names, account codes with leading zeros, and a few broken records.'
SELECT ir_stage_file('customers', :'file') AS b1 \gset
\echo '    batch' :b1 'staged; the live table is untouched:'
SELECT count(*) AS customers FROM customers;

\echo
\echo '--- the batch, as ir_batches reports it'
\x on
SELECT batch_id, target, source_name, state, started_by, rows_total, rows_valid,
       rows_rejected, inserted, updated, unchanged, safe_to_retry, last_error,
       source_bytes, source_sha256, load_method, key_columns
  FROM ir_batches WHERE batch_id = :b1;
\x off

\echo '--- counts: every record of the file is in staging, raw'
SELECT b.rows_total AS records_in_file,
       (SELECT count(*) FROM import_rollback.batch_column c WHERE c.batch_id = b.batch_id) AS columns,
       b.rows_total - coalesce(b.rows_rejected, 0) AS well_formed,
       b.rows_rejected AS rejected
  FROM ir_batches b WHERE b.batch_id = :b1;

\echo '--- rejects: records with the wrong number of fields, kept with the reason (ir_rejects)'
SELECT row_no, errors, source->>'id' AS id, source->>'email' AS email, source->>'name' AS name
  FROM ir_rejects(:b1) ORDER BY row_no;

\echo '--- the file''s columns (unmapped ones, like marketing_opt_in, stay in staging)'
SELECT ordinal, header, source_key FROM import_rollback.batch_column
 WHERE batch_id = :b1 ORDER BY ordinal;

\echo '--- a few staged rows, exactly as the file gave them (text, leading zeros kept)'
SELECT row_no, c1 AS id, c3 AS name, c4 AS phone, c7 AS credit_limit, c8 AS account_code, c9 AS notes
  FROM import_rollback.stage_:b1
 WHERE row_no IN (13, 20, 23, 37, 51, 63, 109, 145, 172)
 ORDER BY row_no;

\echo '--- the event log (ir_batch_events)'
SELECT event_id, batch_id, role_name, from_state, to_state, detail
  FROM ir_batch_events WHERE batch_id = :b1 ORDER BY event_id;

\echo
\echo '==> 3. Validate batch' :b1 'against the target and the rules (ir_validate)'
\if :have_validate
SELECT * FROM ir_validate(:b1, '{
  "rules": {
    "required": ["email", "name", "country"],
    "format": {"email": "email"},
    "pattern": {"country": "^[A-Z]{2}$"},
    "max_reject_ratio": 0.05
  }}');
\echo '--- every rejected record with every reason'
SELECT row_no, errors FROM ir_rejects(:b1) ORDER BY row_no;
\else
\echo '    (not yet available)'
\endif

\echo
\echo '==> 4. Review: a spread sample and a column-by-column preview'
\if :have_sample
SELECT row_no, action, mapped->>'name' AS name,
       current->>'credit_limit' AS live_credit_limit, mapped->>'credit_limit' AS new_credit_limit
  FROM ir_sample(:b1, 10) ORDER BY row_no;
\else
\echo '    ir_sample: (not yet available)'
\endif
\if :have_preview
SELECT * FROM ir_preview(:b1) ORDER BY column_name;
\else
\echo '    ir_preview: (not yet available)'
\endif

\echo
\echo '==> 5. Apply batch' :b1 'in one transaction (ir_apply)'
\if :have_apply
SELECT * FROM ir_apply(:b1, '{}');
SELECT count(*) AS customers_now FROM customers;
\echo '--- applying the same batch twice is an error, never a double write:'
\set ON_ERROR_STOP 0
SELECT * FROM ir_apply(:b1, '{}');
\set ON_ERROR_STOP 1
\else
\echo '    (not yet available)'
\endif

\echo
\echo '==> 6. A week later: the next export, sent from the client (ir_stage_begin, COPY FROM STDIN, ir_stage_finish)'
\echo '    header:' :'week2_header'
\echo '    size and SHA-256, computed by the client:' :week2_bytes 'bytes,' :'week2_sha256'
SELECT ir_stage_begin('customers', 'demo_customers_week2.csv',
                      string_to_array(:'week2_header', ','),
                      jsonb_build_object('bytes', :week2_bytes, 'sha256', :'week2_sha256')) AS b2 \gset
SELECT state FROM ir_batches WHERE batch_id = :b2;
SELECT ir_stage_copy_command(:b2) AS copy_command \gset
\echo '    the client runs:' :'copy_command'
\echo '    $ psql -c "$COPY_COMMAND" < demo_customers_week2.csv'
\setenv IR_COPY_COMMAND :copy_command
\! psql -X -q -v ON_ERROR_STOP=1 -c "$IR_COPY_COMMAND" < "$IR_DEMO_WEEK2" && echo '    COPY done'
SELECT ir_stage_finish(:b2) AS rows_loaded \gset
\echo '    ir_stage_finish: ' :rows_loaded 'records staged'
SELECT (:rows_loaded = 43) AS client_copy_ok \gset
\if :client_copy_ok
\else
\echo 'ERROR: the client COPY did not load the 43 records of the file'
SELECT 1 / 0 AS client_copy_failed;
\endif
SELECT batch_id, source_name, state, load_method, rows_total, rows_rejected, source_bytes
  FROM ir_batches WHERE batch_id = :b2;
SELECT from_state, to_state, detail FROM ir_batch_events WHERE batch_id = :b2 ORDER BY event_id;

\echo
\echo '==> 7. Validate and apply batch' :b2
\if :have_apply
SELECT * FROM ir_validate(:b2, '{}');
SELECT * FROM ir_apply(:b2, '{}');
\echo '--- meanwhile a user corrects a phone number by hand (an outside write)'
UPDATE customers SET phone = '+1 202-555-0177' WHERE id = 1020;
\else
\echo '    (not yet available)'
\endif

\echo
\echo '==> 8. Roll back batch' :b1 '(ir_rollback_preview, ir_rollback, ir_changes)'
\if :have_apply
\if :have_rollback_preview
\echo '--- what a rollback would do, and which fields changed since (by batch' :b2 'or by hand)'
SELECT action, status, count(*) AS fields
  FROM ir_rollback_preview(:b1) GROUP BY 1, 2 ORDER BY 1, 2;
SELECT record_key, action, status, column_name, batch_value, current_value, changed_by_batch
  FROM ir_rollback_preview(:b1) WHERE status <> 'restorable'
 ORDER BY record_key::text, column_name LIMIT 12;
\else
\echo '    ir_rollback_preview: (not yet available)'
\endif
\if :have_rollback
\echo '--- by default a conflict stops the rollback, changing nothing:'
\set ON_ERROR_STOP 0
SELECT * FROM ir_rollback(:b1, '{}');
\set ON_ERROR_STOP 1
SELECT state = 'applied' AS still_applied FROM ir_batches WHERE batch_id = :b1 \gset
\if :still_applied
\echo '--- on_conflict=skip restores the rest and leaves the conflicting fields alone:'
SELECT * FROM ir_rollback(:b1, '{"on_conflict": "skip"}');
\endif
SELECT count(*) AS customers_now FROM customers;
\else
\echo '    ir_rollback: (not yet available)'
\endif
\if :have_changes
\echo '--- the change log of batch' :b1 '(ir_changes)'
SELECT action, count(*) AS records FROM ir_changes(:b1) GROUP BY action ORDER BY action;
\else
\echo '    ir_changes: (not yet available)'
\endif
\else
\echo '    (not yet available)'
\endif

\echo
\echo '==> 9. What each file did, and whether it can be run again (ir_batches)'
SELECT batch_id, source_name, state, rows_total, rows_valid, rows_rejected,
       inserted, updated, unchanged, rolled_back_at IS NOT NULL AS rolled_back, safe_to_retry
  FROM ir_batches ORDER BY batch_id;
