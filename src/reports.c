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

#include "exec.h"
#include "mapping.h"
#include "ops.h"
#include "sqlgen.h"
#include "storage.h"

/*
 * ir_rejects: every rejected row of the batch, in file order, into ts as
 * (row_no, errors, source).
 */
void
ir_rejects_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc)
{
	ir_store_read_rejects(batch->batch_id, ts, desc);
}

/*
 * ir_changes: into ts, (change_id, row_no, action, record_key, old_values,
 * new_values) for every write of the batch in order: its apply's, then its
 * rollback's.
 * Values are shown as the types' output text, keyed by column; an update
 * shows exactly the changed columns.  row_no is the staging row with the
 * record's key (one-to-one in a valid batch).  A column dropped from the
 * log (DROP TYPE ... CASCADE) is left out.
 */
void
ir_changes_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc)
{
	IrMapping  *m;
	IrLogInfo	info;
	IrLend		log_acc;
	IrLend stage_acc;
	StringInfoData keynames;
	StringInfoData keyvals;
	StringInfoData olds;
	StringInfoData news;
	StringInfoData match;
	StringInfoData typedkeys;
	Oid			logrelid;
	char	  **names;
	bool	   *present;
	int			ncols;

	logrelid = ir_log_table_oid(batch->batch_id);
	if (!OidIsValid(logrelid))
		return;					/* never applied: no writes */
	m = ir_mapping_of_batch(batch);

	/* the log's columns, as the catalog records them */
	ir_store_log_info(batch->batch_id, &info);
	names = info.names;
	ncols = info.ncols;

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
		appendStringInfo(&olds, "%s(%s, %s, %d)", olds.len ? ", " : "",
						 quote_literal_cstr(names[i]), ir_sql_text(psprintf("l.o%d", i + 1)), i + 1);
		appendStringInfo(&news, "%s(%s, %s, %d)", news.len ? ", " : "",
						 quote_literal_cstr(names[i]), ir_sql_text(psprintf("l.n%d", i + 1)), i + 1);
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
		appendStringInfo(&keyvals, "%s%s", k ? ", " : "",
						 ir_sql_text(psprintf("coalesce(l.n%d, l.o%d)", pos, pos)));
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
	ir_lend_log(&log_acc, batch->batch_id);
	ir_lend_stage(&stage_acc, batch->batch_id, false);
	SPI_connect();
	ir_spi_materialize(psprintf("SELECT l.change_id, s.row_no, l.action,"
							   " jsonb_object(ARRAY[%s]::text[], ARRAY[%s]::text[]),"
							   " CASE WHEN l.action NOT IN ('insert', 'undo_delete') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END,"
							   " CASE WHEN l.action NOT IN ('delete', 'undo_insert') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END"
							   " FROM %s l"
							   " LEFT JOIN (SELECT s.row_no%s FROM %s s) s ON %s"
							   " ORDER BY l.change_id",
							   keynames.data, keyvals.data, olds.data, news.data,
							   ir_log_table(batch->batch_id), typedkeys.data,
							   ir_stage_table(batch->batch_id), match.data),
					   0, NULL, NULL, ts, desc);
	SPI_finish();
	ir_lend_end(&stage_acc);
	ir_lend_end(&log_acc);
}
