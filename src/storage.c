/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The extension's own tables, and the one place that runs as the
 *	  extension owner.
 *
 * What runs as the owner, and why: ordinary roles cannot write the batch
 * catalog, the events, the per-batch staging and change-log tables or the
 * registry of tracked targets (schema import_rollback), so that no role can
 * forge a batch's state, rows or log.  The extension's functions run as the
 * caller (its privileges on the target decide what it may import) and take
 * the owner's identity here, and only here, around:
 *	  - the catalog's rows: batches, their columns, events, validation runs,
 *	    results, tracked targets (INSERT/UPDATE/SELECT of import_rollback.*)
 *	  - the per-batch tables: CREATE TABLE, ALTER TABLE ADD COLUMN, reading
 *	    a batch's rejects, numbering a client upload's rows
 *	  - GRANT and REVOKE on a per-batch table: lending the caller read (and,
 *	    for validation, status) access for one operation inside its own
 *	    transaction, and the client path's INSERT into its data columns
 *	  - the change-log triggers on targets (CREATE / ALTER / DROP TRIGGER)
 *	  - reading pg_constraint for foreign keys whose actions a rollback
 *	    would set off
 * The owner's identity is a local user-id change with
 * SECURITY_RESTRICTED_OPERATION and search_path pinned to
 * "pg_catalog, pg_temp"; only fully qualified statements over these
 * tables and the system catalogs run in between: no type input, operator
 * or expression that user code could define.  The one other identity
 * taken is a referencing table's owner, to look for references a
 * rollback would cascade to, as PostgreSQL's foreign-key triggers do
 * (ir_store_key_referenced).  An error raised in between needs no
 * cleanup: (sub)transaction abort restores the identity.
 *
 * The names and layouts of the per-batch tables (storage.h) live here too:
 * the rest of the code asks for them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "exec.h"
#include "settings.h"
#include "sqlgen.h"
#include "storage.h"

/* Saved identity while running as another role. */
typedef struct OwnerSave
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;
} OwnerSave;

static const char *const load_method_names[] = {
	[IR_LOAD_DATA] = "data",
	[IR_LOAD_FILE] = "file",
	[IR_LOAD_CLIENT] = "client",
	[IR_LOAD_LARGE_OBJECT] = "large_object",
};

/* ---------------------------------------------------------------------
 * Identities
 * ---------------------------------------------------------------------
 */

/*
 * The installed extension's owner, and its version (NULL if unknown).
 * Errors when the extension is not installed in this database.
 */
static Oid
extension_row(char **version)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner;
	Datum		values[Natts_pg_extension];
	bool		nulls[Natts_pg_extension];

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("import_rollback"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"import_rollback\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION import_rollback.")));
	owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	/* not heap_getattr: 17.12 headers inline a call 17.10 servers lack */
	heap_deform_tuple(tup, RelationGetDescr(rel), values, nulls);
	*version = nulls[Anum_pg_extension_extversion - 1] ? NULL :
		text_to_cstring(DatumGetTextPP(values[Anum_pg_extension_extversion - 1]));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * Entry points refuse to run while the installed SQL objects are not those
 * of this library's version: after a new library is installed and before
 * ALTER EXTENSION import_rollback UPDATE, the SQL it builds would name
 * objects that do not exist yet.  (The change-log triggers keep working:
 * application writes must never depend on it.)
 */
void
ir_require_installed_version(void)
{
	char	   *installed;

	(void) extension_row(&installed);
	if (installed != NULL && strcmp(installed, IR_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"import_rollback\" is installed at version %s, but its library is version %s",
						installed, IR_EXTVERSION),
				 errdetail("The library was upgraded; the extension's SQL objects were not."),
				 errhint("Run ALTER EXTENSION import_rollback UPDATE.")));
}

/*
 * Start running as role, in a restricted operation with search_path
 * pinned, plus sec_flags (e.g. SECURITY_NOFORCE_RLS); restore_user() goes
 * back.
 */
static void
become_role(Oid role, int sec_flags, OwnerSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(role,
						   save->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION |
						   sec_flags);
	save->guc_nestlevel = ir_guard_begin();
}

/* Start running as the extension owner, with an SPI connection. */
static void
become_owner(OwnerSave *save)
{
	char	   *version;

	become_role(extension_row(&version), 0, save);
	SPI_connect();
}

