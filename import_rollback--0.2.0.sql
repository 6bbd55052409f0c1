/* import_rollback--0.2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION import_rollback" to load this file. \quit

--
-- Internal schema.  Ordinary roles get USAGE only: every table in it is
-- owned by the extension owner and written by the extension's C functions,
-- which switch to that owner around catalog and staging writes.  The one
-- exception is the client staging path, which grants a loader INSERT on the
-- data columns of its own batch's staging table until the batch is staged.
--
CREATE SCHEMA import_rollback;
COMMENT ON SCHEMA import_rollback IS 'import_rollback internal catalog and per-batch staging tables';
REVOKE ALL ON SCHEMA import_rollback FROM PUBLIC;
GRANT USAGE ON SCHEMA import_rollback TO PUBLIC;

CREATE SEQUENCE import_rollback.batch_id_seq;

-- One row per file.  The target is kept by name, as it was when the file
-- was staged, and by regclass (target_relid): a batch follows its table
-- through renames and belongs to no other table created under its old
-- name; pg_dump writes a regclass as the table's name and pg_upgrade keeps
-- relation OIDs.  Dropping the target clears target_relid (the event
-- trigger import_rollback_dropped), so no OID is left to be reused.
CREATE TABLE import_rollback.batch (
    batch_id        bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('import_rollback.batch_id_seq'),
    target_schema   name NOT NULL,
    target_table    name NOT NULL,
    source_name     text NOT NULL,
    source_bytes    bigint,
    source_sha256   bytea,
    load_method     text NOT NULL
                    CHECK (load_method IN ('data', 'file', 'client', 'large_object')),
    options         jsonb NOT NULL,
    key_columns     name[] NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('received', 'staged', 'validated', 'applied',
                                     'rolled_back', 'failed', 'cancelled')),
    started_by      name NOT NULL,
    started_at      timestamptz NOT NULL,
    staged_at       timestamptz,
    validated_at    timestamptz,
    applied_at      timestamptz,
    rolled_back_at  timestamptz,
    ended_at        timestamptz,
    rows_total      bigint,
    rows_valid      bigint,
    rows_rejected   bigint,
    rows_malformed  bigint,             -- rows with the wrong field count
    inserted        bigint,
    updated         bigint,
    unchanged       bigint,
    last_error      text,
    log_columns     name[],             -- target columns its change log covers
    log_types       text[],             -- their types when it was applied
    change_count    bigint,             -- writes logged so far
    rollback_leftovers bigint,          -- records a "skip" rollback left some of its writes in
    target_relid    regclass,           -- the target itself; NULL once it is dropped
    purged_at       timestamptz,        -- when ir_purge() dropped its staging table and log
    run_id          bigint              -- the run it is a member of (foreign key below)
);
CREATE INDEX batch_target_idx
    ON import_rollback.batch (target_schema, target_table, source_sha256);
CREATE INDEX batch_target_relid_idx ON import_rollback.batch (target_relid);

-- The file's columns, in file order.  Staging tables name their data
-- columns c1..cN by position, so header text is data, never an identifier:
-- any length, any bytes, duplicates allowed.  source_key is the name the
-- column goes by in mappings and in the "source" JSON of reports: the header
-- itself, or column<N> where the header is empty or repeats an earlier one.
CREATE TABLE import_rollback.batch_column (
    batch_id        bigint NOT NULL REFERENCES import_rollback.batch,
    ordinal         integer NOT NULL CHECK (ordinal > 0),
    header          text NOT NULL,
    source_key      text NOT NULL,
    PRIMARY KEY (batch_id, ordinal),
    UNIQUE (batch_id, source_key)
);

CREATE SEQUENCE import_rollback.batch_event_id_seq;

-- Every state transition of every batch, with time and role.
CREATE TABLE import_rollback.batch_event (
    event_id        bigint PRIMARY KEY
                    DEFAULT pg_catalog.nextval('import_rollback.batch_event_id_seq'),
    batch_id        bigint NOT NULL REFERENCES import_rollback.batch,
    event_at        timestamptz NOT NULL,
    role_name       name NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    detail          text
);
CREATE INDEX batch_event_batch_idx ON import_rollback.batch_event (batch_id);

REVOKE ALL ON ALL TABLES IN SCHEMA import_rollback FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA import_rollback FROM PUBLIC;

-- Catalog contents are user data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('import_rollback.batch', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.batch_column', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.batch_event', '');
SELECT pg_catalog.pg_extension_config_dump('import_rollback.batch_event_id_seq', '');

--
-- Staging
--
CREATE FUNCTION @extschema@.ir_stage(target regclass, source_name text, data text,
                                     options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_stage'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage(regclass, text, text, jsonb)
    IS 'create a batch for target and stage the CSV text raw into it';

CREATE FUNCTION @extschema@.ir_stage_file(target regclass, path text,
                                          options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_stage_file'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage_file(regclass, text, jsonb)
    IS 'create a batch for target and stage a server-side CSV file raw into it';

CREATE FUNCTION @extschema@.ir_stage_begin(target regclass, source_name text,
                                           columns text[], options jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_stage_begin'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage_begin(regclass, text, text[], jsonb)
    IS 'client path: create a batch and its staging table for COPY ... FROM STDIN';

CREATE FUNCTION @extschema@.ir_stage_copy_command(batch bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'ir_stage_copy_command'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage_copy_command(bigint)
    IS 'client path: the COPY ... FROM STDIN statement that loads the batch';

CREATE FUNCTION @extschema@.ir_stage_finish(batch bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ir_stage_finish'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_stage_finish(bigint)
    IS 'client path: mark a batch loaded with COPY as staged; returns its row count';

--
-- Batch life cycle and reports
--
CREATE FUNCTION @extschema@.ir_cancel(batch bigint, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'ir_cancel'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_cancel(bigint, text)
    IS 'discard a batch that has not been applied';

CREATE FUNCTION @extschema@.ir_rejects(batch bigint)
RETURNS TABLE(row_no bigint, errors text[], source jsonb)
AS 'MODULE_PATHNAME', 'ir_rejects'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_rejects(bigint)
    IS 'rejected rows of a batch with every reason and the raw source row';

-- Batches visible to the caller: those on tables it may read or write,
-- those it started, and all of them for superusers.
CREATE VIEW @extschema@.ir_batches WITH (security_barrier) AS
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
COMMENT ON VIEW @extschema@.ir_batches IS 'what each file did, and whether it can be run again';

CREATE VIEW @extschema@.ir_batch_events WITH (security_barrier) AS
SELECT e.event_id, e.batch_id, e.event_at, e.role_name::text AS role_name,
       e.from_state, e.to_state, e.detail
  FROM import_rollback.batch_event e
 WHERE EXISTS (SELECT 1 FROM @extschema@.ir_batches v
                WHERE v.batch_id OPERATOR(pg_catalog.=) e.batch_id);
COMMENT ON VIEW @extschema@.ir_batch_events IS 'state transitions of the batches visible to the caller';

GRANT SELECT ON @extschema@.ir_batches, @extschema@.ir_batch_events TO PUBLIC;

--
-- Validation and review
--

-- One row per ir_validate run: what it was run with and what it found.
CREATE TABLE import_rollback.validation_run (
    batch_id        bigint NOT NULL REFERENCES import_rollback.batch,
    run_no          integer NOT NULL,
    run_at          timestamptz NOT NULL,
    role_name       name NOT NULL,
    options         jsonb NOT NULL,
    rows_total      bigint NOT NULL,
    rows_valid      bigint NOT NULL,
    rows_rejected   bigint NOT NULL,
    stop_reason     text,
    notes           text,
    PRIMARY KEY (batch_id, run_no)
);
REVOKE ALL ON import_rollback.validation_run FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('import_rollback.validation_run', '');

-- Typed value of a staged text through the input function of the second
-- argument's type and typmod, as an INSERT of the text would convert it.
CREATE FUNCTION import_rollback.ir_cast(value text, target anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'ir_cast'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.ir_validate(batch bigint, options jsonb DEFAULT '{}')
RETURNS TABLE(state text, rows_total bigint, rows_valid bigint, rows_rejected bigint,
              stop_reason text)
AS 'MODULE_PATHNAME', 'ir_validate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_validate(bigint, jsonb)
    IS 'mark every staged row valid or rejected, evaluate hard stops';

CREATE FUNCTION @extschema@.ir_sample(batch bigint, n int DEFAULT 10)
RETURNS TABLE(row_no bigint, action text, source jsonb, mapped jsonb, "current" jsonb)
AS 'MODULE_PATHNAME', 'ir_sample'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_sample(bigint, int)
    IS 'rows spread over the whole file with source, typed values, live record and action';

CREATE FUNCTION @extschema@.ir_preview(batch bigint)
RETURNS TABLE(column_name text, rows_changed bigint, example_old text, example_new text)
AS 'MODULE_PATHNAME', 'ir_preview'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_preview(bigint)
    IS 'per column, how many records would change, with an example; plus inserts and unchanged';

--
-- Apply, change log and rollback
--
-- Targets carrying the change-log triggers, and when they were last
-- truncated (a rollback across a TRUNCATE is refused).
CREATE TABLE import_rollback.tracked_table (
    target_schema   name NOT NULL,      -- its name when it was first tracked
    target_table    name NOT NULL,
    tracked_at      timestamptz NOT NULL,
    truncated_at    timestamptz,
    target_relid    regclass
);
CREATE UNIQUE INDEX tracked_table_relid_idx ON import_rollback.tracked_table (target_relid);
REVOKE ALL ON import_rollback.tracked_table FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('import_rollback.tracked_table', '');

CREATE FUNCTION import_rollback.ir_changelog()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ir_changelog'
LANGUAGE C;

CREATE FUNCTION import_rollback.ir_logging()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ir_logging'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION import_rollback.ir_truncated()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ir_truncated'
LANGUAGE C;

CREATE FUNCTION import_rollback.ir_note_row(row_no bigint, value anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'ir_note_row'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.ir_apply(batch bigint, options jsonb DEFAULT '{}')
RETURNS TABLE(batch_id bigint, inserted bigint, updated bigint, unchanged bigint, rejected bigint)
AS 'MODULE_PATHNAME', 'ir_apply'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_apply(bigint, jsonb)
    IS 'write the valid rows of a validated batch in one logged, idempotent upsert';

CREATE FUNCTION @extschema@.ir_rollback(batch bigint, options jsonb DEFAULT '{}')
RETURNS TABLE(batch_id bigint, deleted bigint, restored bigint, conflicts bigint)
AS 'MODULE_PATHNAME', 'ir_rollback'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_rollback(bigint, jsonb)
    IS 'undo exactly what one applied batch wrote, detecting later changes';

CREATE FUNCTION @extschema@.ir_rollback_preview(batch bigint)
RETURNS TABLE(record_key jsonb, action text, status text, column_name text,
              batch_value text, current_value text, changed_by_batch bigint)
AS 'MODULE_PATHNAME', 'ir_rollback_preview'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_rollback_preview(bigint)
    IS 'per logged field: restorable, conflict or gone, and which later batch changed it';

CREATE FUNCTION @extschema@.ir_changes(batch bigint)
RETURNS TABLE(change_id bigint, row_no bigint, action text, record_key jsonb,
              old_values jsonb, new_values jsonb)
AS 'MODULE_PATHNAME', 'ir_changes'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_changes(bigint)
    IS 'every write of a batch, its apply''s then its rollback''s';

CREATE FUNCTION @extschema@.ir_drill(batch bigint)
RETURNS TABLE(batch_id bigint, inserted bigint, updated bigint, unchanged bigint,
              rejected bigint, deleted bigint, restored bigint, round_trip_exact boolean)
AS 'MODULE_PATHNAME', 'ir_drill'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_drill(bigint)
    IS 'apply, roll back and verify inside a subtransaction, then undo it all';

CREATE FUNCTION @extschema@.ir_untrack(target regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'ir_untrack'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.ir_untrack(regclass)
    IS 'remove the change-log triggers from a table with no batch left to roll back';

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
