/*-------------------------------------------------------------------------
 *
 * reports.c
 *	  Read-only reports on a batch: ir_rejects and ir_changes.
 *
 * ir_rejects reads the staging table as the extension owner (only text and
 * jsonb_object: no user code runs); ir_changes reads the log and staging
 * as the caller, lent access for the call, because converting the key
 * runs the type's input (a domain's CHECK may be user code).  Both check
 * that the caller may read the batch (SELECT on its target).  Results are materialized in a tuplestore, read
 * from an SPI cursor so that a large reject set never sits in memory whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "import_rollback.h"

PG_FUNCTION_INFO_V1(ir_rejects);
PG_FUNCTION_INFO_V1(ir_changes);

#define FETCH_ROWS 1000

/*
 * SQL text: the raw source row of a staging table as jsonb, keyed by the
 * file's column keys ($1, a text[] in file order).
 */
static char *
source_json_expr(int ncols)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "jsonb_object($1::text[], ARRAY[");
	for (int i = 1; i <= ncols; i++)
		appendStringInfo(&buf, "%ss.c%d", i > 1 ? ", " : "", i);
	appendStringInfoString(&buf, "]::text[])");
	return buf.data;
}

/*
 * Run query (with $1, a text[], when keys is not 0) through a cursor and
 * put every row, natts columns, into the function's tuplestore.
 */
static void
materialize_query(FunctionCallInfo fcinfo, const char *query, Datum keys, int natts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1] = {keys};
	Portal		portal;
	SPIPlanPtr	plan;

	plan = SPI_prepare(query, keys ? 1 : 0, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, keys ? values : NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		vals[8];
			bool		nulls[8];

			Assert(natts <= 8);
			for (int c = 0; c < natts; c++)
				vals[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										c + 1, &nulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* The file's column keys of a batch, in file order, as a text[] datum. */
static Datum
batch_keys(int64 batch_id, int *ncols)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(batch_id)};
	bool		isnull;
	Datum		keys;

	ir_spi_exec("SELECT coalesce(array_agg(source_key ORDER BY ordinal), '{}'), count(*)::int4"
				" FROM import_rollback.batch_column WHERE batch_id = $1",
				1, argtypes, values, NULL, SPI_OK_SELECT, NULL);
	keys = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*ncols = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return keys;
}

/*
 * ir_rejects(batch bigint) RETURNS TABLE(row_no bigint, errors text[], source jsonb)
 * Every rejected row of the batch, in file order.
 */
Datum
ir_rejects(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	IrOwnerSave save;
	Datum		keys;
	int			ncols;

	ir_require_installed_version();

	ir_check_not_null(fcinfo, 0, "batch");
	batch = ir_batch_fetch(PG_GETARG_INT64(0), false, IR_ACCESS_READ);
	InitMaterializedSRF(fcinfo, 0);

	ir_become_owner(&save);
	SPI_connect();
	keys = batch_keys(batch->batch_id, &ncols);
	materialize_query(fcinfo,
					  psprintf("SELECT s.row_no, s.errors, %s FROM %s s"
							   " WHERE s.status IS NOT NULL ORDER BY s.row_no",
							   source_json_expr(ncols),
							   ir_staging_table_qualified(batch->batch_id)),
					  keys, 3);
	SPI_finish();
	ir_restore_user(&save);
	return (Datum) 0;
}

/*
 * ir_changes(batch bigint)
 *	 RETURNS TABLE(change_id bigint, row_no bigint, action text,
 *				   record_key jsonb, old_values jsonb, new_values jsonb)
 *
 * Every write of the batch in order: its apply's, then its rollback's.
 * Values are shown as the types' output text, keyed by column; an update
 * shows exactly the changed columns.  row_no is the staging row with the
 * record's key (one-to-one in a valid batch).  A column dropped from the
 * log (DROP TYPE ... CASCADE) is left out.
 */