static void
restore_user(const OwnerSave *save)
{
	/* settings made meanwhile (by user code, too) end with the identity */
	AtEOXact_GUC(false, save->guc_nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/* Back to the caller from become_owner(). */
static void
restore_caller(const OwnerSave *save)
{
	SPI_finish();
	restore_user(save);
}

/* Name of the calling role, for the catalog's "who" columns. */
char *
ir_current_role_name(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/* One statement as the owner, through a kept plan. */
static void
owner_exec(const char *sql, int nargs, const Oid *argtypes, const Datum *values,
		   const char *nulls, int expected, SPIPlanPtr *plancache)
{
	OwnerSave	save;

	become_owner(&save);
	ir_spi_exec(sql, nargs, argtypes, values, nulls, expected, plancache);
	restore_caller(&save);
}

static Datum
name_datum(const char *s)
{
	return DirectFunctionCall1(namein, CStringGetDatum(s));
}

/* A SHA-256 digest as a bytea datum. */
static Datum
sha256_datum(const uint8 *sha256)
{
	bytea	   *b = palloc(VARHDRSZ + 32);

	SET_VARSIZE(b, VARHDRSZ + 32);
	memcpy(VARDATA(b), sha256, 32);
	return PointerGetDatum(b);
}

/* ---------------------------------------------------------------------
 * Per-batch tables: names and layouts
 * ---------------------------------------------------------------------
 */

/* The per-batch tables: import_rollback.stage_<batch> and changes_<batch>. */
static const char *const stage_prefix = "stage_";
static const char *const log_prefix = "changes_";

/*
 * " TABLESPACE x" for new per-batch tables and their indexes, from
 * import_rollback.tablespace; "" for the database's default.
 */
static char *
tablespace_clause(void)
{
	if (ir_tablespace == NULL || ir_tablespace[0] == '\0')
		return "";
	return psprintf(" TABLESPACE %s", quote_identifier(ir_tablespace));
}

static char *
per_batch_table(const char *prefix, int64 batch_id)
{
	return psprintf("%s.%s" INT64_FORMAT, IR_SCHEMA, prefix, batch_id);
}

static Oid
per_batch_table_oid(const char *prefix, int64 batch_id)
{
	return get_relname_relid(psprintf("%s" INT64_FORMAT, prefix, batch_id),
							 get_namespace_oid(IR_SCHEMA, false));
}

/* Qualified name of a batch's staging table, for SQL text. */
char *
ir_stage_table(int64 batch_id)
{
	return per_batch_table(stage_prefix, batch_id);
}

Oid
ir_stage_table_oid(int64 batch_id)
{
	return per_batch_table_oid(stage_prefix, batch_id);
}

/* Qualified name of a batch's change log, for SQL text. */
char *
ir_log_table(int64 batch_id)
{
	return per_batch_table(log_prefix, batch_id);
}

/* The change log's OID, InvalidOid while the batch was never applied. */
Oid
ir_log_table_oid(int64 batch_id)
{
	return per_batch_table_oid(log_prefix, batch_id);
}

/* "c1 text, c2 text ..." or "c1, c2 ...", each prefixed: for SQL text. */
char *
ir_stage_fields_sql(int ncols, const char *type, const char *prefix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 1; i <= ncols; i++)
		appendStringInfo(&buf, "%s%sc%d%s%s", i > 1 ? ", " : "", prefix, i,
						 type ? " " : "", type ? type : "");
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Staging tables
 * ---------------------------------------------------------------------
 */

static SPIPlanPtr columns_plan;

/* Record the file's columns in import_rollback.batch_column (owner, in SPI). */
static void
record_columns(int64 batch_id, char **headers, char **keys, int ncols)
{
	static const Oid argtypes[3] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];

	if (ncols == 0)
		return;
	values[0] = Int64GetDatum(batch_id);
	values[1] = ir_text_array(headers, ncols);
	values[2] = ir_text_array(keys, ncols);
	ir_spi_exec("INSERT INTO import_rollback.batch_column (batch_id, ordinal, header, source_key)"
				" SELECT $1, u.o, u.h, u.k"
				" FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(h, k, o)",
				3, argtypes, values, NULL, SPI_OK_INSERT, &columns_plan);
}

/*
 * Create the staging table of a batch.  With ncols <= 0 only the fixed
 * columns are created (the fields follow once the header is read).  For
 * the client path (client: the caller will COPY into it), row_no is an
 * identity numbering rows as COPY stores them, and the caller may INSERT
 * into the fields until ir_store_finish_client().  Returns its OID.
 */
Oid
ir_store_create_stage(int64 batch_id, int ncols, bool client)
{
	char	   *qname = ir_stage_table(batch_id);
	OwnerSave	save;

	become_owner(&save);
	ir_spi_exec(psprintf("CREATE %sTABLE %s ("
						 " row_no bigint NOT NULL%s,"
						 " status text, errors text[], extra text[]%s%s)%s",
						 ir_unlogged_staging ? "UNLOGGED " : "",
						 qname,
						 client ? " GENERATED BY DEFAULT AS IDENTITY" : "",
						 ncols > 0 ? ", " : "",
						 ncols > 0 ? ir_stage_fields_sql(ncols, "text", "") : "",
						 tablespace_clause()),
				0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	ir_spi_exec(psprintf("COMMENT ON TABLE %s IS %s", qname,
						 quote_literal_cstr(psprintf("raw rows of import_rollback batch " INT64_FORMAT,
													 batch_id))),
				0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	restore_caller(&save);
	if (client)
		owner_exec(psprintf("GRANT INSERT (%s) ON %s TO %s",
							ir_stage_fields_sql(ncols, NULL, ""), qname,
							quote_identifier(ir_current_role_name())),
				   0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	return ir_stage_table_oid(batch_id);
}

/*
 * Give a batch's staging table its fields, one per file column, and
 * record the columns' headers and keys.  Fields that the table already
 * has (the client path creates them with it) are only recorded.
 */
void
ir_store_add_stage_fields(int64 batch_id, char **headers, char **keys, int ncols)
{
	Relation	rel = relation_open(ir_stage_table_oid(batch_id), AccessShareLock);
	int			have = RelationGetDescr(rel)->natts - IR_STAGE_FIXED_COLS;
	OwnerSave	save;

	relation_close(rel, AccessShareLock);
	become_owner(&save);
	if (ncols > 0 && have == 0)
		ir_spi_exec(psprintf("ALTER TABLE %s %s", ir_stage_table(batch_id),
							 ir_stage_fields_sql(ncols, "text", "ADD COLUMN ")),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	record_columns(batch_id, headers, keys, ncols);
	restore_caller(&save);
}

/* Source keys of a batch's file, in file order. */
char **
ir_store_source_keys(int64 batch_id, int *n)
{
	static SPIPlanPtr plan;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	char	  **keys;

	become_owner(&save);
	ir_spi_exec("SELECT source_key FROM import_rollback.batch_column"
				" WHERE batch_id = $1 ORDER BY ordinal",
				1, argtypes, values, NULL, SPI_OK_SELECT, &plan);
	*n = (int) SPI_processed;
	keys = MemoryContextAlloc(callercxt, sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		keys[i] = MemoryContextStrdup(callercxt,
									  SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	restore_caller(&save);
	return keys;
}

/*
 * Take back every right on a batch's staging table (the INSERT a client
 * upload gave its loader, whatever that role is called now).
 */
void
ir_store_close_client(int64 batch_id)
{
	OwnerSave	save;
	List	   *grantees = NIL;
	ListCell   *lc;

	become_owner(&save);
	ir_spi_exec(psprintf("SELECT g.grantee FROM pg_catalog.pg_class c,"
						 " LATERAL (SELECT (pg_catalog.aclexplode(c.relacl)).grantee"
						 "          UNION SELECT (pg_catalog.aclexplode(a.attacl)).grantee"
						 "            FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid) g"
						 " WHERE c.oid = %u AND g.grantee <> c.relowner",
						 ir_stage_table_oid(batch_id)),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));

		grantees = lappend(grantees, OidIsValid(role) ?
						   (char *) quote_identifier(GetUserNameFromId(role, false)) : "PUBLIC");
	}
	foreach(lc, grantees)
		ir_spi_exec(psprintf("REVOKE ALL ON %s FROM %s", ir_stage_table(batch_id),
							 (char *) lfirst(lc)),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	restore_caller(&save);
}

/*
 * End a client upload: wait for any COPY still loading the table and keep
 * new ones out (they would add rows to a staged batch), take back the
 * grant, and number the rows 1..N in the order COPY stored them (failed
 * COPY attempts leave gaps in the identity).  Returns the number of rows.
 */
int64
ir_store_finish_client(int64 batch_id)
{
	char	   *qname = ir_stage_table(batch_id);
	OwnerSave	save;
	int64		rows;
	int64		minrow;
	int64		maxrow;
	bool		isnull;

	owner_exec(psprintf("LOCK TABLE %s IN SHARE MODE", qname), 0, NULL, NULL, NULL,
			   SPI_OK_UTILITY, NULL);
	ir_store_close_client(batch_id);

	become_owner(&save);
	ir_spi_exec(psprintf("SELECT count(*), coalesce(min(row_no), 1), coalesce(max(row_no), 0) FROM %s",
						 qname),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	minrow = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	maxrow = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (minrow != 1 || maxrow != rows)
		ir_spi_exec(psprintf("UPDATE %s s SET row_no = r.n"
							 " FROM (SELECT ctid, row_number() OVER (ORDER BY row_no) AS n FROM %s) r"
							 " WHERE s.ctid = r.ctid", qname, qname),
					0, NULL, NULL, NULL, SPI_OK_UPDATE, NULL);
	restore_caller(&save);
	return rows;
}

/*
 * Every rejected row of a batch, in file order, into ts: (row_no, errors,
 * source), source the raw row as jsonb keyed by the file's column keys.
 * Read as the owner: only text and jsonb_object run, no user code.
 */
void
ir_store_read_rejects(int64 batch_id, Tuplestorestate *ts, TupleDesc desc)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	OwnerSave	save;
	bool		isnull;
	Datum		keys;
	int			ncols;
	StringInfoData q;

	become_owner(&save);
	ir_spi_exec("SELECT coalesce(array_agg(source_key ORDER BY ordinal), '{}'), count(*)::int4"
				" FROM import_rollback.batch_column WHERE batch_id = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT, NULL);
	keys = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	ncols = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT s.row_no, s.errors, jsonb_object($1::text[], ARRAY[%s]::text[])"
					 " FROM %s s WHERE s.status IS NOT NULL ORDER BY s.row_no",
					 ncols > 0 ? ir_stage_fields_sql(ncols, NULL, "s.") : "",
					 ir_stage_table(batch_id));
	argtypes[0] = TEXTARRAYOID;
	ir_spi_materialize(q.data, 1, argtypes, &keys, ts, desc);
	restore_caller(&save);
}

/*
 * Did a crash empty the batch's UNLOGGED staging table?  Crash recovery
 * resets unlogged tables to empty, and staging never deletes rows, so a
 * batch that staged rows into one with no block left lost them.
 */
bool
ir_store_staging_lost(int64 batch_id, int64 rows_total)
{
	Oid			relid = ir_stage_table_oid(batch_id);
	Relation	rel;
	bool		lost;

	if (!OidIsValid(relid) || rows_total <= 0)
		return false;
	rel = relation_open(relid, AccessShareLock);
	lost = rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED &&
		RelationGetNumberOfBlocks(rel) == 0;
	relation_close(rel, NoLock);
	return lost;
}

/*
 * Lock a batch's staging table (and, with log, its change log) against a
 * concurrent ir_purge(), as RangeVarGetRelid does: lock the OID, then see
 * whether the table survived.  False when one is gone.
 */
bool
ir_store_lock_batch_tables(int64 batch_id, bool log)
{
	Oid			relids[2];

	relids[0] = ir_stage_table_oid(batch_id);
	relids[1] = log ? ir_log_table_oid(batch_id) : InvalidOid;
	for (int i = 0; i < (log ? 2 : 1); i++)
	{
		if (!OidIsValid(relids[i]))
			return false;
		LockRelationOid(relids[i], AccessShareLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relids[i])))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * The batch catalog
 * ---------------------------------------------------------------------
 */

static IrLoadMethod
load_method_from_name(const char *name)
{
	for (int i = 0; i < lengthof(load_method_names); i++)
		if (strcmp(load_method_names[i], name) == 0)
			return (IrLoadMethod) i;
	elog(ERROR, "unknown load method \"%s\"", name);
	pg_unreachable();
}

/*
 * Insert a batch in state "received" with its first event.  Returns the
 * new batch id.  sha256 may be NULL (not known yet), source_bytes < 0.
 */
int64
ir_store_batch_insert(Oid relid, const char *schema, const char *table, const char *source_name,
					  IrLoadMethod method, Jsonb *options, List *key_columns,
					  int64 source_bytes, const uint8 *sha256)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[10] = {NAMEOID, NAMEOID, TEXTOID, INT8OID, BYTEAOID,
	TEXTOID, JSONBOID, NAMEARRAYOID, NAMEOID, OIDOID};
	Datum		values[10];
	char		nulls[10] = "          ";
	int			nkeys = list_length(key_columns);
	Datum	   *keys = palloc(sizeof(Datum) * Max(nkeys, 1));
	ListCell   *lc;
	int			i = 0;
	OwnerSave	save;
	int64		batch_id;
	bool		isnull;

	foreach(lc, key_columns)
		keys[i++] = name_datum(lfirst(lc));
	values[0] = name_datum(schema);
	values[1] = name_datum(table);
	values[2] = CStringGetTextDatum(source_name);
	values[3] = Int64GetDatum(source_bytes);
	if (source_bytes < 0)
		nulls[3] = 'n';
	if (sha256)
		values[4] = sha256_datum(sha256);
	else
		nulls[4] = 'n';
	values[5] = CStringGetTextDatum(load_method_names[method]);
	values[6] = JsonbPGetDatum(options);
	values[7] = PointerGetDatum(construct_array(keys, nkeys, NAMEOID, NAMEDATALEN,
												false, TYPALIGN_CHAR));
	values[8] = name_datum(ir_current_role_name());
	values[9] = ObjectIdGetDatum(relid);

	become_owner(&save);
	ir_spi_exec("WITH b AS ("
				" INSERT INTO import_rollback.batch"
				"  (target_schema, target_table, source_name, source_bytes, source_sha256,"
				"   load_method, options, key_columns, state, started_by, started_at, target_relid,"
				"   run_id)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $9, clock_timestamp(), $10,"
				"  ($7 OPERATOR(pg_catalog.->>) 'run')::bigint)"
				" RETURNING batch_id, started_at)"
				" INSERT INTO import_rollback.batch_event"
				"  (batch_id, event_at, role_name, from_state, to_state)"
				" SELECT b.batch_id, b.started_at, $9, NULL, 'received' FROM b"
				" RETURNING batch_id",
				10, argtypes, values, nulls, SPI_OK_INSERT_RETURNING, &plan);
	batch_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	restore_caller(&save);
	return batch_id;
}

/*
 * Read a batch's row, optionally locking it FOR UPDATE (racing sessions
 * serialize on it).  Its target is the table it was staged for, under its
 * name now; InvalidOid when that table was dropped.  Unknown batch: 42704.
 */
IrBatch *
ir_store_batch_read(int64 batch_id, bool for_update)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr lock_plan;
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	IrBatch    *b;
	OwnerSave	save;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			nkeys;
	char	  **keys;

	become_owner(&save);
	ir_spi_exec(for_update ?
				"SELECT batch_id, target_schema::text, target_table::text, source_name,"
				" load_method, state, started_by::text, staged_at IS NOT NULL, options,"
				" rows_total, rows_rejected, validated_at IS NOT NULL, key_columns::text[],"
				" coalesce(rows_malformed, 0), target_relid::oid, purged_at::text, run_id,"
				" coalesce(rollback_leftovers, 0)"
				" FROM import_rollback.batch WHERE batch_id = $1 FOR UPDATE" :
				"SELECT batch_id, target_schema::text, target_table::text, source_name,"
				" load_method, state, started_by::text, staged_at IS NOT NULL, options,"
				" rows_total, rows_rejected, validated_at IS NOT NULL, key_columns::text[],"
				" coalesce(rows_malformed, 0), target_relid::oid, purged_at::text, run_id,"
				" coalesce(rollback_leftovers, 0)"
				" FROM import_rollback.batch WHERE batch_id = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT,
				for_update ? &lock_plan : &plan);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("batch " INT64_FORMAT " does not exist", batch_id),
				 errhint("The view ir_batches lists the batches you can see.")));

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	MemoryContextSwitchTo(callercxt);
	b = palloc0(sizeof(IrBatch));
	b->batch_id = batch_id;
	b->target_schema = SPI_getvalue(tup, desc, 2);
	b->target_table = SPI_getvalue(tup, desc, 3);
	b->source_name = SPI_getvalue(tup, desc, 4);
	b->load_method = load_method_from_name(SPI_getvalue(tup, desc, 5));
	b->state = ir_state_from_name(SPI_getvalue(tup, desc, 6));
	b->started_by = SPI_getvalue(tup, desc, 7);
	b->staging_complete = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	b->options = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 9, &isnull));
	b->rows_total = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
	if (isnull)
		b->rows_total = -1;
	b->rows_rejected = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
	if (isnull)
		b->rows_rejected = -1;
	b->validated = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
	b->rows_malformed = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	keys = ir_array_strings(SPI_getbinval(tup, desc, 13, &isnull), &nkeys, callercxt);
	for (int i = 0; i < nkeys; i++)
		b->key_columns = lappend(b->key_columns, keys[i]);
	b->target_relid = DatumGetObjectId(SPI_getbinval(tup, desc, 15, &isnull));
	if (isnull)
		b->target_relid = InvalidOid;
	b->purged_at = SPI_getvalue(tup, desc, 16);
	b->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 17, &isnull));
	if (isnull)
		b->run_id = 0;
	b->rollback_leftovers = DatumGetInt64(SPI_getbinval(tup, desc, 18, &isnull));
	restore_caller(&save);

	/* the table itself, under its name now (it may have been renamed) */
	if (OidIsValid(b->target_relid))
	{
		char	   *relname = get_rel_name(b->target_relid);

		if (relname == NULL)
			b->target_relid = InvalidOid;	/* dropped (not yet unbound) */
		else
		{
			b->target_table = relname;
			b->target_schema = get_namespace_name(get_rel_namespace(b->target_relid));
		}
	}
	return b;
}

