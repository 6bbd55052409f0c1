/*-------------------------------------------------------------------------
 *
 * import_rollback.c
 *	  The module, and its SQL surface: every function users call.
 *
 * Each entry point does the same few things and nothing else: checks its
 * arguments (NULLs, shapes of options against options.c's table), opens
 * the batch with the access the operation needs (catalog.c: privileges on
 * the target, no row security), checks the batch's state against the
 * operation's requirement (state.c), calls the operation (stage.c,
 * validate.c, review.c, apply.c, rollback.c, drill.c, reports.c), and
 * builds the result.  The operations run as the caller; only storage.c
 * takes the extension owner's identity.
 *
 * Every entry point first refuses to run under SQL objects of another
 * version than the library's (storage.c): between installing a new
 * library and ALTER EXTENSION ... UPDATE.  The functions the extension's
 * own SQL and triggers call (ir_cast, ir_note_row, ir_same, ir_logging,
 * ir_changelog, ir_truncated) live with the code they serve.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "compat.h"
#include "ops.h"
#include "options.h"
#include "settings.h"
#include "state.h"
#include "storage.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(ir_stage);
PG_FUNCTION_INFO_V1(ir_stage_file);
PG_FUNCTION_INFO_V1(ir_stage_large_object);
PG_FUNCTION_INFO_V1(ir_stage_begin);
PG_FUNCTION_INFO_V1(ir_stage_copy_command);
PG_FUNCTION_INFO_V1(ir_stage_finish);
PG_FUNCTION_INFO_V1(ir_cancel);
PG_FUNCTION_INFO_V1(ir_validate);
PG_FUNCTION_INFO_V1(ir_sample);
PG_FUNCTION_INFO_V1(ir_preview);
PG_FUNCTION_INFO_V1(ir_apply);
PG_FUNCTION_INFO_V1(ir_drill);
PG_FUNCTION_INFO_V1(ir_rollback);
PG_FUNCTION_INFO_V1(ir_rollback_preview);
PG_FUNCTION_INFO_V1(ir_rejects);
PG_FUNCTION_INFO_V1(ir_changes);
PG_FUNCTION_INFO_V1(ir_untrack);
PG_FUNCTION_INFO_V1(ir_purge);
PG_FUNCTION_INFO_V1(ir_run_create);
PG_FUNCTION_INFO_V1(ir_run_apply);
PG_FUNCTION_INFO_V1(ir_run_rollback);
PG_FUNCTION_INFO_V1(ir_run_cancel);
PG_FUNCTION_INFO_V1(ir_rollback_plan);

/* Loading the library defines the import_rollback.* settings. */
void
_PG_init(void)
{
	ir_define_settings();
}

/*
 * Raise a clean error for a NULL argument.  Functions are not STRICT on
 * purpose: a NULL batch id must say so, not quietly return NULL.
 */
static void
check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/* Argument 0, the batch id, opened with access (and locked for changes). */
static IrBatch *
open_batch(FunctionCallInfo fcinfo, IrAccess access)
{
	check_not_null(fcinfo, 0, "batch");
	return ir_batch_fetch(PG_GETARG_INT64(0), access == IR_ACCESS_LOAD, access);
}

/*
 * The batch's state allows op (state.c's table), and the tables op works
 * on are still there (not purged), locked for the call.
 */
static void
require_state(IrBatch *batch, IrOperation op)
{
	ir_require_state(batch->batch_id, batch->state, batch->staging_complete, op);
	if (op != IR_OP_CANCEL)
		ir_batch_require_tables(batch);
}

/*
 * A set-returning report on batch argument 0, in a state op allows: opens
 * the batch for reading and sets up the result store (*rsinfo).
 */
static IrBatch *
begin_report(FunctionCallInfo fcinfo, IrOperation op, ReturnSetInfo **rsinfo)
{
	IrBatch    *batch;

	ir_require_installed_version();
	batch = open_batch(fcinfo, IR_ACCESS_READ);
	require_state(batch, op);
	InitMaterializedSRF(fcinfo, 0);
	*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	return batch;
}

typedef void (*ReportFill) (IrBatch *batch, Tuplestorestate *ts, TupleDesc desc);

