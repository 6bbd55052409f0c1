/*-------------------------------------------------------------------------
 *
 * drill.c
 *	  ir_drill: a rehearsal of a batch's apply and rollback that leaves no
 *	  trace, and says whether the round trip was exact.
 *
 * An operation made of others (validate, apply, rollback), so it sits
 * above them: they never call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "exec.h"
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

/*
 * ir_drill: apply the batch, roll it back and check that every record it
 * could touch is back exactly as it was, all inside a subtransaction that
 * is then rolled back: afterwards nothing has changed, not even the batch.
 * The batch is locked, staged or validated (a staged one is validated in
 * the drill, and nothing of that stays either).
 */
void
ir_drill_batch(IrBatch *batch, IrDrillResult *res)
{
	IrMapping  *m;
	IrLend		acc;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *before;
	char	   *after;
	JsonbValue	on_guard_error;

	on_guard_error.type = jbvString;
	on_guard_error.val.string.val = "error";
	on_guard_error.val.string.len = 5;
	BeginInternalSubTransaction("ir_drill");
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		if (batch->state == IR_STAGED)
		{
			IrValidation v;

			ir_validate_batch(batch, ir_empty_options(), &v);
			ir_require_state(batch->batch_id, batch->state, batch->staging_complete, IR_OP_APPLY);
		}
		m = ir_mapping_of_batch(batch);
		ir_lend_stage(&acc, batch->batch_id, false);
		SPI_connect();
		before = fingerprint(batch, m);
		SPI_finish();
		ir_lend_end(&acc);
		/* a guard that would trip is reported as the apply's own error */
		ir_apply_batch(batch, ir_json_with_key(ir_empty_options(), "on_guard", &on_guard_error),
					   &res->apply);
		ir_rollback_batch(batch, IR_ON_CONFLICT_ABORT, &res->rollback);
		m = ir_mapping_of_batch(batch);
		ir_lend_stage(&acc, batch->batch_id, false);
		SPI_connect();
		after = fingerprint(batch, m);
		SPI_finish();
		ir_lend_end(&acc);
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
	res->round_trip_exact = strcmp(before, after) == 0 && res->rollback.conflicts == 0;
}
