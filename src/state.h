/*-------------------------------------------------------------------------
 *
 * state.h
 *	  Batch and run states, the transitions between them, and the states
 *	  each operation needs (state.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_STATE_H
#define IR_STATE_H

/* Batch states (contract). */
typedef enum IrState
{
	IR_RECEIVED,
	IR_STAGED,
	IR_VALIDATED,
	IR_APPLIED,
	IR_ROLLED_BACK,
	IR_FAILED,
	IR_CANCELLED
} IrState;

#define IR_NSTATES (IR_CANCELLED + 1)

/* Operations on an existing batch, by the states they need. */
typedef enum IrOperation
{
	IR_OP_VALIDATE,
	IR_OP_APPLY,				/* and ir_drill */
	IR_OP_ROLLBACK,
	IR_OP_ROLLBACK_PREVIEW,
	IR_OP_CANCEL,
	IR_OP_CLIENT_COPY,			/* ir_stage_copy_command */
	IR_OP_CLIENT_FINISH,		/* ir_stage_finish */
	IR_OP_REPORT				/* ir_rejects, ir_changes, ir_preview: any state */
} IrOperation;

/* Run states (contract). */
typedef enum IrRunState
{
	IR_RUN_OPEN,
	IR_RUN_APPLIED,
	IR_RUN_ROLLED_BACK,
	IR_RUN_FAILED,
	IR_RUN_CANCELLED
} IrRunState;

#define IR_NRUNSTATES (IR_RUN_CANCELLED + 1)

extern const char *ir_state_name(IrState state);
extern const char *ir_run_state_name(IrRunState state);
extern IrRunState ir_run_state_from_name(const char *name);
extern void ir_check_run_transition(int64 run_id, IrRunState from, IrRunState to);
extern IrState ir_state_from_name(const char *name);
extern void ir_check_transition(int64 batch_id, IrState from, IrState to,
								bool staging_complete);
extern void ir_require_state(int64 batch_id, IrState state, bool staging_complete,
							 IrOperation op);

#endif							/* IR_STATE_H */
