/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  ir_validate: apply the mapping, mark every staged row valid or
 *	  rejected with every reason, evaluate the hard stops, move the batch
 *	  to "validated" or "failed", and record the run.
 *
 * Rows are never rewritten wholesale: "valid" is "status IS NULL" in a
 * validated batch, and only rejected rows are written (their status and
 * errors).  Every run starts over from the raw rows: it first clears the
 * previous run's rejects, whatever the batch's state; rows malformed at
 * staging (wrong field count) stay rejected.
 *
 * A run, step by step (validate.h has the state they share):
 *	  rules.c      read the rules against the mapping
 *	  typecheck.c  one C pass over staging: types and CHECK constraints,
 *	               foreign-key and reference values, the per-row checks of
 *	               one cell (cellcheck.c), the duplicate prefilter
 *	  rowcheck.c   the set-based checks, all branches of one statement that
 *	               writes the run's rejects, run as the caller with the
 *	               staging table lent (storage.c), so target and reference
 *	               tables are read with the caller's own privileges
 *	  mapcheck.c   the mapping check (shape of incoming vs live values)
 *	  here         the hard stops: a key or required column missing from the
 *	               file, reject ratio and count, expect_rows,
 *	               max_touch_ratio, and the mapping check's
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "catalog.h"
#include "exec.h"
#include "guards.h"
#include "mapping.h"
#include "ops.h"
#include "options.h"
#include "pending.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"
#include "validate.h"

/* Merge corrections over the batch's options; dialect cannot change. */
static Jsonb *
merged_options(IrBatch *batch, Jsonb *given)
{
	ir_check_options(given, IR_IN_VALIDATE, "ir_validate");
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(batch->options),
											  JsonbPGetDatum(given)));
}

/* Join a List of strings. */
static char *
join_list(List *items, const char *sep)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, items)
		appendStringInfo(&buf, "%s%s", buf.len ? sep : "", (char *) lfirst(lc));
	return buf.len ? buf.data : NULL;
}

/* Write this run's rejects; returns how many rows it rejected. */
static int64
mark_rejects(Run *run)
{
	Datum	   *rows;
	Datum	   *ords;
	Datum	   *msgs;
	char	   *p1,
			   *p2,
			   *p3;
	int			n = run->nerr;

	rows = palloc(sizeof(Datum) * Max(n, 1));
	ords = palloc(sizeof(Datum) * Max(n, 1));
	msgs = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		rows[i] = Int64GetDatum(run->err_row[i]);
		ords[i] = Int32GetDatum(run->err_ord[i]);
		msgs[i] = CStringGetTextDatum(run->err_msg[i]);
	}
	/* the type errors are parameters $1..$3, set up before the branches */
	run->paramvalues[0] = ir_int8_array(rows, n);
	run->paramvalues[1] = PointerGetDatum(construct_array(ords, n, INT4OID, 4, true, TYPALIGN_INT));
	run->paramvalues[2] = PointerGetDatum(construct_array(msgs, n, TEXTOID, -1, false, TYPALIGN_INT));
	p1 = "$1";
	p2 = "$2";
	p3 = "$3";

	ir_spi_exec(psprintf("WITH e(row_no, ord, msg) AS ("
						 " SELECT * FROM unnest(%s::bigint[], %s::int[], %s::text[]) %s),"
						 " a AS (SELECT row_no, array_agg(msg ORDER BY ord, msg) AS errs"
						 "       FROM e GROUP BY row_no)"
						 " UPDATE %s s SET status = 'rejected', errors = a.errs"
						 " FROM a WHERE s.row_no = a.row_no",
						 p1, p2, p3, run->sql.data, run->stage),
				run->nparams, run->paramtypes, run->paramvalues, NULL,
				SPI_OK_UPDATE, NULL);
	return (int64) SPI_processed;
}