/* A report that takes only the batch. */
static Datum
report(FunctionCallInfo fcinfo, IrOperation op, ReportFill fill)
{
	ReturnSetInfo *rsinfo;
	IrBatch    *batch = begin_report(fcinfo, op, &rsinfo);

	fill(batch, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* The composite result row type of a RETURNS TABLE function. */
static TupleDesc
result_type(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return BlessTupleDesc(tupdesc);
}

/* One result row of int8 values (the counts functions return). */
static Datum
counts_row(FunctionCallInfo fcinfo, const int64 *counts, int n)
{
	TupleDesc	tupdesc = result_type(fcinfo);
	Datum	   *values = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc0(sizeof(bool) * n);

	for (int i = 0; i < n; i++)
		values[i] = Int64GetDatum(counts[i]);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* ---------------------------------------------------------------------
 * Staging
 * ---------------------------------------------------------------------
 */

/* ir_stage(target regclass, source_name text, data text, options jsonb) RETURNS bigint */
Datum
ir_stage(PG_FUNCTION_ARGS)
{
	text	   *data;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "target");
	check_not_null(fcinfo, 1, "source_name");
	check_not_null(fcinfo, 2, "data");
	check_not_null(fcinfo, 3, "options");
	data = PG_GETARG_TEXT_PP(2);
	PG_RETURN_INT64(ir_stage_text(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
								  VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
								  PG_GETARG_JSONB_P(3)));
}

/* ir_stage_file(target regclass, path text, options jsonb) RETURNS bigint */
Datum
ir_stage_file(PG_FUNCTION_ARGS)
{
	char	   *path;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "target");
	check_not_null(fcinfo, 1, "path");
	check_not_null(fcinfo, 2, "options");
	path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read server file \"%s\"", path),
				 errdetail("Only roles with privileges of the \"pg_read_server_files\" role may stage files from the database server."),
				 errhint("Send the file from the client instead: as a large object to ir_stage_large_object(), "
						 "or ir_stage_begin() followed by COPY ... FROM STDIN and ir_stage_finish().")));
	PG_RETURN_INT64(ir_stage_server_file(PG_GETARG_OID(0), path, PG_GETARG_JSONB_P(2)));
}

/*
 * ir_stage_large_object(target regclass, source_name text, loid oid, options jsonb)
 * RETURNS bigint: a file a client uploaded as a large object.
 */
Datum
ir_stage_large_object(PG_FUNCTION_ARGS)
{
	ir_require_installed_version();
	check_not_null(fcinfo, 0, "target");
	check_not_null(fcinfo, 1, "source_name");
	check_not_null(fcinfo, 2, "loid");
	check_not_null(fcinfo, 3, "options");
	PG_RETURN_INT64(ir_stage_lo(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
								PG_GETARG_OID(2), PG_GETARG_JSONB_P(3)));
}

/*
 * ir_stage_begin(target regclass, source_name text, columns text[], options jsonb)
 * RETURNS bigint: the client path's first step (stage.c).
 */
Datum
ir_stage_begin(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elnulls;
	int			ncols;
	char	  **headers;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "target");
	check_not_null(fcinfo, 1, "source_name");
	check_not_null(fcinfo, 2, "columns");
	check_not_null(fcinfo, 3, "options");
	arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("columns must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elnulls, &ncols);
	if (ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must name at least one column"),
				 errhint("Pass the file's header fields, in file order.")));
	headers = palloc(sizeof(char *) * ncols);
	for (int i = 0; i < ncols; i++)
		headers[i] = elnulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	PG_RETURN_INT64(ir_stage_client_begin(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
										  headers, ncols, PG_GETARG_JSONB_P(3)));
}

/* The client path's steps are for batches ir_stage_begin() created. */
static void
require_client_batch(const IrBatch *batch)
{
	if (batch->load_method != IR_LOAD_CLIENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " was not started with ir_stage_begin()",
						batch->batch_id)));
}

/* ir_stage_copy_command(batch bigint) RETURNS text */
Datum
ir_stage_copy_command(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "batch");
	batch = ir_batch_fetch(PG_GETARG_INT64(0), false, IR_ACCESS_LOAD);
	require_client_batch(batch);
	require_state(batch, IR_OP_CLIENT_COPY);
	PG_RETURN_TEXT_P(cstring_to_text(ir_stage_client_copy_command(batch)));
}

/* ir_stage_finish(batch bigint) RETURNS bigint: rows staged */
Datum
ir_stage_finish(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;

	ir_require_installed_version();
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	require_client_batch(batch);
	require_state(batch, IR_OP_CLIENT_FINISH);
	PG_RETURN_INT64(ir_stage_client_finish(batch));
}