/*
 * Record a state change of a batch (locked by the caller) and its event:
 * time, role, from, to, detail (the error for "failed", the reason for
 * "cancelled").
 */
void
ir_store_batch_state(int64 batch_id, IrState from, IrState to, const char *detail)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[5] = {INT8OID, TEXTOID, TEXTOID, NAMEOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";
	OwnerSave	save;

	values[0] = Int64GetDatum(batch_id);
	values[1] = CStringGetTextDatum(ir_state_name(to));
	if (detail)
		values[2] = CStringGetTextDatum(detail);
	else
		nulls[2] = 'n';
	values[3] = name_datum(ir_current_role_name());
	values[4] = CStringGetTextDatum(ir_state_name(from));

	become_owner(&save);
	ir_spi_exec("WITH u AS ("
				" UPDATE import_rollback.batch SET state = $2,"
				"  staged_at = CASE WHEN $2 = 'staged' THEN clock_timestamp() ELSE staged_at END,"
				"  validated_at = CASE WHEN $2 = 'validated' THEN clock_timestamp() ELSE validated_at END,"
				"  applied_at = CASE WHEN $2 = 'applied' THEN clock_timestamp() ELSE applied_at END,"
				"  rolled_back_at = CASE WHEN $2 = 'rolled_back' THEN clock_timestamp() ELSE rolled_back_at END,"
				"  ended_at = CASE WHEN $2 IN ('rolled_back', 'failed', 'cancelled') THEN clock_timestamp() END,"
				"  last_error = CASE WHEN $2 = 'failed' THEN $3"
				"   WHEN $2 IN ('staged', 'validated', 'applied') THEN NULL ELSE last_error END"
				" WHERE batch_id = $1 RETURNING batch_id)"
				" INSERT INTO import_rollback.batch_event"
				"  (batch_id, event_at, role_name, from_state, to_state, detail)"
				" SELECT batch_id, clock_timestamp(), $4, $5, $2, $3 FROM u",
				5, argtypes, values, nulls, SPI_OK_INSERT, &plan);
	if (SPI_processed != 1)
		elog(ERROR, "batch " INT64_FORMAT " vanished during a state change", batch_id);
	restore_caller(&save);
}

/*
 * Record what staging found: row counts, and the file's size and SHA-256
 * when they were only known at the end (NULL / negative keeps the old).
 */
