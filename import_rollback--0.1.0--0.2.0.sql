/* import_rollback--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION import_rollback UPDATE TO '0.2.0'" to load this file. \quit

-- Every object this script creates or changes is created the same way by
-- import_rollback--0.2.0.sql; test/t/004_upgrade.pl checks that an updated
-- database and a fresh 0.2.0 install hold the same objects.

-- Are two values the same datum, bit for bit (NULL = NULL)?  The test the
-- change-log trigger logs writes with, for the SQL of rollbacks.
CREATE FUNCTION import_rollback.ir_same(a anyelement, b anyelement)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ir_same'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- A value as its type's output function writes it: reports show values
-- this way, never through a cast that a type's owner could have created.
CREATE FUNCTION import_rollback.ir_text(value anyelement)
RETURNS text
AS 'MODULE_PATHNAME', 'ir_text'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- Batches and tracked targets are bound to the table itself, not only to
-- its name (see import_rollback--0.2.0.sql): existing rows are bound to
-- the table their names name now.
ALTER TABLE import_rollback.batch ADD COLUMN target_relid regclass;
UPDATE import_rollback.batch b SET target_relid = c.oid
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE n.nspname OPERATOR(pg_catalog.=) b.target_schema AND c.relname OPERATOR(pg_catalog.=) b.target_table;
CREATE INDEX batch_target_relid_idx ON import_rollback.batch (target_relid);
ALTER TABLE import_rollback.tracked_table DROP CONSTRAINT tracked_table_pkey;
ALTER TABLE import_rollback.tracked_table ADD COLUMN target_relid regclass;
UPDATE import_rollback.tracked_table t SET target_relid = c.oid
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE n.nspname OPERATOR(pg_catalog.=) t.target_schema AND c.relname OPERATOR(pg_catalog.=) t.target_table;
CREATE UNIQUE INDEX tracked_table_relid_idx ON import_rollback.tracked_table (target_relid);

-- Retention (ir_purge) and large-object staging.
ALTER TABLE import_rollback.batch ADD COLUMN purged_at timestamptz;
-- Runs (below): the run a batch is a member of.
ALTER TABLE import_rollback.batch ADD COLUMN run_id bigint;
ALTER TABLE import_rollback.batch DROP CONSTRAINT batch_load_method_check,
  ADD CONSTRAINT batch_load_method_check
      CHECK (load_method IN ('data', 'file', 'client', 'large_object'));

CREATE OR REPLACE VIEW @extschema@.ir_batches WITH (security_barrier) AS
SELECT b.batch_id,
       pg_catalog.format('%I.%I', COALESCE(n.nspname, b.target_schema),
                         COALESCE(c.relname, b.target_table)) AS target,
       b.source_name,
       b.state,
       b.started_by::text AS started_by,
       b.started_at,
       b.rows_total,
       b.rows_valid,
       b.rows_rejected,
       b.inserted,
       b.updated,
       b.unchanged,
       b.rolled_back_at,
       (b.state OPERATOR(pg_catalog.<>) 'applied'
        AND COALESCE(b.rollback_leftovers, 0) OPERATOR(pg_catalog.=) 0) AS safe_to_retry,
       b.last_error,
       b.source_bytes,
       pg_catalog.encode(b.source_sha256, 'hex') AS source_sha256,
       b.load_method,
       b.key_columns,
       b.options,
       b.staged_at,
       b.validated_at,
       b.applied_at,
       b.ended_at,
       b.purged_at,
       b.run_id
  FROM import_rollback.batch b
  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) b.target_relid
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE b.started_by OPERATOR(pg_catalog.=) CURRENT_USER
    OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r
         WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
    OR (c.oid IS NOT NULL
        AND pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE'));

-- A dropped target leaves its batches (their rows, rejects and logs are
-- kept): they are unbound from its OID, which the server may reuse.
CREATE FUNCTION import_rollback.ir_dropped()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'ir_dropped'
LANGUAGE C;
CREATE EVENT TRIGGER import_rollback_dropped ON sql_drop
    EXECUTE FUNCTION import_rollback.ir_dropped();

--
-- 0.2.0: files of any size, filtered reports, retention
--

CREATE FUNCTION @extschema@.ir_stage_large_object(target regclass, source_name text, loid oid,
                                                  options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_stage_large_object'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage_large_object(regclass, text, oid, jsonb)
    IS 'create a batch for target and stage a CSV file uploaded as a large object raw into it';

CREATE FUNCTION @extschema@.ir_changes(batch bigint, record_key jsonb)
RETURNS TABLE(change_id bigint, row_no bigint, action text, record_key jsonb,
              old_values jsonb, new_values jsonb)
AS 'MODULE_PATHNAME', 'ir_changes'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_changes(bigint, jsonb)
    IS 'every write of a batch to one record, by its key';

CREATE FUNCTION @extschema@.ir_rollback_preview(batch bigint, status text)
RETURNS TABLE(record_key jsonb, action text, status text, column_name text,
              batch_value text, current_value text, changed_by_batch bigint)
AS 'MODULE_PATHNAME', 'ir_rollback_preview'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_rollback_preview(bigint, text)
    IS 'the fields of the rollback preview with one status: restorable, conflict or gone';

CREATE FUNCTION @extschema@.ir_purge(older_than interval, options jsonb DEFAULT '{}')
RETURNS TABLE(batch_id bigint, state text, freed_bytes bigint)
AS 'MODULE_PATHNAME', 'ir_purge'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_purge(interval, jsonb)
    IS 'drop the staging tables and change logs of batches ended (or left unfinished) that long ago';

-- Transforms and lookups: the text steps of a mapped column (null_if,
-- transform, date or timestamp format) and a lookup into another table,
-- as the generated statements call them (transform.c, lookup.c).
CREATE FUNCTION import_rollback.ir_prepare(value text, null_if text[], steps text[],
                                           date_format text, timestamp_format text)
RETURNS text
AS 'MODULE_PATHNAME', 'ir_prepare'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION import_rollback.ir_lookup(value text, lookup oid, match name, ret name,
                                          ignore_case boolean, target anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'ir_lookup'
LANGUAGE C STABLE PARALLEL RESTRICTED;

--
-- 0.2.0: runs (several batches applied and rolled back as one unit),
-- cascade rollback
--
CREATE SEQUENCE import_rollback.run_id_seq;

-- A run: the batches staged with {"run": run_id} are its members, applied
-- together in one transaction (parents first, by the targets' foreign
-- keys) and rolled back together.
CREATE TABLE import_rollback.run (
    run_id          bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('import_rollback.run_id_seq'),
    name            text NOT NULL,
    options         jsonb NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('open', 'applied', 'rolled_back', 'failed', 'cancelled')),
    started_by      name NOT NULL,
    started_at      timestamptz NOT NULL,
    applied_at      timestamptz,
    rolled_back_at  timestamptz,
    ended_at        timestamptz,
    last_error      text
);

CREATE SEQUENCE import_rollback.run_event_id_seq;

-- Every state transition of every run, with time and role.
CREATE TABLE import_rollback.run_event (
    event_id        bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('import_rollback.run_event_id_seq'),
    run_id          bigint NOT NULL REFERENCES import_rollback.run,
    event_at        timestamptz NOT NULL,
    role_name       name NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    detail          text
);
CREATE INDEX run_event_run_idx ON import_rollback.run_event (run_id);

ALTER TABLE import_rollback.batch
    ADD CONSTRAINT batch_run_id_fkey FOREIGN KEY (run_id) REFERENCES import_rollback.run;
CREATE INDEX batch_run_idx ON import_rollback.batch (run_id);

REVOKE ALL ON import_rollback.run, import_rollback.run_event FROM PUBLIC;
REVOKE ALL ON SEQUENCE import_rollback.run_id_seq, import_rollback.run_event_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('import_rollback.run', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.run_event', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.run_event_id_seq', '');

-- Runs visible to the caller: those it started, those with a member it
-- can see, and all of them for superusers.
CREATE VIEW @extschema@.ir_runs WITH (security_barrier) AS
SELECT r.run_id,
       r.name,
       r.state,
       (SELECT pg_catalog.count(*) FROM import_rollback.batch b
         WHERE b.run_id OPERATOR(pg_catalog.=) r.run_id) AS batches,
       r.started_by::text AS started_by,
       r.started_at,
       r.applied_at,
       r.rolled_back_at,
       r.last_error,
       r.options,
       r.ended_at
  FROM import_rollback.run r
 WHERE r.started_by OPERATOR(pg_catalog.=) CURRENT_USER
    OR (SELECT u.rolsuper FROM pg_catalog.pg_roles u
         WHERE u.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
    OR EXISTS (SELECT 1 FROM @extschema@.ir_batches v
                WHERE v.run_id OPERATOR(pg_catalog.=) r.run_id);
COMMENT ON VIEW @extschema@.ir_runs IS 'runs of several batches, their state and members';

CREATE VIEW @extschema@.ir_run_events WITH (security_barrier) AS
SELECT e.event_id, e.run_id, e.event_at, e.role_name::text AS role_name,
       e.from_state, e.to_state, e.detail
  FROM import_rollback.run_event e
 WHERE EXISTS (SELECT 1 FROM @extschema@.ir_runs v
                WHERE v.run_id OPERATOR(pg_catalog.=) e.run_id);
COMMENT ON VIEW @extschema@.ir_run_events IS 'state transitions of the runs visible to the caller';

GRANT SELECT ON @extschema@.ir_runs, @extschema@.ir_run_events TO PUBLIC;

CREATE FUNCTION @extschema@.ir_run_create(name text, options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_run_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_run_create(text, jsonb)
    IS 'open a run: batches staged with {"run": id} are applied and rolled back together';

CREATE FUNCTION @extschema@.ir_run_apply(run bigint, options jsonb DEFAULT '{}')
RETURNS TABLE(batch_id bigint, target text, inserted bigint, updated bigint,
              unchanged bigint, rejected bigint)
AS 'MODULE_PATHNAME', 'ir_run_apply'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_run_apply(bigint, jsonb)
    IS 'validate and apply every member of a run in one transaction, parents first, guards after the last write';

CREATE FUNCTION @extschema@.ir_run_rollback(run bigint, options jsonb DEFAULT '{}')
RETURNS TABLE(batch_id bigint, target text, deleted bigint, restored bigint, conflicts bigint)
AS 'MODULE_PATHNAME', 'ir_run_rollback'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_run_rollback(bigint, jsonb)
    IS 'roll every member of an applied run back in one transaction, children first';

CREATE FUNCTION @extschema@.ir_run_cancel(run bigint, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'ir_run_cancel'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_run_cancel(bigint, text)
    IS 'discard a run that has not been applied, and its members';

CREATE FUNCTION @extschema@.ir_rollback_plan(batch bigint)
RETURNS TABLE(step int, batch_id bigint, source_name text, applied_at timestamptz, records bigint)
AS 'MODULE_PATHNAME', 'ir_rollback_plan'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_rollback_plan(bigint)
    IS 'what ir_rollback(batch, ''{"cascade": true}'') would roll back, in order';

-- The built-in formats of the "format" rule (email, phone, url), checked in
-- C (formats.c): the generated validation statements call it.
CREATE FUNCTION import_rollback.ir_format(value text, format int)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ir_format'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
