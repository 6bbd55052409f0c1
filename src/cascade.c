/*-------------------------------------------------------------------------
 *
 * cascade.c
 *	  Cascade rollback, phased newest first: ir_rollback(batch,
 *	  '{"cascade": true}') and ir_rollback_plan(batch).
 *
 * The cascade of a batch is the batch, every later applied batch on the
 * same target that wrote a field it wrote (rollback.c's overlap test over
 * the two change logs), and so on from each of those; a batch that is a
 * member of a run brings its whole run.  The plan lists them newest
 * applied first, which is the order they are rolled back in, in one
 * transaction: each rollback then finds the fields the later ones wrote
 * restored, so only outside writes are conflicts (on_conflict as given).
 * An operation made of rollbacks, so it sits above rollback.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "ops.h"
#include "state.h"
#include "storage.h"

/* Is batch id in the list of int64 *? */
static bool
has_id(List *ids, int64 id)
{
	ListCell   *lc;

	foreach(lc, ids)
		if (*(int64 *) lfirst(lc) == id)
			return true;
	return false;
}

static List *
add_id(List *ids, int64 id)
{
	int64	   *p = palloc(sizeof(int64));

	*p = id;
	return lappend(ids, p);
}

/*
 * The cascade of an applied batch (the caller may read its target), as
 * steps newest first; NOTICEs name the runs it brings whole.
 */
List *
ir_cascade_plan(IrBatch *batch)
{
	List	   *ids = add_id(NIL, batch->batch_id);
	List	   *runs = NIL;

	/* ids grows while it is walked: each batch's cascade joins it */
	for (int i = 0; i < list_length(ids); i++)
	{
		int64		id = *(int64 *) list_nth(ids, i);
		IrBatch    *x = id == batch->batch_id ? batch : ir_batch_fetch(id, false, IR_ACCESS_READ);
		ListCell   *lc;

		foreach(lc, ir_store_later_batches(id))
		{
			IrLaterBatch *lb = lfirst(lc);

			if (!has_id(ids, lb->batch_id) && ir_rollback_overlaps(x, lb))
				ids = add_id(ids, lb->batch_id);
		}
		if (x->run_id != 0 && !has_id(runs, x->run_id))
		{
			IrRun	   *run = ir_store_run_read(x->run_id, IR_ROW_READ);

			runs = add_id(runs, x->run_id);
			if (list_length(run->members) > 1)
				ereport(NOTICE,
						(errmsg("batch " INT64_FORMAT " is a member of run " INT64_FORMAT
								" (\"%s\"): the whole run is rolled back",
								x->batch_id, run->run_id, run->name)));
			foreach(lc, run->members)
			{
				int64		member = *(int64 *) lfirst(lc);
				IrBatch    *mb;

				if (has_id(ids, member))
					continue;
				mb = ir_batch_fetch(member, false, IR_ACCESS_READ);
				if (mb->state == IR_APPLIED)
					ids = add_id(ids, member);
			}
		}
	}
	return ir_store_plan_steps(ids);
}

/* ir_rollback_plan: the cascade's steps into ts. */
void
ir_rollback_plan_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc)
{
	ListCell   *lc;
	int			step = 0;

	foreach(lc, ir_cascade_plan(batch))
	{
		IrPlanStep *st = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(++step);
		values[1] = Int64GetDatum(st->batch_id);
		values[2] = CStringGetTextDatum(st->source_name);
		values[3] = TimestampTzGetDatum(st->applied_at);
		values[4] = Int64GetDatum(st->records);
		tuplestore_putvalues(ts, desc, values, nulls);
	}
}

/*
 * Roll back a locked, applied batch and its cascade, newest first, in one
 * transaction; one row per batch rolled back.  The runs it rolls back
 * whole become rolled_back.
 */
void
ir_rollback_cascade(IrBatch *batch, IrOnConflict policy, Tuplestorestate *ts, TupleDesc desc)
{
	List	   *steps;
	List	   *runs = NIL;
	ListCell   *lc;

	/* the plan sees every batch applied to the target before this call */
	ir_lock_target_writes(batch->target_relid);
	steps = ir_cascade_plan(batch);
	foreach(lc, steps)
	{
		IrPlanStep *st = lfirst(lc);
		IrBatch    *b = st->batch_id == batch->batch_id ? batch :
			ir_batch_fetch(st->batch_id, true, IR_ACCESS_LOAD);
		IrRollbackResult res;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/* locked now: one that changed since the plan is refused */
		ir_require_state(b->batch_id, b->state, b->staging_complete, IR_OP_ROLLBACK);
		ir_batch_require_tables(b);
		ir_rollback_batch(b, policy, &res);
		values[0] = Int64GetDatum(res.batch_id);
		values[1] = Int64GetDatum(res.deleted);
		values[2] = Int64GetDatum(res.restored);
		values[3] = Int64GetDatum(res.conflicts);
		tuplestore_putvalues(ts, desc, values, nulls);
		if (b->run_id != 0 && !has_id(runs, b->run_id))
			runs = add_id(runs, b->run_id);
	}
	foreach(lc, runs)
	{
		IrRun	   *run = ir_run_fetch(*(int64 *) lfirst(lc), IR_ROW_UPDATE);

		if (run->state == IR_RUN_APPLIED)
			ir_run_transition(run, IR_RUN_ROLLED_BACK, psprintf("cascade rollback of batch " INT64_FORMAT,
																batch->batch_id));
	}
}