void
ir_store_staging_result(int64 batch_id, int64 rows_total, int64 rows_rejected,
						int64 source_bytes, const uint8 *sha256)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[5] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = Int64GetDatum(batch_id);
	values[1] = Int64GetDatum(rows_total);
	values[2] = Int64GetDatum(rows_rejected);
	values[3] = Int64GetDatum(source_bytes);
	if (source_bytes < 0)
		nulls[3] = 'n';
	if (sha256)
		values[4] = sha256_datum(sha256);
	else
		nulls[4] = 'n';
	owner_exec("UPDATE import_rollback.batch"
			   " SET rows_total = $2, rows_rejected = $3, rows_malformed = $3,"
			   "     source_bytes = coalesce($4, source_bytes),"
			   "     source_sha256 = coalesce($5, source_sha256)"
			   " WHERE batch_id = $1",
			   5, argtypes, values, nulls, SPI_OK_UPDATE, &plan);
}

/*
 * Is the batch's file byte-identical (same SHA-256) to one applied to the
 * same target and not rolled back?  Then the first such batch, its file,
 * the digest and the ids of all of them.
 */
bool
ir_store_duplicate_file(int64 batch_id, int64 *first_id, char **first_source,
						char **sha256_hex, char **applied_ids)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	StringInfoData ids;
	bool		found;

	initStringInfo(&ids);
	become_owner(&save);
	ir_spi_exec("SELECT o.batch_id, o.source_name, encode(o.source_sha256, 'hex')"
				" FROM import_rollback.batch b"
				" JOIN import_rollback.batch o"
				"   ON o.target_relid = b.target_relid"
				"  AND o.source_sha256 = b.source_sha256 AND o.batch_id <> b.batch_id"
				" WHERE b.batch_id = $1 AND o.state = 'applied'"
				" ORDER BY o.batch_id",
				1, argtypes, values, NULL, SPI_OK_SELECT, &plan);
	found = SPI_processed > 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

		if (i == 0)
		{
			*first_id = id;
			*first_source = MemoryContextStrdup(callercxt, SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
			*sha256_hex = MemoryContextStrdup(callercxt, SPI_getvalue(tup, SPI_tuptable->tupdesc, 3));
		}
		appendStringInfo(&ids, "%s" INT64_FORMAT, i ? ", " : "", id);
	}
	restore_caller(&save);
	*applied_ids = ids.data;
	return found;
}

/*
 * Record a validation run: what it was run with and what it found, and
 * the batch's new options, key and counts.
 */
void
ir_store_validation_run(int64 batch_id, Jsonb *options, int nkeys, char **keys,
						int64 rows_total, int64 rows_valid, int64 rows_rejected,
						const char *stop_reason, const char *notes)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[9] = {INT8OID, JSONBOID, NAMEARRAYOID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, NAMEOID};
	Datum		args[9];
	char		argnulls[9] = "         ";
	Datum	   *names = palloc(sizeof(Datum) * Max(nkeys, 1));

	for (int k = 0; k < nkeys; k++)
		names[k] = name_datum(keys[k]);
	args[0] = Int64GetDatum(batch_id);
	args[1] = JsonbPGetDatum(options);
	args[2] = PointerGetDatum(construct_array(names, nkeys, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
	args[3] = Int64GetDatum(rows_total);
	args[4] = Int64GetDatum(rows_valid);
	args[5] = Int64GetDatum(rows_rejected);
	args[6] = stop_reason ? CStringGetTextDatum(stop_reason) : (Datum) 0;
	argnulls[6] = stop_reason ? ' ' : 'n';
	args[7] = notes ? CStringGetTextDatum(notes) : (Datum) 0;
	argnulls[7] = notes ? ' ' : 'n';
	args[8] = name_datum(ir_current_role_name());
	owner_exec("WITH b AS ("
			   " UPDATE import_rollback.batch SET options = $2, key_columns = $3,"
			   "  rows_total = $4, rows_valid = $5, rows_rejected = $6"
			   " WHERE batch_id = $1 RETURNING batch_id)"
			   " INSERT INTO import_rollback.validation_run"
			   "  (batch_id, run_no, run_at, role_name, options, rows_total, rows_valid,"
			   "   rows_rejected, stop_reason, notes)"
			   " SELECT b.batch_id,"
			   "  (SELECT coalesce(max(run_no), 0) + 1 FROM import_rollback.validation_run r"
			   "    WHERE r.batch_id = $1),"
			   "  clock_timestamp(), $9, $2, $4, $5, $6, $7, $8 FROM b",
			   9, argtypes, args, argnulls, SPI_OK_INSERT, &plan);
}

/* Record what an apply did, and how many changes its log holds. */
void
ir_store_apply_result(int64 batch_id, int64 inserted, int64 updated, int64 unchanged,
					  int64 change_count)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[5];

	values[0] = Int64GetDatum(batch_id);
	values[1] = Int64GetDatum(inserted);
	values[2] = Int64GetDatum(updated);
	values[3] = Int64GetDatum(unchanged);
	values[4] = Int64GetDatum(change_count);
	owner_exec("UPDATE import_rollback.batch SET inserted = $2, updated = $3, unchanged = $4,"
			   " change_count = $5 WHERE batch_id = $1",
			   5, argtypes, values, NULL, SPI_OK_UPDATE, &plan);
}

/*
 * Record what a rollback did: the log's writes so far, and the records a
 * "skip" rollback left some of the batch's writes in.
 */
void
ir_store_rollback_result(int64 batch_id, int64 change_count, int64 leftovers)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];

	values[0] = Int64GetDatum(batch_id);
	values[1] = Int64GetDatum(change_count);
	values[2] = Int64GetDatum(leftovers);
	owner_exec("UPDATE import_rollback.batch SET change_count = $2, rollback_leftovers = $3"
			   " WHERE batch_id = $1",
			   3, argtypes, values, NULL, SPI_OK_UPDATE, &plan);
}

/* ---------------------------------------------------------------------
 * Change logs
 * ---------------------------------------------------------------------
 */


/*
 * Create a batch's change log for its apply to relid and record what it
 * covers: every column of the target that is neither dropped nor
 * generated, in attribute order, as o<i> and n<i> of exactly the column's
 * type and collation.  Returns the logged columns' attribute numbers, and
 * in *keypos the 0-based positions of the key columns among them.
 */