/* Start a run of batch with options: its mapping, its rules, its statement. */
static void
begin_run(Run *run, IrBatch *batch, Jsonb *options, List *key_columns)
{
	JsonbValue *mode;

	memset(run, 0, sizeof(*run));
	run->keepcxt = CurrentMemoryContext;
	run->batch = batch;
	run->options = options;
	run->stage = ir_stage_table(batch->batch_id);
	run->m = ir_mapping_resolve(batch, options, key_columns);
	mode = ir_option(options, "mode");
	run->mode = mode ? pnstrdup(mode->val.string.val, mode->val.string.len) : "upsert";
	run->err_row = palloc(sizeof(int64));
	run->err_ord = palloc(sizeof(int));
	run->err_msg = palloc(sizeof(char *));
	ir_parse_rules(run, options);

	/* $1..$3: the reasons found in C, filled in by mark_rejects */
	run->nparams = 3;
	run->paramtypes[0] = INT8ARRAYOID;
	run->paramtypes[1] = INT4ARRAYOID;
	run->paramtypes[2] = TEXTARRAYOID;
	initStringInfo(&run->sql);
}

/*
 * Stops the file's columns decide before any row is read: a key or a
 * required column the mapping does not give.  Returns whether the key is
 * complete (the checks that need it can run).
 */
static bool
column_stops(Run *run)
{
	bool		key_complete = true;
	ListCell   *lc;

	for (int k = 0; k < run->m->nkeys; k++)
		if (run->m->key_col[k] < 0)
		{
			key_complete = false;
			ir_run_stop(run, psprintf("key column \"%s\" is missing from the file",
									  run->m->key_names[k]));
		}
	foreach(lc, run->rules.required_missing)
		ir_run_stop(run, psprintf("required column \"%s\" is missing from the file",
								  (char *) lfirst(lc)));
	return key_complete;
}

/*
 * Every check of every row: the C passes, then the set-based checks, and
 * the write of the rejects.  Returns the rows this run rejected.
 */
static int64
check_rows(Run *run, bool key_complete)
{
	char	  **typed = palloc(sizeof(char *) * Max(run->m->ncols, 1));
	char	   *bad;
	List	   *keycols = NIL;
	ListCell   *lc;
	int			guard;

	/* start over from the raw rows (nothing to clear on a first run) */
	if (run->batch->rows_rejected > run->batch->rows_malformed)
		ir_spi_exec(psprintf("UPDATE %s SET status = NULL, errors = NULL WHERE status = 'rejected'",
							 run->stage),
					0, NULL, NULL, NULL, SPI_OK_UPDATE, NULL);

	/* the foreign keys whose values the type pass collects, the sets it hashes */
	ir_plan_foreign_keys(run);
	if (key_complete)
		for (int k = 0; k < run->m->nkeys; k++)
			keycols = lappend(keycols, &run->m->cols[run->m->key_col[k]]);
	ir_plan_duplicates(run, keycols);
	foreach(lc, run->rules.unique_sets)
		ir_plan_duplicates(run, lfirst(lc));
	ir_plan_unique_indexes(run);
	/* the types' input and hash functions and CHECK constraints are user code */
	guard = ir_guard_begin();
	ir_check_types(run);
	ir_guard_end(guard);

	bad = ir_bad_cells_param(run);
	run->bad = bad;
	for (int i = 0; i < run->m->ncols; i++)
		typed[i] = ir_typed_or_null(run, i, bad);
	ir_row_checks(run, typed);
	if (key_complete)
	{
		ir_duplicate_check(run, keycols, typed, true);
		ir_existence_checks(run, typed);
	}
	foreach(lc, run->rules.unique_sets)
		ir_duplicate_check(run, lfirst(lc), typed, false);
	ir_foreign_key_checks(run, typed);
	ir_unique_checks(run, typed, key_complete);
	ir_exclude_check(run);
	return mark_rejects(run);
}

