/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  ir_apply: write a validated batch's valid rows to its target in one
 *	  set-based statement, logged by the change-log trigger.
 *
 * The write runs as the caller, so the target's privileges, row security
 * and triggers apply exactly as for the caller's own INSERT/UPDATE; the
 * caller reads the batch's staging table through a grant lent for the
 * call.  Per mode:
 *	  upsert  INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE SET <mapped
 *	          non-key columns> WHERE <one of them IS DISTINCT FROM>
 *	  insert  INSERT ... SELECT (a key that appeared since validation is a
 *	          unique violation: the whole apply fails)
 *	  update  UPDATE ... FROM the valid rows WHERE key matches AND <distinct>;
 *	          a record that vanished since validation fails the apply
 * Unmapped columns keep their value on update and get their default on
 * insert; generated and identity-always columns are never written.  Rows
 * whose values would not change are not written, so re-running a file
 * writes and logs nothing.
 *
 * All or nothing: any error aborts the statement and the caller's
 * transaction, leaving the target, the batch and its log as they were; the
 * error names the source row being written when it happened while rows
 * were being written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "changelog.h"
#include "errors.h"
#include "exec.h"
#include "mapping.h"
#include "ops.h"
#include "options.h"
#include "storage.h"

/* Error context while rows are being written: which source row. */
static void
apply_error_callback(void *arg)
{
	int64		batch_id;
	int64		row_no;

	if (ir_log_current(&batch_id, &row_no) && row_no > 0)
		errcontext("applying source row " INT64_FORMAT " of batch " INT64_FORMAT,
				   row_no, batch_id);
}

/* The write statement for the batch's mode. */
static char *
write_sql(IrBatch *batch, IrMapping *m)
{
	JsonbValue *mv = ir_option(batch->options, "mode");
	const char *mode = mv ? pnstrdup(mv->val.string.val, mv->val.string.len) : "upsert";
	char	   *stage = ir_stage_table(batch->batch_id);
	StringInfoData cols;
	StringInfoData vals;
	StringInfoData sets;
	StringInfoData differs;
	StringInfoData keys;
	StringInfoData q;

	initStringInfo(&cols);
	initStringInfo(&vals);
	initStringInfo(&sets);
	initStringInfo(&differs);
	initStringInfo(&keys);
	for (int i = 0; i < m->ncols; i++)
	{
		const char *col = quote_identifier(m->cols[i].name);
		char	   *typed = ir_typed_expr(&m->cols[i], "s");

		appendStringInfo(&cols, "%s%s", i ? ", " : "", col);
		if (i == 0)
			appendStringInfo(&vals, "import_rollback.ir_note_row(s.row_no, %s) AS v0", typed);
		else
			appendStringInfo(&vals, ", %s AS v%d", typed, i);
		if (m->cols[i].is_key)
			continue;
		appendStringInfo(&sets, "%s%s = %s", sets.len ? ", " : "", col,
						 strcmp(mode, "update") == 0 ? psprintf("s.v%d", i) : psprintf("EXCLUDED.%s", col));
		appendStringInfo(&differs, "%s%s", differs.len ? " OR " : "",
						 ir_distinct_sql(&m->cols[i], psprintf("t.%s", col),
										 strcmp(mode, "update") == 0 ? psprintf("s.v%d", i) :
										 psprintf("EXCLUDED.%s", col)));
	}
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&keys, "%s%s", k ? ", " : "", quote_identifier(m->key_names[k]));

	/*
	 * PostgreSQL checks NOT NULL on the row an upsert proposes to insert
	 * before it finds the conflict.  A NOT NULL column without default that
	 * the file does not give (validation rejected new records lacking it)
	 * is proposed with the existing record's value, which DO UPDATE leaves.
	 */
	if (strcmp(mode, "upsert") == 0)
	{
		ListCell   *lc;
		StringInfoData match;

		initStringInfo(&match);
		for (int k = 0; k < m->nkeys; k++)
			appendStringInfo(&match, "%s%s", k ? " AND " : "",
							 ir_key_match_sql(m, k, psprintf("e.%s", quote_identifier(m->key_names[k])),
											  ir_typed_expr(&m->cols[m->key_col[k]], "s")));
		foreach(lc, ir_unmapped_required(m))
		{
			const char *col = quote_identifier(lfirst(lc));

			appendStringInfo(&cols, ", %s", col);
			appendStringInfo(&vals, ", (SELECT e.%s FROM %s e WHERE %s)", col, m->scan, match.data);
		}
	}

	initStringInfo(&q);
	if (strcmp(mode, "update") == 0)
	{
		StringInfoData match;

		if (sets.len == 0)
			return NULL;		/* only key columns mapped: nothing to update */
		initStringInfo(&match);
		for (int k = 0; k < m->nkeys; k++)
			appendStringInfo(&match, " AND %s",
							 ir_key_match_sql(m, k, psprintf("t.%s", quote_identifier(m->key_names[k])),
											  psprintf("s.v%d", m->key_col[k])));
		appendStringInfo(&q, "UPDATE %s AS t SET %s FROM (SELECT %s FROM %s s WHERE s.status IS NULL) s"
						 " WHERE (%s)%s",
						 m->scan, sets.data, vals.data, stage, differs.data, match.data);
	}
	else
	{
		appendStringInfo(&q, "INSERT INTO %s AS t (%s) SELECT %s FROM %s s WHERE s.status IS NULL",
						 m->qualified, cols.data, vals.data, stage);
		if (strcmp(mode, "upsert") == 0)
		{
			if (sets.len == 0)
				appendStringInfo(&q, " ON CONFLICT (%s) DO NOTHING", keys.data);
			else
				appendStringInfo(&q, " ON CONFLICT (%s) DO UPDATE SET %s WHERE %s",
								 keys.data, sets.data, differs.data);
		}
	}
	return q.data;
}

