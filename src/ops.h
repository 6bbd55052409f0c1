/*-------------------------------------------------------------------------
 *
 * ops.h
 *	  The operations on batches, as the SQL entry points call them: stage,
 *	  validate, review, apply, roll back, drill, report.  Each runs as the
 *	  caller on a batch the entry point opened with the access it needs and
 *	  found in a state the operation runs in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_OPS_H
#define IR_OPS_H

#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "changelog.h"
#include "storage.h"

/* What ir_validate found. */
typedef struct IrValidation
{
	int64		rows_total;
	int64		rows_valid;
	int64		rows_rejected;
	char	   *stop_reason;	/* NULL: validated */
} IrValidation;

/* What ir_apply did. */
typedef struct IrApplyResult
{
	int64		batch_id;
	int64		inserted;
	int64		updated;
	int64		unchanged;
	int64		rejected;
} IrApplyResult;

/* How ir_rollback treats conflicts, and what it did. */
typedef enum IrOnConflict
{
	IR_ON_CONFLICT_ABORT,
	IR_ON_CONFLICT_SKIP,
	IR_ON_CONFLICT_FORCE
} IrOnConflict;

typedef struct IrRollbackResult
{
	int64		batch_id;
	int64		deleted;
	int64		restored;
	int64		conflicts;
} IrRollbackResult;

/* What ir_drill rehearsed. */
typedef struct IrDrillResult
{
	IrApplyResult apply;
	IrRollbackResult rollback;
	bool		round_trip_exact;
} IrDrillResult;

/* stage.c */
extern int64 ir_stage_text(Oid relid, const char *source_name, const char *data, size_t len,
						   Jsonb *options);
extern int64 ir_stage_server_file(Oid relid, const char *path, Jsonb *options);
extern int64 ir_stage_lo(Oid relid, const char *source_name, Oid loid,
						 Jsonb *options);
extern int64 ir_stage_client_begin(Oid relid, const char *source_name, char **headers,
								   int ncols, Jsonb *options);
extern char *ir_stage_client_copy_command(IrBatch *batch);
extern int64 ir_stage_client_finish(IrBatch *batch);

/* The earlier members' rows in force for a run member's validation or report. */
typedef struct IrPendingScope
{
	List	   *pending;		/* IrPending * */
	IrLend	   *lent;			/* their staging tables, lent */
} IrPendingScope;

/* validate.c */
extern void ir_validate_batch(IrBatch *batch, Jsonb *given, IrValidation *res);
extern void ir_run_pending_begin(IrBatch *batch, IrPendingScope *scope);
extern void ir_run_pending_end(IrPendingScope *scope);

/* review.c */
extern void ir_sample_batch(IrBatch *batch, int32 n, Tuplestorestate *ts, TupleDesc desc);
extern void ir_preview_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc);

/* One batch being applied, alone or as a member of a run (apply.c). */
struct IrMapping;
typedef struct IrApplying
{
	IrBatch    *batch;			/* locked, staged or validated */
	IrState		was;			/* its state before the apply */
	struct IrMapping *m;
	int		   *keypos;			/* its key's positions in its log */
	IrLogCounts counts;
	IrApplyResult res;
	bool		count_blanks;	/* guard "blank" may be counted by the log */
	int64	   *blank_counts;	/* ... and was, per column; or NULL */
} IrApplying;

/* apply.c */
extern void ir_apply_batch(IrBatch *batch, Jsonb *given, IrApplyResult *res);
extern char *ir_apply_all(List *applyings, Jsonb *given, Jsonb *extra_guards);
extern void ir_apply_finish(IrApplying *a);
extern void ir_apply_guard_error(const char *why, const char *what);

/* rollback.c */
extern void ir_rollback_batch(IrBatch *batch, IrOnConflict policy, IrRollbackResult *res);
extern bool ir_rollback_overlaps(IrBatch *batch, IrLaterBatch *later);
extern void ir_rollback_preview_batch(IrBatch *batch, const char *status, Tuplestorestate *ts,
									  TupleDesc desc);

/* cascade.c */
extern List *ir_cascade_plan(IrBatch *batch);
extern void ir_rollback_plan_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc);
extern void ir_rollback_cascade(IrBatch *batch, IrOnConflict policy, Tuplestorestate *ts,
								TupleDesc desc);

/* run.c */
extern int64 ir_run_new(const char *name, Jsonb *options);
extern List *ir_run_open_members(IrRun *run);
extern void ir_run_apply_members(IrRun *run, Jsonb *given, Tuplestorestate *ts, TupleDesc desc);
extern void ir_run_rollback_members(IrRun *run, IrOnConflict policy, Tuplestorestate *ts,
									TupleDesc desc);
extern void ir_run_cancel_members(IrRun *run, const char *reason);
extern void ir_refuse_run_member(IrBatch *batch, const char *what, const char *fn);

/* drill.c */
extern void ir_drill_batch(IrBatch *batch, IrDrillResult *res);

/* reports.c */
extern void ir_rejects_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc);
extern void ir_changes_batch(IrBatch *batch, Jsonb *record_key, Tuplestorestate *ts,
							 TupleDesc desc);

/* purge.c */
extern void ir_purge_batches(Interval *older_than, Jsonb *options, Tuplestorestate *ts,
							 TupleDesc desc);

#endif							/* IR_OPS_H */
