/*-------------------------------------------------------------------------
 *
 * run.c
 *	  Runs: several batches (a multi-table import) applied and rolled back
 *	  as one unit.  A batch joins a run when it is staged with {"run": id};
 *	  from then on it is applied and rolled back only through its run.
 *
 * ir_run_apply opens every member (locked, with the caller's rights on
 * its target), orders them parents first by the foreign keys between
 * their targets (ties by batch id; a cycle is an error naming it), and
 * hands them to apply.c, which makes each ready (validating a staged one
 * after the writes of those before it, so its lookups and references see
 * the rows they create), writes each, then checks every member's guards
 * and the run's own, all in one subtransaction: a tripped guard undoes
 * everything and fails the run and every member.  ir_run_rollback rolls
 * the members back in the reverse order they were applied, in one
 * transaction.  Any error anywhere undoes the whole call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "catalog.h"
#include "guards.h"
#include "ops.h"
#include "options.h"
#include "state.h"
#include "storage.h"

/* "schema.table" of a batch's target, as it is named now. */
static char *
target_name(IrBatch *b)
{
	return quote_qualified_identifier(b->target_schema, b->target_table);
}

/* Create a run; its own guards may only be checks. */
int64
ir_run_new(const char *name, Jsonb *options)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a run needs a name"),
				 errhint("Name it after the import, such as 'CRM cutover'.")));
	ir_run_guards_verify(options);
	return ir_run_create_row(name, options);
}

/*
 * The run's members, opened and locked for a change (cancelled members
 * are left out).  No member at all is an error.
 */
List *
ir_run_open_members(IrRun *run)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, run->members)
	{
		IrBatch    *b = ir_batch_fetch(*(int64 *) lfirst(lc), true, IR_ACCESS_LOAD);

		if (b->state != IR_CANCELLED)
			result = lappend(result, b);
	}
	if (result == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " has no batches", run->run_id),
				 errhint("Stage files into it with the option {\"run\": " INT64_FORMAT "}.", run->run_id)));
	return result;
}

/* A result row: batch_id, target, then counts. */
static void
put_row(Tuplestorestate *ts, TupleDesc desc, IrBatch *b, const int64 *counts, int ncounts)
{
	Datum		values[8];
	bool		nulls[8] = {false};

	values[0] = Int64GetDatum(b->batch_id);
	values[1] = CStringGetTextDatum(target_name(b));
	for (int i = 0; i < ncounts; i++)
		values[2 + i] = Int64GetDatum(counts[i]);
	tuplestore_putvalues(ts, desc, values, nulls);
}

/* The states a run can be applied in; 55000 with what to do otherwise. */
static void
require_run_state(IrRun *run, bool for_apply)
{
	const char *state = ir_run_state_name(run->state);

	if (for_apply && (run->state == IR_RUN_OPEN || run->state == IR_RUN_FAILED))
		return;
	if (!for_apply && run->state == IR_RUN_APPLIED)
		return;
	if (for_apply && run->state == IR_RUN_APPLIED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " has already been applied", run->run_id),
				 errhint("A run is applied once. To undo it, use ir_run_rollback().")));
	if (!for_apply && run->state == IR_RUN_ROLLED_BACK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " has already been rolled back", run->run_id)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("run " INT64_FORMAT " is %s and cannot be %s", run->run_id, state,
					for_apply ? "applied" : "rolled back"),
			 for_apply ? errdetail("Only open (or failed) runs can be applied.") :
			 errdetail("Only applied runs can be rolled back.")));
}

/*
 * Apply every member of a locked run in one transaction, parents first;
 * guards after the last write.  One row per member in apply order.
 */
