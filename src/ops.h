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

/* validate.c */
extern void ir_validate_batch(IrBatch *batch, Jsonb *given, IrValidation *res);

/* review.c */
extern void ir_sample_batch(IrBatch *batch, int32 n, Tuplestorestate *ts, TupleDesc desc);
extern void ir_preview_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc);

/* apply.c */
extern void ir_apply_batch(IrBatch *batch, Jsonb *given, IrApplyResult *res);

/* rollback.c */
extern void ir_rollback_batch(IrBatch *batch, IrOnConflict policy, IrRollbackResult *res);
extern void ir_rollback_preview_batch(IrBatch *batch, const char *status, Tuplestorestate *ts,
									  TupleDesc desc);

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