List *
ir_store_create_log(int64 batch_id, Oid relid, int nkeys, char **keys, int **keypos)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *cols = NIL;
	Datum	   *names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	Datum	   *types = palloc(sizeof(Datum) * Max(desc->natts, 1));
	StringInfoData olds;
	StringInfoData news;
	Oid			argtypes[3] = {INT8OID, NAMEARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	OwnerSave	save;
	int			n = 0;

	initStringInfo(&olds);
	initStringInfo(&news);
	*keypos = palloc(sizeof(int) * Max(nkeys, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		char	   *type;
		char	   *coll = "";

		if (att->attisdropped || att->attgenerated)
			continue;
		for (int k = 0; k < nkeys; k++)
			if (strcmp(keys[k], NameStr(att->attname)) == 0)
				(*keypos)[k] = n;
		cols = lappend_int(cols, att->attnum);
		names[n] = name_datum(NameStr(att->attname));
		type = format_type_extended(att->atttypid, att->atttypmod,
									FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		types[n] = CStringGetTextDatum(type);
		if (OidIsValid(att->attcollation) &&
			att->attcollation != get_typcollation(att->atttypid))
		{
			/* named as the pinned search_path the CREATE TABLE runs under sees it */
			int			guard = ir_guard_begin();

			coll = psprintf(" COLLATE %s", generate_collation_name(att->attcollation));
			ir_guard_end(guard);
		}
		appendStringInfo(&olds, ", o%d %s%s", n + 1, type, coll);
		appendStringInfo(&news, ", n%d %s%s", n + 1, type, coll);
		n++;
	}
	if (n > IR_MAX_LOGGED_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has too many columns for a change log", RelationGetRelationName(rel)),
				 errdetail("The log keeps an old and a new value of each of its %d columns; at most %d fit.",
						   n, IR_MAX_LOGGED_COLUMNS),
				 errhint("Columns were added since the batch was staged.")));
	relation_close(rel, NoLock);

	values[0] = Int64GetDatum(batch_id);
	values[1] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
	values[2] = PointerGetDatum(construct_array(types, n, TEXTOID, -1, false, TYPALIGN_INT));
	become_owner(&save);
	ir_spi_exec(psprintf("CREATE TABLE %s (change_id bigint NOT NULL, action text NOT NULL,"
						 " changed smallint[]%s%s)%s",
						 ir_log_table(batch_id), olds.data, news.data, tablespace_clause()),
				0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	ir_spi_exec("UPDATE import_rollback.batch SET log_columns = $2, log_types = $3"
				" WHERE batch_id = $1",
				3, argtypes, values, NULL, SPI_OK_UPDATE, NULL);
	restore_caller(&save);
	return cols;
}

/*
 * Index a batch's change log by the record key (coalesce(n, o) of each key
 * column, as ir_changes() finds a record's writes), once the apply has
 * written it.  Skipped when a key type has no default btree operator
 * class: a keyed report then reads the whole log.
 */
void
ir_store_index_log(int64 batch_id, Oid relid, int nkeys, char **keys, const int *keypos)
{
	StringInfoData cols;

	initStringInfo(&cols);
	for (int k = 0; k < nkeys; k++)
	{
		Oid			typid = get_atttype(relid, get_attnum(relid, keys[k]));

		if (!OidIsValid(GetDefaultOpClass(typid, BTREE_AM_OID)))
			return;
		appendStringInfo(&cols, "%scoalesce(n%d, o%d)", k ? ", " : "",
						 keypos[k] + 1, keypos[k] + 1);
	}
	owner_exec(psprintf("CREATE INDEX ON %s (%s)%s", ir_log_table(batch_id), cols.data,
						tablespace_clause()),
			   0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
}

/*
 * Give the planner the size of a change log the apply just wrote, for the
 * guards' joins over it: estimated as a fresh table of a few pages, a
 * million-row log gets a nested loop of index probes into the target and
 * the child tables (1.4 s and 1.0 s for 1,000,000 records, measured)
 * where a hash join takes 1.0 s and 0.6 s; the ANALYZE costs 0.13 s.
 */
void
ir_store_analyze_log(int64 batch_id)
{
	owner_exec(psprintf("ANALYZE %s", ir_log_table(batch_id)), 0, NULL, NULL, NULL,
			   SPI_OK_UTILITY, NULL);
}

/* What the catalog records of an applied batch's change log. */
void
ir_store_log_info(int64 batch_id, IrLogInfo *info)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			n;

	become_owner(&save);
	ir_spi_exec("SELECT b.log_columns::text[], b.log_types, b.change_count,"
				" coalesce(t.truncated_at > b.applied_at, false), b.key_columns::text[],"
				" b.inserted, b.updated"
				" FROM import_rollback.batch b"
				" LEFT JOIN import_rollback.tracked_table t ON t.target_relid = b.target_relid"
				" WHERE b.batch_id = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT, &plan);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info->names = ir_array_strings(SPI_getbinval(tup, desc, 1, &isnull), &info->ncols, callercxt);
	info->types = ir_array_strings(SPI_getbinval(tup, desc, 2, &isnull), &n, callercxt);
	info->change_count = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	info->truncated = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	info->keys = ir_array_strings(SPI_getbinval(tup, desc, 5, &isnull), &info->nkeys, callercxt);
	info->inserted = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	info->updated = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	restore_caller(&save);
}

/* The batches a catalog query (batch_id, log_columns, key_columns) lists. */
static List *
batches_of(const char *sql, SPIPlanPtr *plan, int64 batch_id)
{
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	List	   *result = NIL;

	become_owner(&save);
	ir_spi_exec(sql, 1, argtypes, values, NULL, SPI_OK_SELECT, plan);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		IrLaterBatch *lb = palloc(sizeof(IrLaterBatch));

		lb->batch_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		lb->names = ir_array_strings(SPI_getbinval(tup, desc, 2, &isnull), &lb->ncols, callercxt);
		lb->keys = ir_array_strings(SPI_getbinval(tup, desc, 3, &isnull), &lb->nkeys, callercxt);
		result = lappend(result, lb);
		MemoryContextSwitchTo(old);
	}
	restore_caller(&save);
	return result;
}

/*
 * The batches applied to the same target after this one and not rolled
 * back, oldest first (IrLaterBatch *).
 */
List *
ir_store_later_batches(int64 batch_id)
{
	static SPIPlanPtr plan;

	return batches_of("SELECT o.batch_id, o.log_columns::text[], o.key_columns::text[]"
					  " FROM import_rollback.batch b JOIN import_rollback.batch o"
					  "   ON o.target_relid = b.target_relid AND o.applied_at > b.applied_at"
					  " WHERE b.batch_id = $1 AND o.state = 'applied' AND o.purged_at IS NULL"
					  " ORDER BY o.applied_at", &plan, batch_id);
}

/*
 * The batches applied to this batch's target after it was validated and
 * not rolled back or purged, oldest first (IrLaterBatch *): the batches
 * that can make it stale.
 */
List *
ir_store_newer_batches(int64 batch_id)
{
	static SPIPlanPtr plan;

	return batches_of("SELECT o.batch_id, o.log_columns::text[], o.key_columns::text[]"
					  " FROM import_rollback.batch b JOIN import_rollback.batch o"
					  "   ON o.target_relid = b.target_relid AND o.applied_at > b.validated_at"
					  " WHERE b.batch_id = $1 AND o.batch_id <> b.batch_id"
					  "   AND o.state = 'applied' AND o.purged_at IS NULL"
					  "   AND (b.run_id IS NULL OR o.run_id IS DISTINCT FROM b.run_id)"
					  " ORDER BY o.applied_at", &plan, batch_id);
}

/*
 * Replace a batch's options (guards given at apply time are kept with the
 * batch); returns them, copied into the caller's context.
 */
Jsonb *
ir_store_batch_options(int64 batch_id, Jsonb *options)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[2] = {INT8OID, JSONBOID};
	Datum		values[2];

	values[0] = Int64GetDatum(batch_id);
	values[1] = JsonbPGetDatum(options);
	owner_exec("UPDATE import_rollback.batch SET options = $2 WHERE batch_id = $1",
			   2, argtypes, values, NULL, SPI_OK_UPDATE, &plan);
	return options;
}

/* ---------------------------------------------------------------------
 * Runs
 * ---------------------------------------------------------------------
 */

/* Insert a run in state "open" with its first event; returns its id. */
int64
ir_store_run_insert(const char *name, Jsonb *options)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[3] = {TEXTOID, JSONBOID, NAMEOID};
	Datum		values[3];
	OwnerSave	save;
	int64		run_id;
	bool		isnull;

	values[0] = CStringGetTextDatum(name);
	values[1] = JsonbPGetDatum(options);
	values[2] = name_datum(ir_current_role_name());
	become_owner(&save);
	ir_spi_exec("WITH r AS ("
				" INSERT INTO import_rollback.run (name, options, state, started_by, started_at)"
				" VALUES ($1, $2, 'open', $3, clock_timestamp()) RETURNING run_id, started_at)"
				" INSERT INTO import_rollback.run_event (run_id, event_at, role_name, from_state, to_state)"
				" SELECT r.run_id, r.started_at, $3, NULL, 'open' FROM r RETURNING run_id",
				3, argtypes, values, NULL, SPI_OK_INSERT_RETURNING, &plan);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	restore_caller(&save);
	return run_id;
}

/*
 * Read a run's row, locked as lock says (FOR SHARE: members join it; FOR
 * UPDATE: it changes), with its members' ids in the order they were
 * applied, then in batch id order.  Unknown run: 42704.
 */
IrRun *
ir_store_run_read(int64 run_id, IrRowLock lock)
{
	static SPIPlanPtr plans[3];
	static SPIPlanPtr read_plan;
	static const char *const suffix[3] = {"", " FOR SHARE", " FOR UPDATE"};
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	IrRun	   *r;
	bool		isnull;
	Datum		members;

	become_owner(&save);
	/*
	 * Lock the row first; the members are read by a statement of their
	 * own, whose snapshot (READ COMMITTED) sees a member whose staging
	 * committed while this waited for the lock.
	 */
	if (lock != IR_ROW_READ)
		ir_spi_exec(psprintf("SELECT 1 FROM import_rollback.run WHERE run_id = $1%s", suffix[lock]),
					1, argtypes, values, NULL, SPI_OK_SELECT, &plans[lock]);
	ir_spi_exec("SELECT name, state, started_by::text, options,"
				" ARRAY(SELECT b.batch_id FROM import_rollback.batch b"
				"       WHERE b.run_id = r.run_id"
				"       ORDER BY b.applied_at NULLS LAST, b.batch_id)"
				" FROM import_rollback.run r WHERE run_id = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT, &read_plan);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", run_id),
				 errhint("The view ir_runs lists the runs you can see.")));
	MemoryContextSwitchTo(callercxt);
	r = palloc0(sizeof(IrRun));
	r->run_id = run_id;
	r->name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	r->state = ir_run_state_from_name(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	r->started_by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	r->options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	members = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	{
		ArrayType  *arr = DatumGetArrayTypePCopy(members);
		Datum	   *elems;
		int			n;

		deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, NULL, &n);
		for (int i = 0; i < n; i++)
		{
			int64	   *id = palloc(sizeof(int64));

			*id = DatumGetInt64(elems[i]);
			r->members = lappend(r->members, id);
		}
	}
	restore_caller(&save);
	return r;
}

