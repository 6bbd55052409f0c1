--
-- Pattern rules.  A pattern of one bracket expression over the whole
-- value ("^[0-9 -]+$") is matched in C by a table of ASCII bytes, any
-- other pattern, and any non-ASCII value, by PostgreSQL's regex engine:
-- each pattern below must reject exactly the rows "value !~ pattern"
-- names (empty values and NULLs are left to "required").
--
CREATE TABLE pt_codes (id int PRIMARY KEY, v text);
SELECT ir_stage('pt_codes', 'codes.csv', $$id,v
1,123
2,12-34 56
3,abc
4,ABC
5,a1
6,
7,"   "
8,٣٤٥
9,12é
10,-
11,+-.
12,x]
13,"a
b"
14,1234567
15,12
16,^a
17,a-z
18,\d
$$) AS b \gset
-- the rows the engine itself rejects, read from the staging table (c2 is v)
CREATE FUNCTION pt_try(b bigint, pat text)
  RETURNS TABLE (pattern text, agrees boolean, rejected bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  got bigint[];
  want bigint[];
BEGIN
  PERFORM ir_validate(b, jsonb_build_object('rules', jsonb_build_object(
            'pattern', jsonb_build_object('v', pat), 'max_reject_ratio', 1, 'mapping_check', 'off')));
  SELECT coalesce(array_agg(r.row_no ORDER BY r.row_no), '{}') INTO got FROM ir_rejects(b) r;
  EXECUTE format('SELECT coalesce(array_agg(row_no ORDER BY row_no), ''{}'')'
                 ' FROM import_rollback.stage_%s WHERE (status IS NULL OR status = ''rejected'') AND c2 <> '''' AND c2 !~ $1', b)
    INTO want USING pat;
  RETURN QUERY SELECT pat, got = want, got;
END $$;
SELECT p.* FROM unnest(ARRAY[
    '^[0-9]+$', '^[0-9 -]+$', '^[0-9+() .-]+$', '^[a-z]*$', '^[A-Za-z]+$', '^[^0-9]+$',
    '^[0-9]{3}$', '^[0-9]{2,3}$', '^[0-9]{5,}$', '^[a-z0-9]$', '^[-+.]+$', '^[+-.]+$',
    '^[x\]]+$', '^[[:digit:]]+$', '^[\d]+$', '^[a-z-]+$', '^[a-]{1,3}$', '^[ ]+$',
    '^[^a]+$', '^[0-9]+', '[0-9]+$', '^[0-9]+$|^abc$', '^[0-9]{0}$', '^[0-9]{1,}$',
    '^[^^]+$', '^[0-9]+?$', '^[0-9]{01,3}$'
  ]) AS pat(v)
  CROSS JOIN LATERAL pt_try(:b, pat.v) AS p;
-- the reasons are the same whichever way a value was matched
SELECT state, rows_valid, rows_rejected
  FROM ir_validate(:b, '{"rules": {"pattern": {"v": "^[0-9 -]+$"}, "max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:b) WHERE row_no IN (3, 8, 9, 13, 18) ORDER BY row_no;
-- a pattern the engine cannot compile fails the validation before any row is read
SELECT ir_validate(:b, '{"rules": {"pattern": {"v": "^[0-9"}}}');
SELECT ir_validate(:b, '{"rules": {"pattern": {"v": "^[0-9]{3,2}$"}}}');
SELECT ir_validate(:b, '{"rules": {"pattern": {"v": "^[0-9]{256}$"}}}');
SELECT state FROM ir_batches WHERE batch_id = :b;
DROP FUNCTION pt_try(bigint, text);
DROP TABLE pt_codes;
