/*-------------------------------------------------------------------------
 *
 * reports.c
 *	  Read-only reports on a batch: ir_rejects.
 *
 * Reports read the catalog and staging tables as the extension owner,
 * after checking that the caller may read the batch (SELECT, INSERT or
 * UPDATE on its target).  Results are materialized in a tuplestore, read
 * from an SPI cursor so that a large reject set never sits in memory whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "import_rollback.h"

PG_FUNCTION_INFO_V1(ir_rejects);

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
 * Run query (one parameter: the column keys) through a cursor and put
 * every row into the function's tuplestore.
 */
static void
materialize_query(FunctionCallInfo fcinfo, const char *query, Datum keys)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1] = {keys};
	Portal		portal;
	SPIPlanPtr	plan;

	plan = SPI_prepare(query, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		vals[3];
			bool		nulls[3];

			for (int c = 0; c < 3; c++)
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
					  keys);
	SPI_finish();
	ir_restore_user(&save);
	return (Datum) 0;
}