/* A cancel's reason (argument argno): not empty, kept in the event log. */
static char *
required_reason(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *reason;

	check_not_null(fcinfo, argno, "reason");
	reason = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strspn(reason, " \t\r\n") == strlen(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reason is required to cancel %s", what),
				 errhint("Say why it is discarded; the reason is kept in its event log.")));
	return reason;
}

/* ir_cancel(batch bigint, reason text): discard a batch not applied */
Datum
ir_cancel(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	char	   *reason;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "batch");
	reason = required_reason(fcinfo, 1, "a batch");
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	require_state(batch, IR_OP_CANCEL);
	ir_batch_cancel(batch, reason);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Validation and review
 * ---------------------------------------------------------------------
 */

/*
 * ir_validate(batch bigint, options jsonb)
 *	 RETURNS TABLE(state text, rows_total bigint, rows_valid bigint,
 *				   rows_rejected bigint, stop_reason text)
 */
Datum
ir_validate(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	IrValidation res;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	ir_require_installed_version();
	check_not_null(fcinfo, 1, "options");
	tupdesc = result_type(fcinfo);
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	require_state(batch, IR_OP_VALIDATE);
	ir_validate_batch(batch, PG_GETARG_JSONB_P(1), &res);

	values[0] = CStringGetTextDatum(ir_state_name(batch->state));
	values[1] = Int64GetDatum(res.rows_total);
	values[2] = Int64GetDatum(res.rows_valid);
	values[3] = Int64GetDatum(res.rows_rejected);
	if (res.stop_reason)
		values[4] = CStringGetTextDatum(res.stop_reason);
	else
		nulls[4] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * ir_sample(batch bigint, n int)
 *	 RETURNS TABLE(row_no bigint, action text, source jsonb, mapped jsonb, current jsonb)
 */
Datum
ir_sample(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	IrBatch    *batch;
	int32		n;

	ir_require_installed_version();
	check_not_null(fcinfo, 1, "n");
	n = PG_GETARG_INT32(1);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample size must not be negative")));
	batch = begin_report(fcinfo, IR_OP_REPORT, &rsinfo);
	ir_sample_batch(batch, n, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * ir_preview(batch bigint)
 *	 RETURNS TABLE(column_name text, rows_changed bigint, example_old text, example_new text)
 */
Datum
ir_preview(PG_FUNCTION_ARGS)
{
	return report(fcinfo, IR_OP_REPORT, ir_preview_batch);
}

/* ---------------------------------------------------------------------
 * Apply and rollback
 * ---------------------------------------------------------------------
 */

/*
 * ir_apply(batch bigint, options jsonb)
 *	 RETURNS TABLE(batch_id bigint, inserted bigint, updated bigint,
 *				   unchanged bigint, rejected bigint)
 */
Datum
ir_apply(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	IrApplyResult res;

	ir_require_installed_version();
	check_not_null(fcinfo, 1, "options");
	ir_check_options(PG_GETARG_JSONB_P(1), IR_IN_APPLY, "ir_apply");
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	ir_refuse_run_member(batch, "applied", "ir_run_apply");
	require_state(batch, IR_OP_APPLY);
	ir_apply_batch(batch, PG_GETARG_JSONB_P(1), &res);
	PG_RETURN_DATUM(counts_row(fcinfo, (int64[]) {res.batch_id, res.inserted, res.updated,
												  res.unchanged, res.rejected}, 5));
}

/*
 * ir_drill(batch bigint)
 *	 RETURNS TABLE(batch_id bigint, inserted bigint, updated bigint,
 *				   unchanged bigint, rejected bigint, deleted bigint,
 *				   restored bigint, round_trip_exact boolean)
 */
Datum
ir_drill(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	IrDrillResult res;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};

	ir_require_installed_version();
	tupdesc = result_type(fcinfo);
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	require_state(batch, IR_OP_APPLY);
	ir_drill_batch(batch, &res);

	values[0] = Int64GetDatum(res.apply.batch_id);
	values[1] = Int64GetDatum(res.apply.inserted);
	values[2] = Int64GetDatum(res.apply.updated);
	values[3] = Int64GetDatum(res.apply.unchanged);
	values[4] = Int64GetDatum(res.apply.rejected);
	values[5] = Int64GetDatum(res.rollback.deleted);
	values[6] = Int64GetDatum(res.rollback.restored);
	values[7] = BoolGetDatum(res.round_trip_exact);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* The on_conflict option (its value checked by ir_check_options). */
static IrOnConflict
on_conflict_option(Jsonb *options)
{
	char	   *v = ir_option_string(options, "on_conflict");

	if (v == NULL || strcmp(v, "abort") == 0)
		return IR_ON_CONFLICT_ABORT;
	return strcmp(v, "skip") == 0 ? IR_ON_CONFLICT_SKIP : IR_ON_CONFLICT_FORCE;
}

/*
 * A batch a "skip" rollback left records of can be rolled back again with
 * "force" (it stays rolled_back); with any other policy that is refused,
 * saying so.
 */
static bool
leftovers_to_force(IrBatch *batch, IrOnConflict policy)
{
	if (batch->state != IR_ROLLED_BACK || batch->rollback_leftovers == 0)
		return false;
	if (policy != IR_ON_CONFLICT_FORCE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " has already been rolled back", batch->batch_id),
				 errdetail_plural("Its \"skip\" rollback left " INT64_FORMAT " record with later writes.",
								  "Its \"skip\" rollback left " INT64_FORMAT " records with later writes.",
								  batch->rollback_leftovers, batch->rollback_leftovers),
				 errhint("To restore them over those writes, use {\"on_conflict\": \"force\"}; "
						 "ir_rollback_preview() shows them.")));
	return true;
}

/*
 * ir_rollback(batch bigint, options jsonb)
 *	 RETURNS TABLE(batch_id bigint, deleted bigint, restored bigint, conflicts bigint)
 */
Datum
ir_rollback(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IrBatch    *batch;
	IrRollbackResult res;
	IrOnConflict policy;
	Jsonb	   *options;

	ir_require_installed_version();
	check_not_null(fcinfo, 1, "options");
	options = PG_GETARG_JSONB_P(1);
	ir_check_options(options, IR_IN_ROLLBACK, "ir_rollback");
	policy = on_conflict_option(options);
	InitMaterializedSRF(fcinfo, 0);
	batch = open_batch(fcinfo, IR_ACCESS_LOAD);
	if (ir_option_bool(options, "cascade", false))
	{
		/* a run member's cascade brings its whole run */
		require_state(batch, IR_OP_ROLLBACK);
		ir_rollback_cascade(batch, policy, rsinfo->setResult, rsinfo->setDesc);
		return (Datum) 0;
	}
	ir_refuse_run_member(batch, "rolled back", "ir_run_rollback");
	if (leftovers_to_force(batch, policy))
		ir_batch_require_tables(batch);
	else
		require_state(batch, IR_OP_ROLLBACK);
	ir_rollback_batch(batch, policy, &res);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
						 (Datum[]) {Int64GetDatum(res.batch_id), Int64GetDatum(res.deleted),
						 Int64GetDatum(res.restored), Int64GetDatum(res.conflicts)},
						 (bool[]) {false, false, false, false});
	return (Datum) 0;
}