/* Record a run's state change and its event. */
void
ir_store_run_state(int64 run_id, IrRunState from, IrRunState to, const char *detail)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[5] = {INT8OID, TEXTOID, TEXTOID, NAMEOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";
	OwnerSave	save;

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(ir_run_state_name(to));
	if (detail)
		values[2] = CStringGetTextDatum(detail);
	else
		nulls[2] = 'n';
	values[3] = name_datum(ir_current_role_name());
	values[4] = CStringGetTextDatum(ir_run_state_name(from));
	become_owner(&save);
	ir_spi_exec("WITH u AS ("
			   " UPDATE import_rollback.run SET state = $2,"
			   "  applied_at = CASE WHEN $2 = 'applied' THEN clock_timestamp() ELSE applied_at END,"
			   "  rolled_back_at = CASE WHEN $2 = 'rolled_back' THEN clock_timestamp() ELSE rolled_back_at END,"
			   "  ended_at = CASE WHEN $2 IN ('rolled_back', 'failed', 'cancelled') THEN clock_timestamp() END,"
			   "  last_error = CASE WHEN $2 = 'failed' THEN $3"
			   "   WHEN $2 IN ('open', 'applied') THEN NULL ELSE last_error END"
			   " WHERE run_id = $1 RETURNING run_id)"
			   " INSERT INTO import_rollback.run_event (run_id, event_at, role_name, from_state, to_state, detail)"
			   " SELECT run_id, clock_timestamp(), $4, $5, $2, $3 FROM u",
			   5, argtypes, values, nulls, SPI_OK_INSERT, &plan);
	if (SPI_processed != 1)
		elog(ERROR, "run " INT64_FORMAT " vanished during a state change", run_id);
	restore_caller(&save);
}

/*
 * The batches of ids (int64 *) as steps of a rollback, newest applied
 * first (IrPlanStep *).
 */
List *
ir_store_plan_steps(List *ids)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[1] = {INT8ARRAYOID};
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(ids), 1));
	Datum		values[1];
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	List	   *result = NIL;
	ListCell   *lc;
	int			n = 0;

	foreach(lc, ids)
		elems[n++] = Int64GetDatum(*(int64 *) lfirst(lc));
	values[0] = ir_int8_array(elems, n);
	become_owner(&save);
	ir_spi_exec("SELECT batch_id, source_name, applied_at,"
				" coalesce(inserted, 0) + coalesce(updated, 0), coalesce(run_id, 0)"
				" FROM import_rollback.batch WHERE batch_id = ANY ($1)"
				" ORDER BY applied_at DESC, batch_id DESC",
				1, argtypes, values, NULL, SPI_OK_SELECT, &plan);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		IrPlanStep *st = palloc0(sizeof(IrPlanStep));

		st->batch_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		st->source_name = SPI_getvalue(tup, desc, 2);
		st->applied_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		st->records = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		st->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		result = lappend(result, st);
		MemoryContextSwitchTo(old);
	}
	restore_caller(&save);
	return result;
}

/* ---------------------------------------------------------------------
 * Retention
 * ---------------------------------------------------------------------
 */

/*
 * The batches ir_purge(older_than) takes, oldest id first, that the
 * caller may purge (all for a superuser; else those it started and those
 * on tables it owns): ended (rolled back, cancelled, failed) longer ago
 * than older_than, left received, staged or validated that long since
 * their last step, and with applied, applied that long ago.  With lock
 * they are locked FOR UPDATE, and a batch that changed meanwhile is judged
 * as it is now (READ COMMITTED re-checks the conditions on it).
 */
List *
ir_store_purge_candidates(Interval *older_than, bool applied, bool lock)
{
	static SPIPlanPtr plans[2];
	static const Oid argtypes[5] = {INTERVALOID, BOOLOID, BOOLOID, NAMEOID, OIDOID};
	Datum		values[5];
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	List	   *result = NIL;

	values[0] = IntervalPGetDatum(older_than);
	values[1] = BoolGetDatum(applied);
	values[2] = BoolGetDatum(superuser());
	values[3] = name_datum(ir_current_role_name());
	values[4] = ObjectIdGetDatum(GetUserId());
	become_owner(&save);
	ir_spi_exec(psprintf("SELECT b.batch_id, b.state FROM import_rollback.batch b"
						 " LEFT JOIN pg_catalog.pg_class c ON c.oid = b.target_relid"
						 " WHERE b.purged_at IS NULL"
						 "   AND ($3 OR b.started_by = $4"
						 "        OR (c.oid IS NOT NULL AND pg_catalog.pg_has_role($5, c.relowner, 'USAGE')))"
						 "   AND CASE WHEN b.state IN ('rolled_back', 'cancelled', 'failed')"
						 "              THEN coalesce(b.ended_at, b.started_at)"
						 "            WHEN b.state = 'applied' THEN CASE WHEN $2 THEN b.applied_at END"
						 "            ELSE greatest(b.started_at, b.staged_at, b.validated_at) END"
						 "       < pg_catalog.now() - $1"
						 " ORDER BY b.batch_id%s",
						 lock ? " FOR UPDATE OF b" : ""),
				5, argtypes, values, NULL, SPI_OK_SELECT, &plans[lock ? 1 : 0]);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		IrPurgeCandidate *c = palloc(sizeof(IrPurgeCandidate));

		c->batch_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		c->state = ir_state_from_name(SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
		result = lappend(result, c);
		MemoryContextSwitchTo(old);
	}
	restore_caller(&save);
	return result;
}

/* Bytes a batch's staging table and change log take, indexes and TOAST included. */
int64
ir_store_batch_tables_bytes(int64 batch_id)
{
	int64		bytes = 0;
	Oid			relids[2] = {ir_stage_table_oid(batch_id), ir_log_table_oid(batch_id)};

	for (int i = 0; i < 2; i++)
		if (OidIsValid(relids[i]))
			bytes += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
													   ObjectIdGetDatum(relids[i])));
	return bytes;
}

/*
 * Drop a batch's staging table and change log and record when (the
 * caller locked the batch).  Its catalog row, columns, events and
 * validation runs stay: the audit trail.
 */
