--
-- Hijacking by name: a role with CREATE on a schema that holds the
-- target's types (public, here) plants operators and functions for those
-- types, hoping the extension's statements resolve them by name while a
-- superuser runs them.  None is ever called, in any function, and every
-- comparison still means what the type's own opclass says.
--
-- batch ids in this file start at 20000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 20000) AS ids_from \gset
CREATE ROLE regress_ir_mallory;
GRANT CREATE ON SCHEMA public TO regress_ir_mallory;

CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN public.ident AS integer CHECK (VALUE > 0);
CREATE DOMAIN public.label AS text;
CREATE TABLE public.hj_pets (
    id     public.ident PRIMARY KEY,
    name   public.label,
    mood   public.mood,
    score  numeric,
    kind   public.label
);
INSERT INTO hj_pets SELECT g, 'pet ' || g, 'ok', g, 'cat' FROM generate_series(1, 30) g;
CREATE TABLE public.hj_kinds (kind public.label PRIMARY KEY);
INSERT INTO hj_kinds VALUES ('cat'), ('dog');

-- the plants: every call is recorded, then the role tries to become
-- superuser, and the answer is a lie
SET ROLE regress_ir_mallory;
CREATE TABLE public.hijacked (role name, what text);
GRANT INSERT ON public.hijacked TO PUBLIC;
CREATE FUNCTION public.trap(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.hijacked VALUES (current_user, what);
  BEGIN EXECUTE 'ALTER ROLE regress_ir_mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN false;
END $$;
CREATE FUNCTION public.eq_mood(public.mood, public.mood) RETURNS boolean LANGUAGE sql AS $$ SELECT public.trap('= mood') $$;
CREATE FUNCTION public.eq_ident(public.ident, public.ident) RETURNS boolean LANGUAGE sql AS $$ SELECT public.trap('= ident') $$;
CREATE FUNCTION public.eq_label(public.label, public.label) RETURNS boolean LANGUAGE sql AS $$ SELECT public.trap('= label') $$;
CREATE FUNCTION public.ne_label(public.label, public.label) RETURNS boolean LANGUAGE sql AS $$ SELECT public.trap('<> label') $$;
CREATE FUNCTION public.eq_ident_int(public.ident, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT public.trap('= ident int') $$;
CREATE OPERATOR public.= (LEFTARG = public.mood, RIGHTARG = public.mood, FUNCTION = public.eq_mood);
CREATE OPERATOR public.= (LEFTARG = public.ident, RIGHTARG = public.ident, FUNCTION = public.eq_ident);
CREATE OPERATOR public.= (LEFTARG = public.label, RIGHTARG = public.label, FUNCTION = public.eq_label);
CREATE OPERATOR public.<> (LEFTARG = public.label, RIGHTARG = public.label, FUNCTION = public.ne_label);
CREATE OPERATOR public.= (LEFTARG = public.ident, RIGHTARG = integer, FUNCTION = public.eq_ident_int);
CREATE FUNCTION public.length(public.label) RETURNS integer LANGUAGE sql AS $$ SELECT public.trap('length')::int $$;
CREATE FUNCTION public.btrim(public.label) RETURNS text LANGUAGE sql AS $$ SELECT public.trap('btrim')::text $$;
CREATE FUNCTION public.array_agg(public.ident) RETURNS integer[] LANGUAGE sql AS $$ SELECT NULL::integer[] $$;
CREATE FUNCTION public.md5(public.label) RETURNS text LANGUAGE sql AS $$ SELECT public.trap('md5')::text $$;
RESET ROLE;

-- the plants work for anyone who resolves these names
SET ROLE regress_ir_mallory;
SELECT 'ok'::mood = 'ok'::mood AS planted_mood_eq;
RESET ROLE;
SELECT role, what FROM hijacked;
TRUNCATE hijacked;

-- the whole workflow, as a superuser: validation (duplicates, existence,
-- reference, touch ratio, CHECK constraints), review, apply, rollback
ALTER TABLE hj_pets ADD CONSTRAINT pets_score_check CHECK (score >= 0);
SELECT ir_stage('hj_pets', 'pets.csv', E'id,name,mood,score,kind\n1,Rex,happy,1,dog\n2,pet 2,ok,2,cat\n3,Tom,sad,3,cat\n40,New,happy,4,cat\n41,Newer,sad,-1,dog\n41,Dup,ok,5,dog\n42,Bad,ok,6,bird\n43,Tom,ok,7,cat\n44,Twin,ok,8,dog\n45,Twin,ok,8,dog\n') AS b \gset
SELECT * FROM ir_validate(:b, '{"rules": {"reference": {"kind": "public.hj_kinds.kind"},
                                          "unique_in_file": ["name", ["mood", "kind", "score"]],
                                          "allowed": {"mood": ["ok", "sad", "happy"]},
                                          "required": ["name"], "pattern": {"name": "^[A-Za-z]"},
                                          "max_reject_ratio": 1, "max_touch_ratio": 0.5,
                                          "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:b);
SELECT row_no, action, mapped FROM ir_sample(:b, 10);
SELECT * FROM ir_preview(:b);
SELECT * FROM ir_drill(:b);
SELECT * FROM ir_apply(:b);
-- (the checks below cast to base types: the plants catch this file's own queries too)
SELECT id, name, mood, score FROM hj_pets WHERE id::integer IN (1, 2, 3, 40) ORDER BY id::integer;
SELECT record_key, action, status, column_name, batch_value, current_value
  FROM ir_rollback_preview(:b) ORDER BY record_key::text, column_name;
SELECT change_id, row_no, action, record_key FROM ir_changes(:b);
SELECT * FROM ir_rollback(:b);
SELECT count(*) AS rows_back FROM hj_pets WHERE (id::integer, name::text, mood::text, score) IN
       (SELECT g, 'pet ' || g, 'ok', g FROM generate_series(1, 30) g);
SELECT count(*) AS all_rows FROM hj_pets;

-- modes insert and update look records up by key too
SELECT ir_stage('hj_pets', 'insert.csv', E'id,name\n1,One\n50,Fifty\n', '{"mode": "insert"}') AS i \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:i, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:i);
SELECT ir_stage('hj_pets', 'update.csv', E'id,name\n1,One\n60,Sixty\n', '{"mode": "update"}') AS u \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:u, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT * FROM ir_apply(:u);
SELECT * FROM ir_rollback(:u);
SELECT name FROM hj_pets WHERE id::integer = 1;

-- conflicts and their attribution to a later batch compare keys too
SELECT ir_stage('hj_pets', 'a.csv', E'id,name\n5,Five\n') AS ba \gset
SELECT inserted, updated FROM ir_apply(:ba);
SELECT ir_stage('hj_pets', 'b.csv', E'id,name\n5,Cinq\n') AS bb \gset
SELECT inserted, updated FROM ir_apply(:bb);
SELECT record_key, status, column_name, batch_value, current_value, changed_by_batch - :ids_from AS later_batch
  FROM ir_rollback_preview(:ba);
SELECT * FROM ir_rollback(:ba);
SELECT deleted, restored, conflicts FROM ir_rollback(:bb);
SELECT deleted, restored, conflicts FROM ir_rollback(:ba);
SELECT name FROM hj_pets WHERE id::integer = 5;

-- nothing planted ever ran, and the planter is no superuser
SELECT count(*) AS hijacked_calls FROM hijacked;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ir_mallory';

-- a type whose equality lives outside pg_catalog still compares with it:
-- citext keys match case-insensitively in every statement
CREATE EXTENSION citext;
CREATE TABLE hj_people (email citext PRIMARY KEY, name text);
INSERT INTO hj_people SELECT 'p' || g || '@example.com', 'P ' || g FROM generate_series(1, 25) g;
SELECT ir_stage('hj_people', 'hj_people.csv', E'email,name\nP1@EXAMPLE.COM,First\np2@example.com,Second\nP2@example.COM,Again\n') AS c \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:c, '{"rules": {"max_reject_ratio": 1, "mapping_check": "off"}}');
SELECT row_no, errors FROM ir_rejects(:c);
SELECT row_no, action FROM ir_sample(:c, 3);
SELECT * FROM ir_apply(:c);
SELECT record_key, status, column_name FROM ir_rollback_preview(:c);
SELECT * FROM ir_rollback(:c);
SELECT email, name FROM hj_people WHERE email = 'p1@example.com';

-- casts are created by a type's owner: the extension never calls one.  A
-- reference to a column of the planter's enum finds no operator that needs
-- no cast (refused), and the planter's casts of the target's own enum to
-- text and json run in no report
SET ROLE regress_ir_mallory;
CREATE TYPE public.code_t AS ENUM ('A', 'B');
CREATE FUNCTION public.code_text(public.code_t) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('cast code_t'); RETURN textin(enum_out($1)); END $$;
CREATE CAST (public.code_t AS text) WITH FUNCTION public.code_text(public.code_t) AS IMPLICIT;
CREATE TABLE public.hj_codes (code public.code_t PRIMARY KEY);
INSERT INTO public.hj_codes VALUES ('A'), ('B');
GRANT SELECT ON public.hj_codes TO PUBLIC;
CREATE TYPE public.tone AS ENUM ('sad', 'ok', 'happy');
GRANT USAGE ON TYPE public.tone TO PUBLIC;
CREATE FUNCTION public.tone_text(public.tone) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('cast tone text'); RETURN textin(enum_out($1)); END $$;
CREATE CAST (public.tone AS text) WITH FUNCTION public.tone_text(public.tone);
CREATE FUNCTION public.tone_json(public.tone) RETURNS json LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('cast tone json'); RETURN '"x"'; END $$;
CREATE CAST (public.tone AS json) WITH FUNCTION public.tone_json(public.tone);
RESET ROLE;
CREATE TABLE hj_orders (id int PRIMARY KEY, code text, mood public.tone);
INSERT INTO hj_orders SELECT g, 'A', 'ok' FROM generate_series(1, 30) g;
SELECT ir_stage('hj_orders', 'o.csv', E'id,code,mood\n1,A,happy\n3,C,sad\n40,B,ok\n') AS o \gset
SELECT * FROM ir_validate(:o, '{"rules": {"reference": {"code": "public.hj_codes.code"}}}');
SELECT state, rows_valid FROM ir_validate(:o, '{"rules": {"max_reject_ratio": 1}}');
SELECT row_no, action, mapped, "current" FROM ir_sample(:o, 3);
SELECT * FROM ir_preview(:o);
SELECT inserted, updated FROM ir_apply(:o);
SELECT record_key, column_name, batch_value, current_value FROM ir_rollback_preview(:o) ORDER BY 1, 2;
SELECT change_id, record_key, old_values, new_values FROM ir_changes(:o);
SELECT deleted, restored FROM ir_rollback(:o);
SELECT count(*) AS hijacked_calls FROM hijacked;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ir_mallory';

-- settings user code changes inside a batch's statements end with them: a
-- CHECK constraint's function that sets search_path (to where the planter
-- put unnest and array_remove for bigint[]) changes no name the
-- extension's next statements resolve, and the caller's own path is back
-- after
SET ROLE regress_ir_mallory;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('unnest'); RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.array_remove(bigint[], bigint) RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('array_remove'); RETURN pg_catalog.array_remove($1, $2); END $$;
CREATE FUNCTION public.cardinality(bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN PERFORM public.trap('cardinality'); RETURN pg_catalog.cardinality($1); END $$;
RESET ROLE;
CREATE FUNCTION valid_sku(s text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN SET search_path = public, pg_catalog; RETURN s ~ '^[A-Z]'; END $$;
CREATE TABLE hj_items (id int PRIMARY KEY, sku text CHECK (valid_sku(sku)));
INSERT INTO hj_items SELECT g, 'S' || g FROM generate_series(1, 30) g;
RESET search_path;
SHOW search_path;
SELECT ir_stage('hj_items', 'i.csv', E'id,sku\n1,S1\n2,bad\n40,S40\n40,S41\n') AS it \gset
SELECT state, rows_valid, rows_rejected FROM ir_validate(:it, '{"rules": {"mapping_check": "off", "max_reject_ratio": 1}}');
SELECT row_no, errors FROM ir_rejects(:it);
SHOW search_path;
SELECT count(*) AS hijacked_calls FROM hijacked;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ir_mallory';

-- a role switch by user code ends with the pass that ran it, and the
-- access lent to the caller goes back from that role: neither keeps it
CREATE ROLE regress_ir_bob;
CREATE ROLE regress_ir_bob2;
GRANT regress_ir_bob2 TO regress_ir_bob;
CREATE FUNCTION switch_role(s text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN IF current_user = 'regress_ir_bob' THEN SET ROLE regress_ir_bob2; END IF; RETURN true; END $$;
CREATE TABLE hj_things (id int PRIMARY KEY, name text CHECK (switch_role(name)));
GRANT SELECT, INSERT, UPDATE, DELETE ON hj_things TO regress_ir_bob;
SET ROLE regress_ir_bob;
SELECT ir_stage('hj_things', 't.csv', E'id,name\n1,one\n2,two\n') AS th \gset
SELECT state FROM ir_validate(:th, '{"rules": {"mapping_check": "off"}}');
SELECT current_user;
RESET ROLE;
SELECT has_table_privilege('regress_ir_bob', 'import_rollback.stage_' || :th, 'SELECT') AS bob_reads,
       has_column_privilege('regress_ir_bob', 'import_rollback.stage_' || :th, 'status', 'UPDATE') AS bob_marks,
       has_table_privilege('regress_ir_bob2', 'import_rollback.stage_' || :th, 'SELECT') AS bob2_reads;

DROP TABLE hj_orders, hj_items, hj_things;
DROP FUNCTION valid_sku(text), switch_role(text);
DROP OWNED BY regress_ir_bob, regress_ir_bob2;
DROP ROLE regress_ir_bob, regress_ir_bob2;
DROP CAST (public.code_t AS text);
DROP CAST (public.tone AS text);
DROP CAST (public.tone AS json);
SET client_min_messages = warning;
DROP OWNED BY regress_ir_mallory CASCADE;
RESET client_min_messages;
REVOKE CREATE ON SCHEMA public FROM regress_ir_mallory;
DROP ROLE regress_ir_mallory;
