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
#include "parser/parse_coerce.h"
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
#include "guards.h"
#include "mapping.h"
#include "ops.h"
#include "options.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"

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
 * A batch validated before another batch on the same target was applied,
 * whose records that batch wrote since, is stale: refused (IR004) naming
 * the newer batch and a record, unless allow_stale.  The newer batch's
 * writes are found through its log and the target (whatever its key).
 */
static void
check_stale(IrBatch *batch, IrMapping *m)
{
	ListCell   *lc;

	foreach(lc, ir_store_newer_batches(batch->batch_id))
	{
		IrLaterBatch *nb = lfirst(lc);
		IrLend		acc;
		IrLend		log_acc;
		StringInfoData q;
		Oid		   *ops = palloc(sizeof(Oid) * Max(nb->nkeys, 1));
		char	   *record = NULL;

		ir_key_eq_operators(m->relid, nb->nkeys, nb->keys, ops);
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT %s FROM %s s JOIN %s t ON ", ir_key_text_sql(m, "s"),
						 ir_stage_table(batch->batch_id), m->scan);
		for (int k = 0; k < m->nkeys; k++)
			appendStringInfo(&q, "%s%s", k ? " AND " : "",
							 ir_key_match_sql(m, k, psprintf("t.%s", quote_identifier(m->key_names[k])),
											  ir_typed_expr(&m->cols[m->key_col[k]], "s")));
		appendStringInfo(&q, " WHERE s.status IS NULL AND EXISTS (SELECT 1 FROM %s w"
						 " WHERE w.action IN ('insert', 'update')", ir_log_table(nb->batch_id));
		for (int k = 0; k < nb->nkeys; k++)
		{
			int			pos = 0;

			for (int i = 0; i < nb->ncols; i++)
				if (strcmp(nb->names[i], nb->keys[k]) == 0)
					pos = i + 1;
			appendStringInfo(&q, " AND %s",
							 ir_sql_op(ops[k], psprintf("t.%s", quote_identifier(nb->keys[k])),
									   psprintf("w.n%d", pos)));
		}
		appendStringInfoString(&q, ") LIMIT 1");
		ir_lend_stage(&acc, batch->batch_id, false);
		ir_lend_log(&log_acc, nb->batch_id);
		SPI_connect();
		ir_spi_exec(q.data, 0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		if (SPI_processed > 0)
			record = MemoryContextStrdup(TopTransactionContext,
										 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SPI_finish();
		ir_lend_end(&log_acc);
		ir_lend_end(&acc);
		if (record)
			ereport(ERROR,
					(errcode(ERRCODE_IR_STALE_BATCH),
					 errmsg("batch " INT64_FORMAT " is stale: batch " INT64_FORMAT
							" was applied after it was validated and wrote record (%s)=%s",
							batch->batch_id, nb->batch_id, ir_key_list(m), record),
					 errdetail("Applying it would overwrite what the newer batch wrote."),
					 errhint("Validate it again to review the newer values, or apply it with {\"allow_stale\": true}.")));
	}
}

/*
 * Have the change log count guard "blank" as it writes (changelog.c), when
 * every column the guard names is logged and is text, varchar or not a
 * string type (other string types are compared by their output, in SQL:
 * guards.c).  Else a->blank_counts stays NULL and the guard joins the log
 * to the target after the write.
 */
static void
count_blanks(IrApplying *a, List *columns)
{
	List	   *names = ir_guards_blank_columns(a->batch->options);
	int			n = list_length(names);
	int		   *positions = palloc(sizeof(int) * Max(n, 1));
	bool	   *textual = palloc(sizeof(bool) * Max(n, 1));
	int			j = 0;
	ListCell   *lc;

	if (n == 0)
		return;
	foreach(lc, names)
	{
		AttrNumber	attnum = get_attnum(a->m->relid, lfirst(lc));
		Oid			type;
		Oid			base;

		positions[j] = -1;
		for (int i = 0; i < list_length(columns) && attnum != InvalidAttrNumber; i++)
			if (list_nth_int(columns, i) == attnum)
				positions[j] = i;
		if (positions[j] < 0)
			return;				/* not logged (or no such column: the guard says so) */
		type = get_atttype(a->m->relid, attnum);
		base = getBaseType(type);
		textual[j] = base == TEXTOID || base == VARCHAROID;
		if (TypeCategory(type) == TYPCATEGORY_STRING && !textual[j])
			return;
		j++;
	}
	a->blank_counts = palloc(sizeof(int64) * n);
	ir_log_count_blanks(n, positions, textual, a->blank_counts);
}

/*
 * The batch's writes: its change log, the one statement, the log's index.
 * Fills a->res with the counts.
 */
static void
write_batch(IrApplying *a)
{
	IrBatch    *batch = a->batch;
	IrMapping  *m = a->m;
	IrApplyResult *res = &a->res;
	IrLend		acc;
	List	   *columns;
	char	   *sql;
	int64		written = 0;
	ErrorContextCallback errcallback;

	ir_store_track_target(m->relid);

	/* the batch's own log table, and the columns it covers */
	columns = ir_store_create_log(batch->batch_id, m->relid, m->nkeys, m->key_names, &a->keypos);

	sql = write_sql(batch, m);
	ir_lend_stage(&acc, batch->batch_id, false);
	ir_log_begin(batch->batch_id, m->relid, false, columns, m->nkeys, a->keypos, 1);
	if (a->count_blanks)
		count_blanks(a, columns);
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
	ir_log_end(&a->counts);
	ir_lend_end(&acc);
	ir_store_index_log(batch->batch_id, m->relid, m->nkeys, m->key_names, a->keypos);

	res->batch_id = batch->batch_id;
	res->inserted = a->counts.inserted;
	res->updated = a->counts.updated;
	res->rejected = batch->rows_rejected;
	res->unchanged = (batch->rows_total - batch->rows_rejected) - a->counts.inserted - a->counts.updated;
	if (res->unchanged < 0 || written != a->counts.inserted + a->counts.updated + a->counts.noop_updates)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("batch " INT64_FORMAT " wrote records the change log cannot account for",
						batch->batch_id),
				 errdetail("The statement wrote " INT64_FORMAT " records; the log saw " INT64_FORMAT
						   " inserts and " INT64_FORMAT " updates.",
						   written, a->counts.inserted, a->counts.updated),
				 errhint("A trigger on %s may write to it too; nothing was applied.", m->table)));
}

