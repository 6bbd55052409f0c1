/*-------------------------------------------------------------------------
 *
 * review.c
 *	  Review of a validated batch before it is applied:
 *	  ir_sample   rows spread over the whole file, each with its raw source,
 *	              mapped typed values, the live record and the action
 *	  ir_preview  per target column, how many records would change, with an
 *	              example old and new value; plus inserts and unchanged
 *
 * Both read the target as the caller (its privileges and row security
 * apply) with the staging table lent for the call (mapping.c).  Typed
 * values are computed only for valid rows, guarded by CASE, so a rejected
 * row's bad value is never converted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "exec.h"
#include "mapping.h"
#include "ops.h"
#include "sqlgen.h"
#include "storage.h"

/*
 * SQL text of a subquery "s" over the staging table with, for valid rows,
 * the typed value of each mapped column as v<i>; where is an extra filter.
 */
static char *
typed_rows_sql(IrMapping *m, const char *stage, const char *where)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "(SELECT s.*");
	for (int i = 0; i < m->ncols; i++)
		appendStringInfo(&q, ", CASE WHEN s.status IS NULL THEN %s END AS v%d",
						 ir_typed_expr(&m->cols[i], "s"), i);
	appendStringInfo(&q, " FROM %s s%s%s) s", stage, where ? " WHERE " : "", where ? where : "");
	return q.data;
}

/* SQL text: target t has the key of typed row s. */
static char *
join_on_key(IrMapping *m)
{
	StringInfoData q;

	initStringInfo(&q);
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(m, k, psprintf("t.%s", quote_identifier(m->key_names[k])),
										  psprintf("s.v%d", m->key_col[k])));
	return q.data;
}

/* SQL text: a non-key mapped column of typed row s differs from t. */
static char *
any_change(IrMapping *m)
{
	StringInfoData q;

	initStringInfo(&q);
	for (int i = 0; i < m->ncols; i++)
	{
		if (m->cols[i].is_key)
			continue;
		appendStringInfo(&q, "%s%s", q.len ? " OR " : "",
						 ir_distinct_sql(&m->cols[i],
										 psprintf("t.%s", quote_identifier(m->cols[i].name)),
										 psprintf("s.v%d", i)));
	}
	return q.len ? q.data : "false";
}

/*
 * SQL: the live record t's columns (all of them, mapped or not) for
 * to_jsonb(), each as ir_sql_json_value() gives it.
 */
static char *
live_record_sql(IrMapping *m)
{
	Relation	rel = relation_open(m->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData q;

	initStringInfo(&q);
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		const char *col = quote_identifier(NameStr(att->attname));

		if (att->attisdropped)
			continue;
		appendStringInfo(&q, "%s%s AS %s", q.len ? ", " : "",
						 ir_sql_json_value(att->atttypid, psprintf("t.%s", col)), col);
	}
	relation_close(rel, NoLock);
	return q.data;
}

/* The file's column keys of a batch, in order, as a text[] datum. */
static Datum
source_keys_array(IrMapping *m)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(m->nsource, 1));

	for (int i = 0; i < m->nsource; i++)
		elems[i] = CStringGetTextDatum(m->source_keys[i]);
	return PointerGetDatum(construct_array(elems, m->nsource, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * ir_sample: n rows of a validated batch at evenly spaced positions over
 * the whole file (the middle of each of n equal slices), so the same batch
 * always gives the same sample, into ts as (row_no, action, source,
 * mapped, current).
 */
void
ir_sample_batch(IrBatch *batch, int32 n, Tuplestorestate *ts, TupleDesc desc)
{
	IrMapping  *m;
	IrLend		acc;
	IrPendingScope pending;
	StringInfoData q;
	StringInfoData mapped;
	StringInfoData src;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];

	ir_batch_require_staging(batch);

	m = ir_mapping_of_batch(batch);
	if (n == 0 || batch->rows_total <= 0)
		return;
	/* more rows than the file has is the whole file */
	if (n > batch->rows_total)
		n = (int32) batch->rows_total;

	initStringInfo(&src);
	for (int i = 1; i <= m->nsource; i++)
		appendStringInfo(&src, "%ss.c%d", i > 1 ? ", " : "", i);
	initStringInfo(&mapped);
	for (int i = 0; i < m->ncols; i++)
		appendStringInfo(&mapped, "%s%s AS %s", i ? ", " : "",
						 ir_sql_json_value(m->cols[i].typid, psprintf("s.v%d", i)),
						 quote_identifier(m->cols[i].name));

	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT s.row_no,"
					 " CASE WHEN s.status IS NOT NULL THEN 'rejected'"
					 "      WHEN t.ctid IS NULL THEN 'insert'"
					 "      WHEN %s THEN 'update' ELSE 'unchanged' END,"
					 " jsonb_object($1::text[], ARRAY[%s]::text[]),"
					 " CASE WHEN s.status IS NULL THEN (SELECT to_jsonb(ir_m.*) FROM (SELECT %s) ir_m) END,"
					 " CASE WHEN t.ctid IS NOT NULL THEN (SELECT to_jsonb(ir_c.*) FROM (SELECT %s) ir_c) END"
					 " FROM %s LEFT JOIN %s t ON %s"
					 " ORDER BY s.row_no",
					 any_change(m), src.data, mapped.data, live_record_sql(m),
					 typed_rows_sql(m, ir_stage_table(batch->batch_id),
									psprintf("s.row_no IN (SELECT DISTINCT floor((g + 0.5) * " INT64_FORMAT " / %d)::bigint + 1"
											 " FROM generate_series(0, %d) g)",
											 batch->rows_total, n, n - 1)),
					 m->scan, join_on_key(m));

	args[0] = source_keys_array(m);
	ir_run_pending_begin(batch, &pending);
	ir_lend_stage(&acc, batch->batch_id, false);
	SPI_connect();
	ir_spi_materialize(q.data, 1, argtypes, args, ts, desc);
	SPI_finish();
	ir_lend_end(&acc);
	ir_run_pending_end(&pending);
}