/*
 * ir_rollback_plan(batch bigint)
 *	 RETURNS TABLE(step int, batch_id bigint, source_name text,
 *				   applied_at timestamptz, records bigint)
 */
Datum
ir_rollback_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	IrBatch    *batch = begin_report(fcinfo, IR_OP_ROLLBACK, &rsinfo);

	ir_rollback_plan_batch(batch, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * ir_rollback_preview(batch bigint [, status text])
 *	 RETURNS TABLE(record_key jsonb, action text, status text, column_name text,
 *				   batch_value text, current_value text, changed_by_batch bigint)
 */
Datum
ir_rollback_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	IrBatch    *batch;
	char	   *status = NULL;

	if (PG_NARGS() > 1)
	{
		check_not_null(fcinfo, 1, "status");
		status = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (strcmp(status, "restorable") != 0 && strcmp(status, "conflict") != 0 &&
			strcmp(status, "gone") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized status \"%s\"", status),
					 errhint("A field's status is \"restorable\", \"conflict\" or \"gone\".")));
	}
	ir_require_installed_version();
	batch = open_batch(fcinfo, IR_ACCESS_READ);
	/* after a "skip" rollback: what it left */
	if (batch->state == IR_ROLLED_BACK && batch->rollback_leftovers > 0)
		ir_batch_require_tables(batch);
	else
		require_state(batch, IR_OP_ROLLBACK_PREVIEW);
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ir_rollback_preview_batch(batch, status, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Reports and housekeeping
 * ---------------------------------------------------------------------
 */

/* ir_rejects(batch bigint) RETURNS TABLE(row_no bigint, errors text[], source jsonb) */
Datum
ir_rejects(PG_FUNCTION_ARGS)
{
	return report(fcinfo, IR_OP_REPORT, ir_rejects_batch);
}

/*
 * ir_changes(batch bigint [, record_key jsonb])
 *	 RETURNS TABLE(change_id bigint, row_no bigint, action text,
 *				   record_key jsonb, old_values jsonb, new_values jsonb)
 */
Datum
ir_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	IrBatch    *batch;
	Jsonb	   *record_key = NULL;

	if (PG_NARGS() > 1)
	{
		check_not_null(fcinfo, 1, "record_key");
		record_key = PG_GETARG_JSONB_P(1);
	}
	batch = begin_report(fcinfo, IR_OP_REPORT, &rsinfo);
	ir_changes_batch(batch, record_key, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * ir_untrack(target regclass): remove the change-log triggers from a
 * target.  Refused while a batch applied to it has not been rolled back:
 * that batch's rollback relies on them.
 */
Datum
ir_untrack(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *rel;
	int64		applied;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "target");
	relid = PG_GETARG_OID(0);
	rel = get_rel_name(relid);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!ir_table_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", rel)));
	applied = ir_store_untrack_target(relid);
	if (applied > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("%s has " INT64_FORMAT " applied batch that could still be rolled back",
							   "%s has " INT64_FORMAT " applied batches that could still be rolled back",
							   applied,
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel),
							   applied),
				 errhint("Roll them back first; rollback relies on the change-log triggers.")));
	PG_RETURN_VOID();
}