/* max_touch_ratio: the share of the target's records the batch would change. */
static void
touch_stop(Run *run)
{
	IrMapping  *m = run->m;
	StringInfoData differs;
	int64		existing;
	int64		touched;
	bool		isnull;
	char	  **valid_typed = palloc(sizeof(char *) * Max(m->ncols, 1));

	initStringInfo(&differs);
	for (int i = 0; i < m->ncols; i++)
	{
		valid_typed[i] = ir_typed_expr(&m->cols[i], "s");
		if (!m->cols[i].is_key)
			appendStringInfo(&differs, "%s%s", differs.len ? " OR " : "",
							 ir_distinct_sql(&m->cols[i],
											 psprintf("t.%s", quote_identifier(m->cols[i].name)),
											 valid_typed[i]));
	}
	ir_spi_exec(psprintf("SELECT (SELECT count(*) FROM %s),"
						 " (SELECT count(*) FROM %s s WHERE s.status IS NULL AND %s)",
						 m->scan, run->stage,
						 differs.len ? psprintf("EXISTS (SELECT 1 FROM %s t WHERE %s AND (%s))",
												m->scan, ir_run_key_match(run, valid_typed),
												differs.data)
						 : "false"),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	existing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	touched = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (existing > 0 && (double) touched / existing > run->rules.max_touch_ratio)
		ir_run_stop(run, psprintf("the batch would change " INT64_FORMAT " of the " INT64_FORMAT " existing records (%.1f%%), more than max_touch_ratio %s",
								  touched, existing, 100.0 * touched / existing,
								  ir_run_double(run->rules.max_touch_ratio)));
}

/* The stops the counts decide. */
static void
count_stops(Run *run, int64 rows_total, int64 rows_rejected)
{
	Rules	   *r = &run->rules;

	if (rows_total > 0 && (double) rows_rejected / rows_total > r->max_reject_ratio)
		ir_run_stop(run, psprintf("rejected rows " INT64_FORMAT " of " INT64_FORMAT " (%.1f%%) exceed max_reject_ratio %s",
								  rows_rejected, rows_total, 100.0 * rows_rejected / rows_total,
								  ir_run_double(r->max_reject_ratio)));
	if (r->max_reject_count >= 0 && rows_rejected > r->max_reject_count)
		ir_run_stop(run, psprintf("rejected rows " INT64_FORMAT " exceed max_reject_count " INT64_FORMAT,
								  rows_rejected, r->max_reject_count));
	if (r->expect_rows >= 0 && rows_total != r->expect_rows)
		ir_run_stop(run, psprintf("the file has " INT64_FORMAT " rows, expected " INT64_FORMAT,
								  rows_total, r->expect_rows));
}

/*
 * For a member of a run: the rows its run's earlier members (in apply
 * order) will write, those not applied yet (staged, validated, or failed
 * and waiting to be corrected) that the caller may read, with their
 * staging tables lent (*lent, one per member, in order).
 */
static List *
earlier_members(IrBatch *batch, IrLend **lent)
{
	IrRun	   *run;
	List	   *members = NIL;
	List	   *result = NIL;
	ListCell   *lc;

	*lent = NULL;
	if (batch->run_id == 0)
		return NIL;
	run = ir_store_run_read(batch->run_id, IR_ROW_READ);
	foreach(lc, run->members)
	{
		int64		id = *(int64 *) lfirst(lc);
		IrBatch    *b = id == batch->batch_id ? batch : ir_store_batch_read(id, false);

		if (b == batch ||
			((b->state == IR_STAGED || b->state == IR_VALIDATED ||
			  (b->state == IR_FAILED && b->staging_complete)) && OidIsValid(b->target_relid) &&
			 b->purged_at == NULL &&
			 pg_class_aclcheck(b->target_relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK))
			members = lappend(members, b);
	}
	*lent = palloc(sizeof(IrLend) * list_length(members));
	foreach(lc, ir_run_apply_order(run, members))
	{
		IrBatch    *b = lfirst(lc);
		IrMapping  *m;
		IrPending  *p;

		if (b == batch)
			break;
		m = ir_mapping_resolve(b, b->options, b->key_columns);
		p = palloc0(sizeof(IrPending));
		p->batch_id = b->batch_id;
		p->relid = b->target_relid;
		p->stage = ir_stage_table(b->batch_id);
		p->ncols = m->ncols;
		p->cols = palloc(sizeof(char *) * Max(m->ncols, 1));
		p->exprs = palloc(sizeof(char *) * Max(m->ncols, 1));
		for (int i = 0; i < m->ncols; i++)
		{
			p->cols[i] = m->cols[i].name;
			p->exprs[i] = ir_typed_expr(&m->cols[i], "s");
		}
		p->key = m->nkeys == 1 ? m->key_names[0] : NULL;
		ir_lend_stage(&(*lent)[list_length(result)], b->batch_id, false);
		result = lappend(result, p);
	}
	return result;
}

/*
 * While a member of a run is validated or reported on: the rows its run's
 * earlier members will write count as present (pending.c).  End with
 * ir_run_pending_end(), after the caller's own lends have ended; an error
 * clears it anyway.
 */
void
ir_run_pending_begin(IrBatch *batch, IrPendingScope *scope)
{
	scope->pending = earlier_members(batch, &scope->lent);
	ir_pending_set(scope->pending);
}

void
ir_run_pending_end(IrPendingScope *scope)
{
	ir_pending_set(NIL);
	for (int i = list_length(scope->pending) - 1; i >= 0; i--)
		ir_lend_end(&scope->lent[i]);
}

/*
 * Validate a batch locked by the caller (and found in a state that
 * validates) with corrections given over its options; the batch ends
 * "validated" or "failed" and res says what was found.
 */
void
ir_validate_batch(IrBatch *batch, Jsonb *given, IrValidation *res)
{
	Run			run;
	Jsonb	   *options;
	IrTarget	target;
	IrLend		acc;
	bool		key_complete;
	int64		rows_rejected;
	char	   *notes;
	IrPendingScope pending;

	ir_batch_require_target(batch);
	if (ir_batch_fail_lost_staging(batch))
	{
		res->rows_total = batch->rows_total;
		res->rows_valid = 0;
		res->rows_rejected = 0;
		res->stop_reason = pstrdup("the staged rows were lost in a crash (UNLOGGED staging)");
		return;
	}
	if (pg_class_aclcheck(batch->target_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", batch->target_table),
				 errdetail("Validation reads the target table: it needs SELECT privilege on it.")));
	options = merged_options(batch, given);
	ir_check_target(batch->target_relid, options, batch->load_method, &target);
	ir_guards_verify(batch->target_relid, target.key_columns, options);
	begin_run(&run, batch, options, target.key_columns);
	key_complete = column_stops(&run);

	ir_run_pending_begin(batch, &pending);
	ir_lend_stage(&acc, batch->batch_id, true);
	SPI_connect();
	/* more room for the hash tables of the duplicate and reference checks */
	if (work_mem < 64 * 1024)
		(void) set_config_option("work_mem", "64MB", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

	/* counts: malformed at staging, plus what this run rejected */
	rows_rejected = batch->rows_malformed + check_rows(&run, key_complete);
	count_stops(&run, batch->rows_total, rows_rejected);
	if (run.rules.max_touch_ratio >= 0 && key_complete)
		touch_stop(&run);
	ir_mapping_check(&run, batch->rows_total);
	SPI_finish();
	ir_lend_end(&acc);
	ir_run_pending_end(&pending);

	res->rows_total = batch->rows_total;
	res->rows_rejected = rows_rejected;
	res->rows_valid = batch->rows_total - rows_rejected;
	res->stop_reason = join_list(run.stops, "; ");
	notes = join_list(run.notes, "; ");
	if (notes)
		ereport(NOTICE, (errmsg("%s", notes)));

	/* record the run and the batch's new state */
	ir_store_validation_run(batch->batch_id, options, run.m->nkeys, run.m->key_names,
							res->rows_total, res->rows_valid, res->rows_rejected,
							res->stop_reason, notes);
	ir_batch_transition(batch, res->stop_reason ? IR_FAILED : IR_VALIDATED, res->stop_reason);
	batch->options = options;
	batch->key_columns = target.key_columns;
	batch->validated = true;
	batch->rows_rejected = rows_rejected;
}