/* The guards of a written batch: NULL when they hold, else the verdict. */
static char *
batch_guards(IrApplying *a)
{
	IrGuardTarget gt;
	char	   *why;

	if (!ir_has_guards(a->batch->options))
		return NULL;
	gt.batch_id = a->batch->batch_id;
	gt.relid = a->m->relid;
	gt.scan = a->m->scan;
	gt.log = ir_log_table(a->batch->batch_id);
	gt.nkeys = a->m->nkeys;
	gt.keys = a->m->key_names;
	gt.keypos = a->keypos;
	gt.key_eqop = a->m->key_eqop;
	gt.blank_counts = a->blank_counts;
	gt.written = a->counts.inserted + a->counts.updated;
	SPI_connect();
	why = ir_guards_check(&gt, a->batch->options);
	if (why)
		why = MemoryContextStrdup(TopTransactionContext, why);
	SPI_finish();
	return why;
}

/*
 * Get a locked batch ready to be written: its guards checked, validated when only staged (seeing what the batches
 * applied before it in the same transaction wrote), not stale.
 */
static void
apply_begin(IrApplying *a, Jsonb *given)
{
	IrBatch    *batch = a->batch;

	memset(&a->res, 0, sizeof(a->res));
	a->res.batch_id = batch->batch_id;
	/* after a batch on the same target that is being written, not beside it */
	ir_lock_target_writes(batch->target_relid);
	ir_guards_verify(batch->target_relid, batch->key_columns, batch->options);
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
	a->m = ir_mapping_of_batch(batch);
	if (!ir_option_bool(given, "allow_stale", false))
		check_stale(batch, a->m);
}

/*
 * Write every batch of the list in turn (each one made ready first, after
 * the writes of those before it), then check every batch's guards and the
 * extra check guards (a run's own): all in a subtransaction, rolled back
 * when a guard trips.  Returns NULL when every guard held, else the first
 * verdict; then every batch has its state from before and zero counts.
 */