void
ir_store_purge_batch(int64 batch_id)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	OwnerSave	save;
	bool		log = OidIsValid(ir_log_table_oid(batch_id));

	become_owner(&save);
	if (OidIsValid(ir_stage_table_oid(batch_id)))
		ir_spi_exec(psprintf("DROP TABLE %s%s%s", ir_stage_table(batch_id),
							 log ? ", " : "", log ? ir_log_table(batch_id) : ""),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	else if (log)
		ir_spi_exec(psprintf("DROP TABLE %s", ir_log_table(batch_id)),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	ir_spi_exec("UPDATE import_rollback.batch SET purged_at = clock_timestamp()"
				" WHERE batch_id = $1",
				1, argtypes, values, NULL, SPI_OK_UPDATE, &plan);
	restore_caller(&save);
}

/* ---------------------------------------------------------------------
 * Lending a per-batch table to the caller
 * ---------------------------------------------------------------------
 */

/*
 * Let the caller read (with privs) a table of ours until ir_lend_end(),
 * and pin search_path for the caller's statements meanwhile.  Nothing to
 * grant to a superuser.  The grant is made and taken back inside the
 * caller's transaction, so no other session ever sees it; two sessions
 * lending one table take turns (a GRANT updates the table's pg_class row).
 */
static void
lend(IrLend *l, char *table, Oid relid, const char *privs)
{
	l->table = table;
	l->grantee = superuser() ? NULL : ir_current_role_name();
	if (l->grantee)
	{
		LockRelationOid(relid, ShareUpdateExclusiveLock);
		owner_exec(psprintf("GRANT %s ON %s TO %s", privs, table, quote_identifier(l->grantee)),
				   0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	}
	l->guc_nestlevel = ir_guard_begin();
}

/* Lend a batch's staging table: SELECT, and with write its rejects' columns. */
void
ir_lend_stage(IrLend *l, int64 batch_id, bool write)
{
	lend(l, ir_stage_table(batch_id), ir_stage_table_oid(batch_id),
		 write ? "SELECT, UPDATE (status, errors)" : "SELECT");
}

/* Lend a batch's change log, for reading. */
void
ir_lend_log(IrLend *l, int64 log_batch_id)
{
	lend(l, ir_log_table(log_batch_id), ir_log_table_oid(log_batch_id), "SELECT");
}

/*
 * Take back what ir_lend_stage() or ir_lend_log() lent (in reverse order),
 * from the role it was lent to, whatever role user code has switched to
 * meanwhile; settings user code made meanwhile (a SET ROLE, a search_path)
 * are undone with it.
 */
void
ir_lend_end(IrLend *l)
{
	AtEOXact_GUC(false, l->guc_nestlevel);
	if (l->grantee)
		owner_exec(psprintf("REVOKE ALL ON %s FROM %s", l->table, quote_identifier(l->grantee)),
				   0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
}

/* ---------------------------------------------------------------------
 * Targets: change-log triggers, TRUNCATEs, cascading foreign keys
 * ---------------------------------------------------------------------
 */

/*
 * tgenabled of a trigger on relid by name, '\0' when there is none, and
 * NOT_OURS when a trigger of that name is not the one this extension
 * creates (another function, events, columns, arguments or condition).
 * As the owner, in SPI.
 */
#define NOT_OURS '?'

static char
trigger_enabled(Oid relid, const char *name)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	char		result = '\0';

	values[0] = ObjectIdGetDatum(relid);
	values[1] = name_datum(name);
	ir_spi_exec("SELECT CASE WHEN t.tgnargs = 0 AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) = 0"
				"   AND t.tgconstraint = 0 AND CASE t.tgname"
				"     WHEN '" IR_CHANGELOG_TRIGGER "' THEN t.tgtype = 29"
				"       AND t.tgfoid = 'import_rollback.ir_changelog()'::pg_catalog.regprocedure"
				"       AND pg_catalog.pg_get_triggerdef(t.oid) LIKE"
				"         '% FOR EACH ROW WHEN (import_rollback.ir_logging()) EXECUTE FUNCTION %'"
				"     ELSE t.tgtype = 32 AND t.tgqual IS NULL"
				"       AND t.tgfoid = 'import_rollback.ir_truncated()'::pg_catalog.regprocedure END"
				" THEN t.tgenabled ELSE '?' END"
				" FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1 AND t.tgname = $2",
				2, argtypes, values, NULL, SPI_OK_SELECT, &plan);
	if (SPI_processed > 0)
	{
		bool		isnull;

		result = DatumGetChar(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return result;
}

static char *
relation_sql_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Make sure relid carries the change-log and TRUNCATE triggers, enabled
 * ALWAYS (they fire under session_replication_role = replica too):
 * install them on first use; refuse when someone disabled them or put
 * other triggers under their names, since writes would then go unlogged.
 *	  import_rollback_changelog  AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW
 *	                             WHEN (import_rollback.ir_logging())
 *	  import_rollback_truncate   AFTER TRUNCATE FOR EACH STATEMENT, on every
 *	                             partition too (statement triggers are not
 *	                             cloned)
 */
void
ir_store_track_target(Oid relid)
{
	OwnerSave	save;
	char	   *qname = relation_sql_name(relid);
	char		cl;
	char		tr;

	become_owner(&save);
	cl = trigger_enabled(relid, IR_CHANGELOG_TRIGGER);
	tr = trigger_enabled(relid, IR_TRUNCATE_TRIGGER);
	if (cl == '\0' || tr == '\0')
	{
		/* first use: take the lock CREATE TRIGGER needs, then look again */
		LockRelationOid(relid, ShareRowExclusiveLock);
		cl = trigger_enabled(relid, IR_CHANGELOG_TRIGGER);
		tr = trigger_enabled(relid, IR_TRUNCATE_TRIGGER);
	}
	if (cl == '\0')
		ir_spi_exec(psprintf("CREATE TRIGGER " IR_CHANGELOG_TRIGGER
							 " AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW"
							 " WHEN (import_rollback.ir_logging())"
							 " EXECUTE FUNCTION import_rollback.ir_changelog()", qname),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	if (tr == '\0')
		ir_spi_exec(psprintf("CREATE TRIGGER " IR_TRUNCATE_TRIGGER
							 " AFTER TRUNCATE ON %s FOR EACH STATEMENT"
							 " EXECUTE FUNCTION import_rollback.ir_truncated()", qname),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
	if (cl == '\0' || tr == '\0')
	{
		ir_spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER " IR_CHANGELOG_TRIGGER ","
							 " ENABLE ALWAYS TRIGGER " IR_TRUNCATE_TRIGGER, qname),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
		ir_spi_exec(psprintf("INSERT INTO import_rollback.tracked_table"
							 " (target_schema, target_table, tracked_at, target_relid)"
							 " VALUES (%s, %s, clock_timestamp(), %u)"
							 " ON CONFLICT (target_relid) DO NOTHING",
							 quote_literal_cstr(get_namespace_name(get_rel_namespace(relid))),
							 quote_literal_cstr(get_rel_name(relid)), relid),
					0, NULL, NULL, NULL, SPI_OK_INSERT, NULL);
	}
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		{
			Oid			part = lfirst_oid(lc);
			char	   *pname;

			if (part == relid || get_rel_relkind(part) != RELKIND_RELATION ||
				trigger_enabled(part, IR_TRUNCATE_TRIGGER) != '\0')
				continue;
			pname = relation_sql_name(part);
			ir_spi_exec(psprintf("CREATE TRIGGER " IR_TRUNCATE_TRIGGER
								 " AFTER TRUNCATE ON %s FOR EACH STATEMENT"
								 " EXECUTE FUNCTION import_rollback.ir_truncated()", pname),
						0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
			ir_spi_exec(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER " IR_TRUNCATE_TRIGGER, pname),
						0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
		}
	}
	restore_caller(&save);

	if (cl == NOT_OURS || tr == NOT_OURS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trigger \"%s\" on %s is not the one import_rollback installs",
						cl == NOT_OURS ? IR_CHANGELOG_TRIGGER : IR_TRUNCATE_TRIGGER, qname),
				 errdetail("Its function, events, columns, arguments or WHEN condition differ; "
						   "a batch's writes could go unlogged."),
				 errhint("Drop the trigger; the next ir_apply() creates it again.")));
	if ((cl != '\0' && cl != TRIGGER_FIRES_ALWAYS) ||
		(tr != '\0' && tr != TRIGGER_FIRES_ALWAYS))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the change-log triggers of %s are not enabled ALWAYS", qname),
				 errdetail("A disabled or replica-dependent trigger would let a batch's writes go unlogged, "
						   "and the batch could not be rolled back."),
				 errhint("Run ALTER TABLE %s ENABLE ALWAYS TRIGGER " IR_CHANGELOG_TRIGGER
						 ", ENABLE ALWAYS TRIGGER " IR_TRUNCATE_TRIGGER ".", qname)));
}

/*
 * Remove the change-log triggers from relid (and the TRUNCATE trigger from
 * its partitions) unless an applied batch could still be rolled back:
 * returns how many there are (nothing is removed then).
 */
int64
ir_store_untrack_target(Oid relid)
{
	OwnerSave	save;
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);
	int64		applied;
	bool		isnull;
	ListCell   *lc;

	become_owner(&save);
	ir_spi_exec(psprintf("SELECT count(*) FROM import_rollback.batch"
						 " WHERE target_relid = %u AND state = 'applied' AND purged_at IS NULL", relid),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	applied = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (applied == 0)
	{
		ir_spi_exec(psprintf("DROP TRIGGER IF EXISTS " IR_CHANGELOG_TRIGGER " ON %s",
							 quote_qualified_identifier(nsp, rel)),
					0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
			ir_spi_exec(psprintf("DROP TRIGGER IF EXISTS " IR_TRUNCATE_TRIGGER " ON %s",
								 relation_sql_name(lfirst_oid(lc))),
						0, NULL, NULL, NULL, SPI_OK_UTILITY, NULL);
		ir_spi_exec(psprintf("DELETE FROM import_rollback.tracked_table WHERE target_relid = %u",
							 relid),
					0, NULL, NULL, NULL, SPI_OK_DELETE, NULL);
	}
	restore_caller(&save);
	return applied;
}

/*
 * A TRUNCATE of relid: record the time for it and the partitioned tables
 * it is a partition of, so a rollback of a batch applied before it refuses.
 */
void
ir_store_note_truncate(Oid relid)
{
	static SPIPlanPtr plan;
	static const Oid argtypes[1] = {OIDOID};
	Datum		values[1];
	OwnerSave	save;
	ListCell   *lc;

	become_owner(&save);
	foreach(lc, lcons_oid(relid, get_partition_ancestors(relid)))
	{
		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		ir_spi_exec("UPDATE import_rollback.tracked_table SET truncated_at = clock_timestamp()"
					" WHERE target_relid = $1",
					1, argtypes, values, NULL, SPI_OK_UPDATE, &plan);
	}
	restore_caller(&save);
}

/*
 * In a sql_drop event trigger: unbind the batches and tracking of the
 * tables just dropped from their OIDs (the server may reuse them).  The
 * batches keep their rows, rejects and logs, and name the table as it was.
 */
void
ir_store_forget_dropped(void)
{
	OwnerSave	save;

	become_owner(&save);
	ir_spi_exec("WITH d AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()"
				"            WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND objsubid = 0),"
				" b AS (UPDATE import_rollback.batch SET target_relid = NULL"
				"        WHERE target_relid::pg_catalog.oid IN (SELECT objid FROM d) RETURNING 1)"
				" DELETE FROM import_rollback.tracked_table"
				"  WHERE target_relid::pg_catalog.oid IN (SELECT objid FROM d)",
				0, NULL, NULL, NULL, SPI_OK_DELETE, NULL);
	restore_caller(&save);
}

/*
 * The foreign keys referencing relid whose ON DELETE or ON UPDATE action
 * would change the referencing table (IrCascadeKey *): read from the
 * catalogs alone, as the owner with search_path pinned, so no function or
 * operator of the caller's shapes them.
 */
List *
ir_store_cascading_keys(Oid relid)
{
	MemoryContext callercxt = CurrentMemoryContext;
	OwnerSave	save;
	List	   *keys = NIL;

	become_owner(&save);
	ir_spi_exec(psprintf("SELECT c.conname::text, c.conrelid::pg_catalog.regclass::text, c.confdeltype::text,"
						 " c.confupdtype::text,"
						 " (SELECT pg_catalog.array_agg(f.attname::text ORDER BY k.i)"
						 "    FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY AS k(tgt, i)"
						 "    JOIN pg_catalog.pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.tgt),"
						 " (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.i)"
						 "    FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(ref, i)"
						 "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.ref),"
						 " c.conpfeqop, c.conrelid, r.relowner"
						 " FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
						 " WHERE c.confrelid = %u AND c.contype = 'f'"
						 " AND (c.confdeltype IN ('c', 'n', 'd') OR c.confupdtype IN ('c', 'n', 'd'))",
						 relid),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		IrCascadeKey *key = palloc0(sizeof(IrCascadeKey));
		bool		isnull;
		int			n;
		Datum	   *ops;

		key->name = SPI_getvalue(tup, desc, 1);
		key->referencing = SPI_getvalue(tup, desc, 2);
		key->on_delete = SPI_getvalue(tup, desc, 3)[0];
		key->on_update = SPI_getvalue(tup, desc, 4)[0];
		key->target_cols = ir_array_strings(SPI_getbinval(tup, desc, 5, &isnull), &key->ncols, callercxt);
		key->fk_cols = ir_array_strings(SPI_getbinval(tup, desc, 6, &isnull), &n, callercxt);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull)),
						  OIDOID, sizeof(Oid), true, TYPALIGN_INT, &ops, NULL, &n);
		key->pfeqop = palloc(sizeof(Oid) * Max(n, 1));
		for (int c = 0; c < n; c++)
			key->pfeqop[c] = DatumGetObjectId(ops[c]);
		key->referencing_relid = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
		key->referencing_owner = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
		keys = lappend(keys, key);
		MemoryContextSwitchTo(old);
	}
	restore_caller(&save);
	return keys;
}

