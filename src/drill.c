/*-------------------------------------------------------------------------
 *
 * drill.c
 *	  ir_drill: a rehearsal of a batch's apply and rollback that leaves no
 *	  trace, and says whether the round trip was exact.
 *
 * An operation made of others (validate, apply, rollback, runs), so it
 * sits above them: they never call it.  The drill of a member of a run
 * rehearses the whole run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "catalog.h"
#include "exec.h"
#include "guards.h"
#include "mapping.h"
#include "ops.h"
#include "options.h"
#include "state.h"
#include "storage.h"

/*
 * Fingerprint of the target records a batch can touch (those whose key is
 * in its valid rows) and of the table's size: equal before and after a
 * round trip exactly when every such record is byte for byte as before.
 */
static char *
fingerprint(IrBatch *batch, IrMapping *m)
{
	StringInfoData q;
	StringInfoData match;

	initStringInfo(&match);
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&match, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(m, k, psprintf("t.%s", quote_identifier(m->key_names[k])),
										  ir_typed_expr(&m->cols[m->key_col[k]], "s")));
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT (SELECT count(*) FROM %s)::text || ':' ||"
					 " coalesce(md5(string_agg((t.*)::text, E'\\n' ORDER BY (t.*)::text)), '')"
					 " FROM %s t WHERE EXISTS (SELECT 1 FROM %s s WHERE s.status IS NULL AND %s)",
					 m->scan, m->scan, ir_stage_table(batch->batch_id), match.data);
	ir_spi_exec(q.data, 0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	return MemoryContextStrdup(TopTransactionContext,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* The options a drill applies with: a guard that would trip is an error. */
static Jsonb *
drill_apply_options(void)
{
	JsonbValue	on_guard_error;

	on_guard_error.type = jbvString;
	on_guard_error.val.string.val = "error";
	on_guard_error.val.string.len = 5;
	return ir_json_with_key(ir_empty_options(), "on_guard", &on_guard_error);
}

/* The fingerprint of a validated batch's records (its own SPI and lend). */
static char *
batch_fingerprint(IrBatch *batch)
{
	IrMapping  *m = ir_mapping_of_batch(batch);
	IrLend		acc;
	char	   *f;

	ir_lend_stage(&acc, batch->batch_id, false);
	SPI_connect();
	f = fingerprint(batch, m);
	SPI_finish();
	ir_lend_end(&acc);
	return f;
}

/*
 * Run rehearse(batch, res) in a subtransaction that is then rolled back,
 * whatever it did: afterwards nothing has changed, not even the batch.
 */
static void
in_rolled_back_subxact(void (*rehearse) (IrBatch *, IrDrillResult *), IrBatch *batch,
					   IrDrillResult *res)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction("ir_drill");
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		rehearse(batch, res);
		MemoryContextSwitchTo(oldcxt);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ReThrowError(ir_abort_subxact(oldcxt, oldowner));
	}
	PG_END_TRY();
}

/* One batch: validated when staged, applied, rolled back, compared. */
static void
rehearse_batch(IrBatch *batch, IrDrillResult *res)
{
	char	   *before;

	if (batch->state == IR_STAGED)
	{
		IrValidation v;

		ir_validate_batch(batch, ir_empty_options(), &v);
		ir_require_state(batch->batch_id, batch->state, batch->staging_complete, IR_OP_APPLY);
	}
	before = batch_fingerprint(batch);
	/* a guard that would trip is reported as the apply's own error */
	ir_apply_batch(batch, drill_apply_options(), &res->apply);
	ir_rollback_batch(batch, IR_ON_CONFLICT_ABORT, &res->rollback);
	res->round_trip_exact = strcmp(before, batch_fingerprint(batch)) == 0 &&
		res->rollback.conflicts == 0;
}

/*
 * The drill of a member of a run is the drill of its run: every member
 * validated (parents first, seeing the rows of those before), applied as
 * ir_run_apply would, its guards and the run's checked, rolled back in
 * reverse, and every member's records compared.  res is the batch's own
 * counts; round_trip_exact covers the whole run.
 */
static void
rehearse_run(IrBatch *batch, IrDrillResult *res)
{
	IrRun	   *run = ir_run_fetch(batch->run_id, IR_ROW_READ);
	List	   *order = NIL;
	List	   *applyings = NIL;
	List	   *before = NIL;
	ListCell   *lc;
	char	   *why;
	bool		exact = true;

	foreach(lc, ir_run_open_members(run))
	{
		IrBatch    *b = lfirst(lc);

		if (b->batch_id == batch->batch_id)
			b = batch;
		ir_require_state(b->batch_id, b->state, b->staging_complete, IR_OP_APPLY);
		order = lappend(order, b);
	}
	foreach(lc, ir_run_apply_order(run, order))
	{
		IrBatch    *b = lfirst(lc);
		IrApplying *a = palloc0(sizeof(IrApplying));

		if (b->state == IR_STAGED)
		{
			IrValidation v;

			ir_validate_batch(b, ir_empty_options(), &v);
			ir_require_state(b->batch_id, b->state, b->staging_complete, IR_OP_APPLY);
		}
		before = lappend(before, batch_fingerprint(b));
		a->batch = b;
		applyings = lappend(applyings, a);
	}
	why = ir_apply_all(applyings, drill_apply_options(),
					   ir_has_guards(run->options) ? run->options : NULL);
	if (why)
		ir_apply_guard_error(why, psprintf("Run " INT64_FORMAT, run->run_id));
	foreach(lc, applyings)
		ir_apply_finish(lfirst(lc));
	for (int i = list_length(applyings) - 1; i >= 0; i--)
	{
		IrApplying *a = list_nth(applyings, i);
		IrRollbackResult rr;

		ir_rollback_batch(a->batch, IR_ON_CONFLICT_ABORT, &rr);
		if (a->batch == batch)
		{
			res->apply = a->res;
			res->rollback = rr;
		}
		exact = exact && rr.conflicts == 0;
	}
	for (int i = 0; i < list_length(applyings); i++)
	{
		IrApplying *a = list_nth(applyings, i);

		exact = exact && strcmp(list_nth(before, i), batch_fingerprint(a->batch)) == 0;
	}
	res->round_trip_exact = exact;
}

/*
 * ir_drill: apply the batch, roll it back and check that every record it
 * could touch is back exactly as it was, all inside a subtransaction that
 * is then rolled back.  The batch is locked, staged or validated (a
 * staged one is validated in the drill, and nothing of that stays either).
 */
void
ir_drill_batch(IrBatch *batch, IrDrillResult *res)
{
	in_rolled_back_subxact(batch->run_id != 0 ? rehearse_run : rehearse_batch, batch, res);
}