/*
 * ir_preview: into ts, one row per mapped non-key column of a validated
 * batch (column_name, rows_changed, example_old, example_new): the
 * records whose value would change, with the first such record's old and
 * new value; then "(insert)" (new records, example: the first new key)
 * and "(unchanged)".
 */
void
ir_preview_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc)
{
	IrMapping  *m;
	IrLend		acc;
	IrPendingScope pending;
	StringInfoData q;
	StringInfoData keytext;
	int			nout = 0;
	int		   *colidx;

	ir_batch_require_staging(batch);

	m = ir_mapping_of_batch(batch);

	initStringInfo(&keytext);
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&keytext, "%s%s", k ? " || ', ' || " : "",
						 ir_sql_text(psprintf("s.v%d", m->key_col[k])));

	/*
	 * One materialized join of valid rows with the target; per column the
	 * count of changes and the first changed record's old and new value.
	 */
	colidx = palloc(sizeof(int) * m->ncols);
	for (int i = 0; i < m->ncols; i++)
		if (!m->cols[i].is_key)
			colidx[nout++] = i;
	initStringInfo(&q);
	appendStringInfoString(&q, "WITH j AS MATERIALIZED (SELECT s.row_no, t.ctid IS NOT NULL AS found");
	for (int k = 0; k < nout; k++)
	{
		int			i = colidx[k];
		const char *col = quote_identifier(m->cols[i].name);

		appendStringInfo(&q, ", t.ctid IS NOT NULL AND %s AS ch%d, %s AS old%d, %s AS new%d",
						 ir_distinct_sql(&m->cols[i], psprintf("t.%s", col), psprintf("s.v%d", i)),
						 k, ir_sql_text(psprintf("t.%s", col)), k, ir_sql_text(psprintf("s.v%d", i)), k);
	}
	appendStringInfo(&q, ", %s AS keytext, t.ctid IS NOT NULL AND (%s) AS changed"
					 " FROM %s LEFT JOIN %s t ON %s)",
					 keytext.data, any_change(m),
					 typed_rows_sql(m, ir_stage_table(batch->batch_id), "s.status IS NULL"),
					 m->scan, join_on_key(m));
	for (int k = 0; k < nout; k++)
		appendStringInfo(&q, " SELECT %s::text, (SELECT count(*) FROM j WHERE ch%d),"
						 " e.old%d, e.new%d FROM (SELECT 1) one"
						 " LEFT JOIN (SELECT * FROM j WHERE ch%d ORDER BY row_no LIMIT 1) e ON true"
						 " UNION ALL",
						 quote_literal_cstr(m->cols[colidx[k]].name), k, k, k, k);
	appendStringInfoString(&q,
						   " SELECT '(insert)', (SELECT count(*) FROM j WHERE NOT found), NULL,"
						   "  (SELECT keytext FROM j WHERE NOT found ORDER BY row_no LIMIT 1)"
						   " UNION ALL"
						   " SELECT '(unchanged)', (SELECT count(*) FROM j WHERE found AND NOT changed), NULL, NULL");

	ir_run_pending_begin(batch, &pending);
	ir_lend_stage(&acc, batch->batch_id, false);
	SPI_connect();
	ir_spi_materialize(q.data, 0, NULL, NULL, ts, desc);
	SPI_finish();
	ir_lend_end(&acc);
	ir_run_pending_end(&pending);
}