void
ir_run_apply_members(IrRun *run, Jsonb *given, Tuplestorestate *ts, TupleDesc desc)
{
	List	   *members;
	List	   *applyings = NIL;
	ListCell   *lc;
	char	   *why;
	char	   *on_guard = ir_option_string(given, "on_guard");

	require_run_state(run, true);
	members = ir_run_open_members(run);
	foreach(lc, members)
	{
		IrBatch    *b = lfirst(lc);

		ir_require_state(b->batch_id, b->state, b->staging_complete, IR_OP_APPLY);
		ir_batch_require_target(b);
		ir_batch_require_tables(b);
	}
	/* a member whose UNLOGGED staging a crash emptied fails, and the run with it */
	foreach(lc, members)
	{
		IrBatch    *b = lfirst(lc);

		if (ir_batch_fail_lost_staging(b))
		{
			ir_run_transition(run, IR_RUN_FAILED,
							  psprintf("the staged rows of batch " INT64_FORMAT " were lost in a crash",
									   b->batch_id));
			return;
		}
	}

	foreach(lc, ir_run_apply_order(run, members))
	{
		IrApplying *a = palloc0(sizeof(IrApplying));

		a->batch = lfirst(lc);
		applyings = lappend(applyings, a);
	}
	why = ir_apply_all(applyings, given, ir_has_guards(run->options) ? run->options : NULL);
	if (why)
	{
		if (on_guard && strcmp(on_guard, "error") == 0)
			ir_apply_guard_error(why, psprintf("Run " INT64_FORMAT, run->run_id));
		foreach(lc, applyings)
		{
			IrApplying *a = lfirst(lc);

			ir_batch_transition(a->batch, IR_FAILED, why);
			put_row(ts, desc, a->batch, (int64[]) {0, 0, 0, 0}, 4);
		}
		ir_run_transition(run, IR_RUN_FAILED, why);
		ereport(WARNING,
				(errmsg("run " INT64_FORMAT " failed: %s", run->run_id, why),
				 errdetail("Everything its batches wrote was undone; every batch of the run failed."),
				 errhint("Correct the batches (or the guard) with ir_validate(), then apply the run again.")));
		return;
	}
	foreach(lc, applyings)
	{
		IrApplying *a = lfirst(lc);

		ir_apply_finish(a);
		put_row(ts, desc, a->batch, (int64[]) {a->res.inserted, a->res.updated,
				a->res.unchanged, a->res.rejected}, 4);
	}
	ir_run_transition(run, IR_RUN_APPLIED, NULL);
}

/*
 * Roll every member of a locked, applied run back in one transaction, in
 * the reverse order they were applied.  One row per member, in that order.
 */
void
ir_run_rollback_members(IrRun *run, IrOnConflict policy, Tuplestorestate *ts, TupleDesc desc)
{
	List	   *members;
	ListCell   *lc;

	require_run_state(run, false);
	/* members comes in apply order (applied_at): roll back from the last */
	members = list_copy(ir_run_open_members(run));
	foreach(lc, members)
	{
		IrBatch    *b = lfirst(lc);

		ir_require_state(b->batch_id, b->state, b->staging_complete, IR_OP_ROLLBACK);
		ir_batch_require_tables(b);
	}
	for (int i = list_length(members) - 1; i >= 0; i--)
	{
		IrBatch    *b = list_nth(members, i);
		IrRollbackResult res;

		ir_rollback_batch(b, policy, &res);
		put_row(ts, desc, b, (int64[]) {res.deleted, res.restored, res.conflicts}, 3);
	}
	ir_run_transition(run, IR_RUN_ROLLED_BACK, NULL);
}

/* Cancel a locked run that was not applied, and its members that were not. */
void
ir_run_cancel_members(IrRun *run, const char *reason)
{
	ListCell   *lc;

	if (run->state != IR_RUN_OPEN && run->state != IR_RUN_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run " INT64_FORMAT " is %s and cannot be cancelled", run->run_id,
						ir_run_state_name(run->state)),
				 run->state == IR_RUN_APPLIED ?
				 errhint("Use ir_run_rollback() to undo an applied run.") : 0));
	foreach(lc, run->members)
	{
		IrBatch    *b = ir_batch_fetch(*(int64 *) lfirst(lc), true, IR_ACCESS_LOAD);

		if (b->state != IR_CANCELLED)
			ir_batch_cancel(b, reason);
	}
	ir_run_transition(run, IR_RUN_CANCELLED, reason);
}

/*
 * A member of a run is applied and rolled back only through it: 55000
 * naming the run's function (what: "applied", "rolled back").
 */
void
ir_refuse_run_member(IrBatch *batch, const char *what, const char *fn)
{
	if (batch->run_id == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("batch " INT64_FORMAT " is a member of run " INT64_FORMAT " and is %s only with it",
					batch->batch_id, batch->run_id, what),
			 errhint("Use %s(" INT64_FORMAT ").", fn, batch->run_id)));
}
