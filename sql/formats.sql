--
-- The built-in formats of the "format" rule, checked in C: what each
-- accepts and refuses, blanks (ASCII and Unicode, no-break space
-- included), and the rule through a validation.
--
-- email: one "@", something before it, a dot in the domain with
-- something on both sides, no blank
SELECT to_json(v) AS v, import_rollback.ir_format(v, 1) AS email
  FROM (VALUES ('ann@example.com'), ('a.b+c@mail.example.co.uk'), ('a@b.c'), ('a@.b.c'),
               ('ann@example'), ('@example.com'), ('ann@@example.com'), ('ann@ex@ample.com'),
               ('ann@example.'), ('ann@.com'), ('ann @example.com'), (E'ann@example.com\t'),
               (E'ann\u00a0@example.com'), (E'ann@exa\u3000mple.com'), ('anné@exämple.com'),
               ('ann@example.c')) AS t(v);
-- phone: an optional leading "+", then digits, spaces, ( ) . - only, 6 to 15 digits
SELECT to_json(v) AS v, import_rollback.ir_format(v, 2) AS phone
  FROM (VALUES ('+49 (30) 123-456'), ('030.123.456'), ('123456'), ('12345'), ('1234567890123456'),
               ('+1 555 0100 x12'), ('++49 30 123456'), ('49+30123456'), ('(0) 30 / 123456'),
               ('--------'), ('+123456789012345')) AS t(v);
-- url: http:// or https://, a host, no blank
SELECT to_json(v) AS v, import_rollback.ir_format(v, 3) AS url
  FROM (VALUES ('https://example.com'), ('http://example.com/a?b=c#d'), ('https://x'), ('https://'),
               ('http:///path'), ('https://?q'), ('ftp://example.com'), ('HTTPS://example.com'),
               ('https://exa mple.com'), (E'https://example.com/\u2028')) AS t(v);
SELECT import_rollback.ir_format(NULL, 1) IS NULL AS strict;

-- through a validation: blank values are left to "required"
CREATE TABLE fm_contacts (id int PRIMARY KEY, email text, phone text, site text);
SELECT ir_stage('fm_contacts', 'contacts.csv', $$id,email,phone,site
1,ann@example.com,+49 30 123456,https://example.com
2,not an email,12,example.com
3,,,
$$) AS b \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:b, '{"rules": {"format": {"email": "email",
  "phone": "phone", "site": "url"}, "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:b);
DROP TABLE fm_contacts;