/* In mode update, every valid row's record must still exist. */
static void
check_update_targets(IrBatch *batch, IrMapping *m)
{
	StringInfoData q;
	int64		missing;
	bool		isnull;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT count(*) FROM %s s WHERE s.status IS NULL AND NOT EXISTS"
					 " (SELECT 1 FROM %s t WHERE ",
					 ir_stage_table(batch->batch_id), m->scan);
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(m, k, psprintf("t.%s", quote_identifier(m->key_names[k])),
										  ir_typed_expr(&m->cols[m->key_col[k]], "s")));
	appendStringInfoChar(&q, ')');
	ir_spi_exec(q.data, 0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	missing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (missing > 0)
		ereport(ERROR,
				(errcode(ERRCODE_IR_TARGET_CHANGED),
				 errmsg_plural(INT64_FORMAT " record of batch " INT64_FORMAT " no longer exists in %s",
							   INT64_FORMAT " records of batch " INT64_FORMAT " no longer exist in %s",
							   missing, missing, batch->batch_id, m->table),
				 errdetail("The batch is in mode \"update\"; they were deleted after it was validated."),
				 errhint("Validate the batch again, then apply it.")));
}

/*
 * Apply a locked batch (validating it first when it is only staged).
 * Fills res; the batch ends "applied" (or "failed", with zero counts,
 * when a crash emptied its UNLOGGED staging table).
 */
void
ir_apply_batch(IrBatch *batch, IrApplyResult *res)
{
	IrMapping  *m;
	IrLend acc;
	IrLogCounts counts;
	List	   *columns;
	int		   *keypos;
	char	   *sql;
	int64		written = 0;
	ErrorContextCallback errcallback;

	memset(res, 0, sizeof(*res));
	res->batch_id = batch->batch_id;
	if (ir_batch_fail_lost_staging(batch))
		return;
	if (batch->state == IR_STAGED)
	{
		IrValidation v;

		ir_validate_batch(batch, ir_empty_options(), &v);
		if (v.stop_reason)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("batch " INT64_FORMAT " failed validation", batch->batch_id),
					 errdetail("%s", v.stop_reason),
					 errhint("Run ir_validate() to review and correct it, then apply it.")));
	}
	m = ir_mapping_of_batch(batch);
	ir_store_track_target(m->relid);

	/* the batch's own log table, and the columns it covers */
	columns = ir_store_create_log(batch->batch_id, m->relid, m->nkeys, m->key_names, &keypos);

	sql = write_sql(batch, m);
	ir_lend_stage(&acc, batch->batch_id, false);
	ir_log_begin(batch->batch_id, m->relid, false, columns, m->nkeys, keypos, 1);
	SPI_connect();
	if (sql)
	{
		errcallback.callback = apply_error_callback;
		errcallback.arg = NULL;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		ir_spi_exec(sql, 0, NULL, NULL, NULL,
					strstr(sql, "UPDATE ") == sql ? SPI_OK_UPDATE : SPI_OK_INSERT, NULL);
		written = (int64) SPI_processed;
		error_context_stack = errcallback.previous;
	}
	if (ir_option_string(batch->options, "mode") &&
		strcmp(ir_option_string(batch->options, "mode"), "update") == 0)
		check_update_targets(batch, m);
	SPI_finish();
	ir_log_end(&counts);
	ir_lend_end(&acc);
	ir_store_index_log(batch->batch_id, m->relid, m->nkeys, m->key_names, keypos);

	res->batch_id = batch->batch_id;
	res->inserted = counts.inserted;
	res->updated = counts.updated;
	res->rejected = batch->rows_rejected;
	res->unchanged = (batch->rows_total - batch->rows_rejected) - counts.inserted - counts.updated;
	if (res->unchanged < 0 || written != counts.inserted + counts.updated + counts.noop_updates)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("batch " INT64_FORMAT " wrote records the change log cannot account for",
						batch->batch_id),
				 errdetail("The statement wrote " INT64_FORMAT " records; the log saw " INT64_FORMAT
						   " inserts and " INT64_FORMAT " updates.",
						   written, counts.inserted, counts.updated),
				 errhint("A trigger on %s may write to it too; nothing was applied.", m->table)));

	ir_store_apply_result(batch->batch_id, res->inserted, res->updated, res->unchanged,
						  counts.next_change_id - 1);
	ir_batch_transition(batch, IR_APPLIED, NULL);
}

