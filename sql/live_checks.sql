--
-- What the database would check at apply time, checked in staging: the
-- target's foreign keys (composite, MATCH SIMPLE and FULL, as the
-- referenced table's owner), its unique indexes other than the key (in
-- the file and against live records, NULLs and partial predicates as
-- PostgreSQL treats them, deferrable ones too); rows excluded by hand;
-- apply errors that still happen name the source row.
--
-- batch ids in this file start at 32000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 32000) AS ids_from \gset
CREATE ROLE regress_ir_refowner;
CREATE ROLE regress_ir_importer;
CREATE TABLE lc_countries (code char(2) PRIMARY KEY);
CREATE TABLE lc_regions (country char(2), region text, PRIMARY KEY (country, region));
ALTER TABLE lc_countries OWNER TO regress_ir_refowner;
ALTER TABLE lc_regions OWNER TO regress_ir_refowner;
INSERT INTO lc_countries VALUES ('DE'), ('FR');
INSERT INTO lc_regions VALUES ('DE', 'BY'), ('FR', 'IDF');
CREATE TABLE lc_people (
    id       int PRIMARY KEY,
    email    text UNIQUE,
    country  char(2) REFERENCES lc_countries,
    region   text,
    nick     text,
    badge    text,
    FOREIGN KEY (country, region) REFERENCES lc_regions MATCH FULL
);
CREATE UNIQUE INDEX lc_people_nick ON lc_people (nick) WHERE nick <> 'none';
ALTER TABLE lc_people ADD CONSTRAINT lc_people_badge UNIQUE NULLS NOT DISTINCT (badge) DEFERRABLE INITIALLY DEFERRED;
INSERT INTO lc_people VALUES (1, 'a@x', 'DE', 'BY', 'ann', 'b1');
GRANT SELECT, INSERT, UPDATE ON lc_people TO regress_ir_importer;

-- the importer may not read the referenced tables: the keys are checked
-- as their owner would, as PostgreSQL's own foreign-key check does
SET ROLE regress_ir_importer;
SELECT ir_stage('lc_people', 'people.csv', $$id,email,country,region,nick,badge
1,a@x,DE,BY,ann,b1
2,a@x,FR,IDF,bob,b2
3,c@x,XX,BY,none,b3
4,d@x,DE,ZZ,none,b4
5,e@x,DE,BY,ann,b5
6,f@x,,,x,b6
7,g@x,DE,,y,b7
8,h@x,FR,IDF,none,
9,i@x,FR,IDF,none,
10,j@x,FR,IDF,zed,b1
$$, '{"rules": {"mapping_check": "off", "max_reject_ratio": 1}}') AS b \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:b);
SELECT row_no, errors FROM ir_rejects(:b);
SELECT * FROM lc_countries;
\echo :SQLSTATE

-- a row set aside by hand, with a reason, kept through re-validation
SELECT state, rows_valid FROM ir_validate(:b, '{"exclude": {"rows": [6], "reason": "duplicate of a CRM contact"}}');
SELECT row_no, errors FROM ir_rejects(:b) WHERE row_no = 6;
SELECT state, rows_valid FROM ir_validate(:b);
SELECT row_no, errors FROM ir_rejects(:b) WHERE row_no = 6;
SELECT state, rows_valid FROM ir_validate(:b, '{"exclude": null}');
SELECT count(*) AS excluded FROM ir_rejects(:b) WHERE 'excluded: duplicate of a CRM contact' = ANY (errors);
SELECT ir_validate(:b, '{"exclude": {"rows": [0], "reason": "x"}}');
\echo :SQLSTATE
SELECT ir_validate(:b, '{"exclude": {"rows": [6]}}');
\echo :SQLSTATE
SELECT ir_validate(:b, '{"exclude": {"row": [6], "reason": "x"}}');
\echo :SQLSTATE

-- the valid rows apply; nothing the checks passed fails
SELECT inserted, updated, rejected FROM ir_apply(:b);
SELECT id, email, country, region, nick, badge FROM lc_people ORDER BY id;
RESET ROLE;

-- a constraint the staging checks cannot see (an expression index) fails
-- the apply, naming the source row, with no generated SQL in the error
CREATE UNIQUE INDEX lc_people_lower_email ON lc_people (lower(email));
SELECT ir_stage('lc_people', 'upper.csv', E'id,email\n20,A@X\n', '{"rules": {"mapping_check": "off"}}') AS u \gset
SELECT state FROM ir_validate(:u);
\set VERBOSITY default
SELECT * FROM ir_apply(:u);
\echo :SQLSTATE
SELECT count(*) FROM lc_people WHERE id = 20;
SELECT ir_cancel(:u, 'test');

DROP TABLE lc_people, lc_regions, lc_countries;
DROP ROLE regress_ir_refowner, regress_ir_importer;
