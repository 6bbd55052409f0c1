--
-- ir_apply: one set-based, logged, idempotent write of the valid rows.
--
-- batch ids in this file start at 13000, whatever ran before
SELECT setval('import_rollback.batch_id_seq', 13000) AS ids_from \gset

CREATE TABLE members (
    id          integer PRIMARY KEY,
    email       text NOT NULL,
    balance     numeric(12,3) NOT NULL DEFAULT 0,
    tags        text[],
    profile     jsonb,
    seen        timestamptz,
    note        text DEFAULT 'none',
    serial      integer GENERATED ALWAYS AS IDENTITY,
    email_lower text GENERATED ALWAYS AS (lower(email)) STORED
);
INSERT INTO members (id, email, balance, tags, profile, seen)
SELECT g, 'user' || g || '@example.com', g * 1.5, ARRAY['t' || g], jsonb_build_object('n', g),
       '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 40) g;

-- a file with an update (four fields of record 1), two unchanged rows
-- (3.000 is 3, 4.5 is 4.500), an insert, and a rejected row
SELECT ir_stage('members', 'members-1.csv', $$id,email,balance,tags,profile
1,USER1@example.com,1.990,"{a,""b c""}","{""k"": [1, 2.50]}"
2,user2@example.com,3.000,{t2},"{""n"": 2}"
3,user3@example.com,4.5,{t3},"{""n"": 3}"
41,new41@example.com,0.5,{},"{}"
42,new42@example.com,not-a-number,{},"{}"
$$, '{"rules": {"max_reject_ratio": 0.5}}') AS a \gset

-- staged: ir_apply validates first; counts add up
SELECT * FROM ir_apply(:a);
SELECT state, rows_total, rows_valid, rows_rejected, inserted, updated, unchanged,
       inserted + updated + unchanged = rows_valid AS adds_up, safe_to_retry
  FROM ir_batches WHERE batch_id = :a;
-- unmapped columns kept on update, defaulted on insert; generated ones computed
SELECT id, email, balance, tags, profile, seen, note, serial, email_lower
  FROM members WHERE id IN (1, 2, 3, 41) ORDER BY id;
-- the log: exactly the changed columns, values as the types print them
SELECT change_id, row_no, action, record_key, old_values, new_values FROM ir_changes(:a);

-- applying twice is an error, never a double write
SELECT * FROM ir_apply(:a);
\echo :SQLSTATE
-- the same file again, as a new batch, changes and logs nothing
SELECT ir_stage('members', 'members-1 (again).csv', $$id,email,balance,tags,profile
1,USER1@example.com,1.990,"{a,""b c""}","{""k"": [1, 2.50]}"
2,user2@example.com,3.000,{t2},"{""n"": 2}"
3,user3@example.com,4.5,{t3},"{""n"": 3}"
41,new41@example.com,0.5,{},"{}"
$$) AS again \gset
SELECT * FROM ir_apply(:again);
SELECT count(*) AS logged FROM ir_changes(:again);

-- mode insert and update
SELECT ir_stage('members', 'inserts.csv', E'id,email\n50,a50@example.com\n51,a51@example.com\n',
                '{"mode": "insert"}') AS ins \gset
SELECT * FROM ir_apply(:ins);
SELECT ir_stage('members', 'updates.csv', E'id,balance\n50,9\n51,9\n1,1.990\n',
                '{"mode": "update"}') AS upd \gset
SELECT * FROM ir_apply(:upd);
SELECT id, balance FROM members WHERE id IN (1, 50, 51) ORDER BY id;

-- a record deleted between validation and apply fails an update batch
SELECT ir_stage('members', 'updates-2.csv', E'id,balance\n50,10\n51,10\n', '{"mode": "update"}') AS upd2 \gset
SELECT state FROM ir_validate(:upd2);
DELETE FROM members WHERE id = 51;
SELECT * FROM ir_apply(:upd2);
\echo :SQLSTATE
SELECT state FROM ir_batches WHERE batch_id = :upd2;
SELECT balance FROM members WHERE id = 50;

-- all or nothing: an error while writing leaves the target as it was,
-- names the source row, and the batch can be applied once fixed
CREATE TABLE snapshot AS SELECT * FROM members;
CREATE FUNCTION refuse_big() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF NEW.balance > 1000 THEN RAISE EXCEPTION 'balance % too big', NEW.balance; END IF; RETURN NEW; END $$;
CREATE TRIGGER refuse_big BEFORE INSERT OR UPDATE ON members FOR EACH ROW EXECUTE FUNCTION refuse_big();
SELECT ir_stage('members', 'big.csv', E'id,email,balance\n60,a60@example.com,1\n61,a61@example.com,5000\n62,a62@example.com,2\n') AS big \gset
\set VERBOSITY default
SELECT * FROM ir_apply(:big);
SELECT state, inserted FROM ir_batches WHERE batch_id = :big;
SELECT count(*) AS differences FROM (SELECT * FROM members EXCEPT SELECT * FROM snapshot) d;
DROP TRIGGER refuse_big ON members;
SELECT * FROM ir_apply(:big);