/* The owner of relation relid. */
static Oid
rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Of the key values in arrays[0..ncols) (element types types[], the
 * referencing side of a foreign key), those relid lacks in ref_cols,
 * compared with the key's operators pfeqop (PK = FK) found by OID.  For a
 * foreign key (as_owner) looked up as relid's owner, past its row
 * security, as PostgreSQL's foreign-key triggers look: the caller needs no
 * privilege on the referenced table, and the operators are the ones that
 * owner's constraint names.  For a reference rule looked up as the caller,
 * who was checked to read relid without row security: its operators come
 * from the types' operator families, which another role may have made.
 * Returns the missing values as arrays of the same types (NULL when none)
 * and their number in *nmissing.
 */
typedef struct MatchCols
{
	char	  **ref_cols;
	const Oid  *pfeqop;
} MatchCols;

/* r.<referenced column c> equals k.c<c+1>, as the foreign key compares. */
static char *
referenced_match(int c, void *arg)
{
	MatchCols  *mc = arg;

	return ir_sql_op(mc->pfeqop[c], psprintf("r.%s", quote_identifier(mc->ref_cols[c])),
					 psprintf("k.c%d", c + 1));
}

Datum *
ir_store_missing_references(Oid relid, int ncols, char **ref_cols, const Oid *types,
							const Oid *pfeqop, const Datum *arrays, bool as_owner,
							int64 *nmissing)
{
	MatchCols	mc;
	char	   *sql;
	OwnerSave	save;
	Oid		   *argtypes = palloc(sizeof(Oid) * ncols);
	Datum	   *result = palloc(sizeof(Datum) * ncols);
	MemoryContext callercxt = CurrentMemoryContext;
	bool		isnull;

	mc.ref_cols = ref_cols;
	mc.pfeqop = pfeqop;
	/* ONLY for a plain table, as the foreign key's own check reads it */
	sql = ir_sql_values_missing(ncols, types, argtypes, psprintf("FROM %s r WHERE true", ir_sql_scan(relid)),
								referenced_match, &mc);

	if (as_owner)
		become_role(rel_owner(relid), SECURITY_NOFORCE_RLS, &save);
	SPI_connect();
	ir_spi_exec(sql, ncols, argtypes, arrays, NULL, SPI_OK_SELECT, NULL);
	*nmissing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	for (int c = 0; c < ncols && *nmissing > 0; c++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 2, &isnull);
		MemoryContext old = MemoryContextSwitchTo(callercxt);

		result[c] = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (as_owner)
		restore_user(&save);
	return *nmissing > 0 ? result : NULL;
}

/*
 * Does any row of key's referencing table reference one of the values in
 * the arrays values[0..ncols) (of the target's key columns)?  Looked up
 * as the referencing table's owner, past its row security, with the key's
 * own operators found by OID (sqlgen.c), as PostgreSQL's foreign-key
 * triggers do: the caller needs no privilege on a table it does not write.
 */
bool
ir_store_key_referenced(const IrCascadeKey *key, const Oid *argtypes,
						const Datum *values, const char *nulls)
{
	StringInfoData q;
	OwnerSave	save;
	bool		found;
	bool		isnull;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT EXISTS (SELECT 1 FROM ROWS FROM (");
	for (int c = 0; c < key->ncols; c++)
		appendStringInfo(&q, "%spg_catalog.unnest($%d)", c ? ", " : "", c + 1);
	appendStringInfoString(&q, ") AS k(");
	for (int c = 0; c < key->ncols; c++)
		appendStringInfo(&q, "%sc%d", c ? ", " : "", c + 1);
	/* ONLY for a plain table: the key does not apply to its inheritance children */
	appendStringInfo(&q, ") JOIN %s r ON ", ir_sql_scan(key->referencing_relid));
	for (int c = 0; c < key->ncols; c++)
		appendStringInfo(&q, "%s%s", c ? " AND " : "",
						 ir_sql_op(key->pfeqop[c], psprintf("k.c%d", c + 1),
								   psprintf("r.%s", quote_identifier(key->fk_cols[c]))));
	appendStringInfoChar(&q, ')');

	become_role(key->referencing_owner, SECURITY_NOFORCE_RLS, &save);
	SPI_connect();
	ir_spi_exec(q.data, key->ncols, argtypes, values, nulls, SPI_OK_SELECT, NULL);
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	restore_user(&save);
	return found;
}