char *
ir_apply_all(List *applyings, Jsonb *given, Jsonb *extra_guards)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *why = NULL;
	bool		guarded = extra_guards != NULL;
	ListCell   *lc;

	foreach(lc, applyings)
	{
		IrApplying *a = lfirst(lc);

		a->was = a->batch->state;
		/* guards given at apply are kept with the batch, tripped or not */
		if (ir_option(given, "guards"))
			a->batch->options = ir_store_batch_options(a->batch->batch_id,
													   ir_json_with_key(a->batch->options, "guards",
																		ir_option(given, "guards")));
		guarded = guarded || ir_has_guards(a->batch->options);
	}
	/*
	 * The log counts blanks as written; a record that another batch of the
	 * list writes after it is judged as that batch leaves it, in SQL.
	 */
	foreach(lc, applyings)
	{
		IrApplying *a = lfirst(lc);
		ListCell   *lc2;

		a->count_blanks = guarded;
		a->blank_counts = NULL;
		foreach(lc2, applyings)
			if (lfirst(lc2) != a && ((IrApplying *) lfirst(lc2))->batch->target_relid == a->batch->target_relid)
				a->count_blanks = false;
	}
	if (!guarded)
	{
		foreach(lc, applyings)
		{
			apply_begin(lfirst(lc), given);
			write_batch(lfirst(lc));
		}
		return NULL;
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		foreach(lc, applyings)
		{
			apply_begin(lfirst(lc), given);
			write_batch(lfirst(lc));
		}
		foreach(lc, applyings)
		{
			if ((why = batch_guards(lfirst(lc))) != NULL)
				break;
		}
		if (why == NULL && extra_guards != NULL)
		{
			SPI_connect();
			why = ir_guards_check(NULL, extra_guards);
			if (why)
				why = MemoryContextStrdup(TopTransactionContext, why);
			SPI_finish();
		}
		if (why)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ReThrowError(ir_abort_subxact(oldcxt, oldowner));
	}
	PG_END_TRY();
	if (why)
	{
		foreach(lc, applyings)
		{
			IrApplying *a = lfirst(lc);

			a->batch->state = a->was;
			memset(&a->res, 0, sizeof(a->res));
			a->res.batch_id = a->batch->batch_id;
		}
	}
	return why;
}

/* Record a written batch's apply: its counts, and state "applied". */
void
ir_apply_finish(IrApplying *a)
{
	ir_store_apply_result(a->batch->batch_id, a->res.inserted, a->res.updated, a->res.unchanged,
						  a->counts.next_change_id - 1);
	ir_batch_transition(a->batch, IR_APPLIED, NULL);
}

/* A tripped guard (why) with on_guard "error": raise IR003. */
void
ir_apply_guard_error(const char *why, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_IR_GUARD_TRIPPED),
			 errmsg("%s", why),
			 errdetail("%s was not applied: everything it wrote was undone.", what),
			 errhint("Review the values, or correct the guard's limit.")));
}

/*
 * Apply a locked batch (validating it first when it is only staged), with
 * the apply's options (its own, and guards kept with the batch).  Fills
 * res; the batch ends "applied", or "failed" with zero counts when a guard
 * tripped (or a crash emptied its UNLOGGED staging table).
 */
void
ir_apply_batch(IrBatch *batch, Jsonb *given, IrApplyResult *res)
{
	IrApplying	a;
	char	   *why;
	char	   *on_guard = ir_option_string(given, "on_guard");

	memset(&a, 0, sizeof(a));
	a.batch = batch;
	memset(res, 0, sizeof(*res));
	res->batch_id = batch->batch_id;
	if (ir_batch_fail_lost_staging(batch))
		return;
	why = ir_apply_all(list_make1(&a), given, NULL);
	*res = a.res;
	if (why)
	{
		if (on_guard && strcmp(on_guard, "error") == 0)
			ir_apply_guard_error(why, psprintf("Batch " INT64_FORMAT, batch->batch_id));
		ir_batch_transition(batch, IR_FAILED, why);
		ereport(WARNING,
				(errmsg("batch " INT64_FORMAT " failed: %s", batch->batch_id, why),
				 errdetail("Everything it wrote was undone."),
				 errhint("Review the batch's values, or correct the guard with ir_validate() and apply again.")));
		return;
	}
	ir_apply_finish(&a);
}