-- the change log is written under session_replication_role = replica too
SET session_replication_role = replica;
SELECT ir_stage('members', 'replica.csv', E'id,note\n2,replicated\n') AS rep \gset
SELECT * FROM ir_apply(:rep);
SELECT action, old_values, new_values FROM ir_changes(:rep);
RESET session_replication_role;
-- ... and a disabled change-log trigger makes apply refuse
ALTER TABLE members DISABLE TRIGGER import_rollback_changelog;
SELECT ir_stage('members', 'disabled.csv', E'id,note\n2,x\n') AS dis \gset
SELECT * FROM ir_apply(:dis);
\echo :SQLSTATE
ALTER TABLE members ENABLE ALWAYS TRIGGER import_rollback_changelog;
SELECT * FROM ir_apply(:dis);

-- plain application writes are not logged
UPDATE members SET note = 'by the application' WHERE id = 2;
SELECT count(*) AS undo_or_app_rows FROM ir_changes(:dis) WHERE action <> 'update';

-- wrong states and bad calls
SELECT ir_stage('members', 'failing.csv', E'id,balance\n1,x\n') AS f \gset
SELECT state FROM ir_validate(:f);
SELECT * FROM ir_apply(:f);
\echo :SQLSTATE
SELECT ir_cancel(:f, 'bad file');
SELECT * FROM ir_apply(:f);
\echo :SQLSTATE
SELECT * FROM ir_apply(:a, '{"force": true}');
\echo :SQLSTATE
SELECT * FROM ir_apply(NULL);
\echo :SQLSTATE
SELECT * FROM ir_apply(:a, NULL);
\echo :SQLSTATE

-- ir_drill: apply, roll back and verify, then undo it all
SELECT ir_stage('members', 'drill.csv', E'id,email,balance\n1,drill@example.com,7\n70,a70@example.com,1\n') AS d \gset
CREATE TABLE before_drill AS SELECT * FROM members;
SELECT * FROM ir_drill(:d);
SELECT state FROM ir_batches WHERE batch_id = :d;
SELECT count(*) AS changed FROM (SELECT * FROM members EXCEPT SELECT * FROM before_drill) x;
SELECT count(*) AS logged FROM ir_changes(:d);
SELECT * FROM ir_apply(:d);

-- untracking: refused while a batch could still be rolled back
SELECT ir_untrack('members');
\echo :SQLSTATE

-- a trigger that rewrites a key makes the write un-undoable: apply refuses
CREATE FUNCTION rekey() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF NEW.note = 'rekey' THEN NEW.id := NEW.id + 1000; END IF; RETURN NEW; END $$;
CREATE TRIGGER rekey BEFORE UPDATE ON members FOR EACH ROW EXECUTE FUNCTION rekey();
SELECT ir_stage('members', 'rekey.csv', E'id,note\n4,rekey\n') AS rk \gset
SELECT * FROM ir_apply(:rk);
\echo :SQLSTATE
SELECT state FROM ir_batches WHERE batch_id = :rk;
SELECT id, note FROM members WHERE id IN (4, 1004);
DROP TRIGGER rekey ON members;
-- a trigger that deletes during the apply: logged, and rollback refuses
CREATE FUNCTION evict() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF NEW.note = 'evict' THEN DELETE FROM public.members WHERE id = 5; END IF; RETURN NULL; END $$;
CREATE TRIGGER evict AFTER UPDATE ON members FOR EACH ROW EXECUTE FUNCTION evict();
SELECT ir_stage('members', 'evict.csv', E'id,note\n4,evict\n') AS ev \gset
SELECT inserted, updated FROM ir_apply(:ev);
SELECT action, old_values->>'id' AS old_id FROM ir_changes(:ev) ORDER BY change_id;
SELECT * FROM ir_rollback(:ev);
\echo :SQLSTATE
SELECT state FROM ir_batches WHERE batch_id = :ev;
DROP TRIGGER evict ON members;
-- a look-alike change-log trigger (here: one that never fires) is refused
DROP TRIGGER import_rollback_changelog ON members;
CREATE TRIGGER import_rollback_changelog AFTER INSERT OR UPDATE OR DELETE ON members
  FOR EACH ROW WHEN (false) EXECUTE FUNCTION import_rollback.ir_changelog();
ALTER TABLE members ENABLE ALWAYS TRIGGER import_rollback_changelog;
SELECT ir_stage('members', 'lookalike.csv', E'id,note\n4,look\n') AS la \gset
SELECT * FROM ir_apply(:la);
\echo :SQLSTATE
-- dropped, it is installed again by the next apply
DROP TRIGGER import_rollback_changelog ON members;
SELECT inserted, updated FROM ir_apply(:la);
SELECT action, new_values FROM ir_changes(:la);
