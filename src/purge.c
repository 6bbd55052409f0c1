/*-------------------------------------------------------------------------
 *
 * purge.c
 *	  Retention: ir_purge(older_than, options) drops the staging tables and
 *	  change logs of batches that ended (rolled back, cancelled, failed)
 *	  longer ago than older_than, and expires batches left received,
 *	  staged or validated that long: they become "cancelled" (reason
 *	  "expired"; the client path's grant is taken back) and are purged.
 *	  Applied batches only with {"applied": true}: their rollback is then
 *	  refused (IR005).  {"dry_run": true} lists without changing anything.
 *
 * The batch rows, their columns, events and validation runs stay: the
 * audit trail.  Everything happens in the caller's transaction, so a crash
 * or an error leaves every batch as it was; batches are locked one query
 * at a time, oldest first, and one that changed state meanwhile is judged
 * as it is now.  Scheduling is left to pg_cron (README).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "ops.h"
#include "options.h"
#include "storage.h"

/* Is a batch in this state unfinished, expiring rather than ended? */
static bool
unfinished(IrState state)
{
	return state == IR_RECEIVED || state == IR_STAGED || state == IR_VALIDATED;
}

void
ir_purge_batches(Interval *older_than, Jsonb *options, Tuplestorestate *ts, TupleDesc desc)
{
	bool		applied = ir_option_bool(options, "applied", false);
	bool		dry_run = ir_option_bool(options, "dry_run", false);
	List	   *candidates;
	ListCell   *lc;

	candidates = ir_store_purge_candidates(older_than, applied, !dry_run);
	foreach(lc, candidates)
	{
		IrPurgeCandidate *c = lfirst(lc);
		IrState		state = c->state;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[2] = Int64GetDatum(ir_store_batch_tables_bytes(c->batch_id));
		if (unfinished(state))
		{
			if (!dry_run)
				ir_batch_cancel(ir_store_batch_read(c->batch_id, false), "expired");
			state = IR_CANCELLED;
		}
		if (!dry_run)
			ir_store_purge_batch(c->batch_id);
		values[0] = Int64GetDatum(c->batch_id);
		values[1] = CStringGetTextDatum(ir_state_name(state));
		tuplestore_putvalues(ts, desc, values, nulls);
	}
}