Datum
ir_changes(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	IrMapping  *m;
	IrOwnerSave save;
	IrStagingAccess log_acc;
	IrStagingAccess stage_acc;
	MemoryContext callercxt = CurrentMemoryContext;
	StringInfoData keynames;
	StringInfoData keyvals;
	StringInfoData olds;
	StringInfoData news;
	StringInfoData match;
	StringInfoData typedkeys;
	char	   *logname;
	Oid			logrelid;
	char	  **names;
	bool	   *present;
	int			ncols;
	bool		isnull;

	ir_require_installed_version();

	ir_check_not_null(fcinfo, 0, "batch");
	batch = ir_batch_fetch(PG_GETARG_INT64(0), false, IR_ACCESS_READ);
	InitMaterializedSRF(fcinfo, 0);

	logname = psprintf("changes_" INT64_FORMAT, batch->batch_id);
	logrelid = get_relname_relid(logname, get_namespace_oid(IR_SCHEMA, false));
	if (!OidIsValid(logrelid))
		return (Datum) 0;		/* never applied: no writes */
	m = ir_mapping_of_batch(batch);

	/* the log's columns, read from the catalog as the owner */
	ir_become_owner(&save);
	SPI_connect();
	ir_spi_exec(psprintf("SELECT log_columns::text[] FROM import_rollback.batch WHERE batch_id = " INT64_FORMAT,
						 batch->batch_id),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	{
		Datum	   *elems;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &ncols);
		names = MemoryContextAlloc(callercxt, sizeof(char *) * Max(ncols, 1));
		for (int i = 0; i < ncols; i++)
			names[i] = MemoryContextStrdup(callercxt, TextDatumGetCString(elems[i]));
	}
	SPI_finish();
	ir_restore_user(&save);

	/*
	 * A logged column whose type was dropped with CASCADE is gone from the
	 * log too: its values are lost, the others are still shown.
	 */
	present = palloc(sizeof(bool) * Max(ncols, 1));
	initStringInfo(&olds);
	initStringInfo(&news);
	for (int i = 0; i < ncols; i++)
	{
		present[i] = get_attnum(logrelid, psprintf("n%d", i + 1)) != InvalidAttrNumber;
		if (!present[i])
			continue;
		appendStringInfo(&olds, "%s(%s, l.o%d::text, %d)", olds.len ? ", " : "",
						 quote_literal_cstr(names[i]), i + 1, i + 1);
		appendStringInfo(&news, "%s(%s, l.n%d::text, %d)", news.len ? ", " : "",
						 quote_literal_cstr(names[i]), i + 1, i + 1);
	}
	if (olds.len == 0)
	{
		appendStringInfoString(&olds, "(NULL, NULL, NULL)");
		appendStringInfoString(&news, "(NULL, NULL, NULL)");
	}
	initStringInfo(&keynames);
	initStringInfo(&keyvals);
	initStringInfo(&match);
	initStringInfo(&typedkeys);
	for (int k = 0; k < m->nkeys; k++)
	{
		int			pos = 0;

		for (int i = 0; i < ncols; i++)
			if (strcmp(names[i], m->key_names[k]) == 0 && present[i])
				pos = i + 1;
		appendStringInfo(&keynames, "%s%s", k ? ", " : "", quote_literal_cstr(m->key_names[k]));
		if (pos == 0)
		{
			/* the key's column is gone: no key, no source row */
			appendStringInfo(&keyvals, "%sNULL", k ? ", " : "");
			appendStringInfo(&match, "%sfalse", k ? " AND " : "");
			continue;
		}
		appendStringInfo(&keyvals, "%scoalesce(l.n%d, l.o%d)::text", k ? ", " : "", pos, pos);
		appendStringInfo(&typedkeys, ", CASE WHEN s.status IS NULL THEN %s END AS k%d",
						 ir_typed_expr(&m->cols[m->key_col[k]], "s"), k + 1);
		appendStringInfo(&match, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(m, k, psprintf("s.k%d", k + 1),
										  psprintf("coalesce(l.n%d, l.o%d)", pos, pos)));
	}

	/*
	 * The log and the staging table are read as the caller, lent for the
	 * call: the key's typed conversion may run user code (a domain's CHECK),
	 * which must never run as the owner.
	 */
	ir_changes_open(&log_acc, batch, batch->batch_id);
	ir_staging_open(&stage_acc, batch, false);
	SPI_connect();
	materialize_query(fcinfo,
					  psprintf("SELECT l.change_id, s.row_no, l.action,"
							   " jsonb_object(ARRAY[%s]::text[], ARRAY[%s]::text[]),"
							   " CASE WHEN l.action NOT IN ('insert', 'undo_delete') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END,"
							   " CASE WHEN l.action NOT IN ('delete', 'undo_insert') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END"
							   " FROM %s.%s l"
							   " LEFT JOIN (SELECT s.row_no%s FROM %s s) s ON %s"
							   " ORDER BY l.change_id",
							   keynames.data, keyvals.data, olds.data, news.data,
							   IR_SCHEMA, logname, typedkeys.data,
							   ir_staging_table_qualified(batch->batch_id), match.data),
					  (Datum) 0, 6);
	SPI_finish();
	ir_staging_close(&stage_acc);
	ir_staging_close(&log_acc);
	return (Datum) 0;
}
