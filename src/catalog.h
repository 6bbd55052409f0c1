/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Batches as the operations see them: created, opened with the access
 *	  an operation needs, moved through their states (catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_CATALOG_H
#define IR_CATALOG_H

#include "storage.h"
#include "target.h"

/* What a caller must be allowed to do on a batch's target. */
typedef enum IrAccess
{
	IR_ACCESS_READ,				/* SELECT on the target, no row security */
	IR_ACCESS_LOAD				/* INSERT or UPDATE on the target */
} IrAccess;

extern int64 ir_batch_create(const IrTarget *target, const char *source_name,
							 IrLoadMethod method, Jsonb *options,
							 int64 source_bytes, const uint8 *sha256);
extern IrBatch *ir_batch_fetch(int64 batch_id, bool for_update, IrAccess access);
extern void ir_batch_require_target(const IrBatch *batch);
extern void ir_batch_transition(IrBatch *batch, IrState to, const char *detail);
extern void ir_batch_note(IrBatch *batch, const char *detail);
extern void ir_lock_target_writes(Oid relid);
extern int64 ir_run_create_row(const char *name, Jsonb *options);
extern IrRun *ir_run_fetch(int64 run_id, IrRowLock lock);
extern void ir_run_transition(IrRun *run, IrRunState to, const char *detail);
extern List *ir_run_apply_order(IrRun *run, List *members);
extern void ir_batch_cancel(IrBatch *batch, const char *reason);
extern void ir_report_duplicate_file(const IrBatch *batch);
extern void ir_batch_require_tables(const IrBatch *batch);
extern bool ir_batch_fail_lost_staging(IrBatch *batch);
extern void ir_batch_require_staging(const IrBatch *batch);

#endif							/* IR_CATALOG_H */