/*
 * ir_purge(older_than interval, options jsonb)
 *	 RETURNS TABLE(batch_id bigint, state text, freed_bytes bigint)
 */
Datum
ir_purge(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *older_than;
	Interval	zero;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "older_than");
	check_not_null(fcinfo, 1, "options");
	older_than = PG_GETARG_INTERVAL_P(0);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(older_than),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Pass how long ago batches must have ended, such as '30 days'; '0' takes every ended batch.")));
	ir_check_options(PG_GETARG_JSONB_P(1), IR_IN_PURGE, "ir_purge");
	InitMaterializedSRF(fcinfo, 0);
	ir_purge_batches(older_than, PG_GETARG_JSONB_P(1), rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Runs
 * ---------------------------------------------------------------------
 */

/* ir_run_create(name text, options jsonb) RETURNS bigint */
Datum
ir_run_create(PG_FUNCTION_ARGS)
{
	ir_require_installed_version();
	check_not_null(fcinfo, 0, "name");
	check_not_null(fcinfo, 1, "options");
	ir_check_options(PG_GETARG_JSONB_P(1), IR_IN_RUN_CREATE, "ir_run_create");
	PG_RETURN_INT64(ir_run_new(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_JSONB_P(1)));
}

/*
 * ir_run_apply(run bigint, options jsonb)
 *	 RETURNS TABLE(batch_id bigint, target text, inserted bigint, updated bigint,
 *				   unchanged bigint, rejected bigint)
 */
Datum
ir_run_apply(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IrRun	   *run;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "run");
	check_not_null(fcinfo, 1, "options");
	ir_check_options(PG_GETARG_JSONB_P(1), IR_IN_RUN_APPLY, "ir_run_apply");
	InitMaterializedSRF(fcinfo, 0);
	run = ir_run_fetch(PG_GETARG_INT64(0), IR_ROW_UPDATE);
	ir_run_apply_members(run, PG_GETARG_JSONB_P(1), rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * ir_run_rollback(run bigint, options jsonb)
 *	 RETURNS TABLE(batch_id bigint, target text, deleted bigint, restored bigint,
 *				   conflicts bigint)
 */
Datum
ir_run_rollback(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IrRun	   *run;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "run");
	check_not_null(fcinfo, 1, "options");
	ir_check_options(PG_GETARG_JSONB_P(1), IR_IN_RUN_ROLLBACK, "ir_run_rollback");
	InitMaterializedSRF(fcinfo, 0);
	run = ir_run_fetch(PG_GETARG_INT64(0), IR_ROW_UPDATE);
	ir_run_rollback_members(run, on_conflict_option(PG_GETARG_JSONB_P(1)),
							rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/* ir_run_cancel(run bigint, reason text) RETURNS void */
Datum
ir_run_cancel(PG_FUNCTION_ARGS)
{
	char	   *reason;

	ir_require_installed_version();
	check_not_null(fcinfo, 0, "run");
	reason = required_reason(fcinfo, 1, "a run");
	ir_run_cancel_members(ir_run_fetch(PG_GETARG_INT64(0), IR_ROW_UPDATE), reason);
	PG_RETURN_VOID();
}
