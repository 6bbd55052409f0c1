/*-------------------------------------------------------------------------
 *
 * state.c
 *	  The batch state machine, as data: the allowed transitions, and the
 *	  states each operation runs in with what to tell a caller who asks in
 *	  another.  Every state change goes through ir_check_transition() (from
 *	  catalog.c), every operation's pre-check through ir_require_state();
 *	  both raise 55000 (object_not_in_prerequisite_state).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "state.h"

static const char *const state_names[IR_NSTATES] = {
	[IR_RECEIVED] = "received",
	[IR_STAGED] = "staged",
	[IR_VALIDATED] = "validated",
	[IR_APPLIED] = "applied",
	[IR_ROLLED_BACK] = "rolled_back",
	[IR_FAILED] = "failed",
	[IR_CANCELLED] = "cancelled",
};

#define S(st) (1 << (st))

/*
 * Allowed transitions (DESIGN.md): received -> staged -> validated ->
 * applied -> rolled_back, with failed and cancelled on the side.  A failed
 * or validated batch can be validated again (corrected mapping or rules);
 * a failed batch only if its whole file reached staging.
 */
static const int allowed_next[IR_NSTATES] = {
	[IR_RECEIVED] = S(IR_STAGED) | S(IR_FAILED) | S(IR_CANCELLED),
	[IR_STAGED] = S(IR_VALIDATED) | S(IR_FAILED) | S(IR_CANCELLED),
	[IR_VALIDATED] = S(IR_VALIDATED) | S(IR_APPLIED) | S(IR_FAILED) | S(IR_CANCELLED),
	[IR_APPLIED] = S(IR_ROLLED_BACK),
	[IR_ROLLED_BACK] = 0,
	[IR_FAILED] = S(IR_VALIDATED) | S(IR_FAILED) | S(IR_CANCELLED),
	[IR_CANCELLED] = 0,
};

/*
 * What an operation says to a batch in a state it does not run in.  The
 * message follows "batch N "; a "%s" in message or detail is the state.
 */
typedef struct Refusal
{
	int			states;			/* S() bits this wording is for; 0 ends */
	const char *message;
	const char *detail;
	const char *hint;
} Refusal;

typedef struct Requirement
{
	int			states;			/* the states the operation runs in */
	Refusal		refusals[4];	/* particular states first, then any other */
} Requirement;

#define ANY_OTHER (~0)

static const Requirement requirements[] = {
	[IR_OP_VALIDATE] = {
		S(IR_STAGED) | S(IR_VALIDATED) | S(IR_FAILED), {
			{ANY_OTHER, "is %s and cannot be validated",
			"Only staged, validated or failed batches can be validated.", NULL},
		}
	},
	[IR_OP_APPLY] = {
		S(IR_VALIDATED) | S(IR_STAGED), {
			{S(IR_APPLIED), "has already been applied", NULL,
			"A batch is applied once. To undo it, use ir_rollback()."},
			{S(IR_ROLLED_BACK), "has been rolled back and cannot be applied again", NULL,
			"Stage the file again as a new batch."},
			{S(IR_FAILED), "failed and cannot be applied", NULL,
			"Correct its mapping or rules with ir_validate(), or stage a corrected file."},
			{ANY_OTHER, "is %s and cannot be applied",
			"Only validated (or staged) batches can be applied.", NULL},
		}
	},
	[IR_OP_ROLLBACK] = {
		S(IR_APPLIED), {
			{S(IR_ROLLED_BACK), "has already been rolled back", NULL, NULL},
			{S(IR_STAGED) | S(IR_VALIDATED), "is %s, not applied: there is nothing to roll back", NULL,
			"To discard it, use ir_cancel()."},
			{ANY_OTHER, "is %s, not applied: there is nothing to roll back", NULL, NULL},
		}
	},
	[IR_OP_ROLLBACK_PREVIEW] = {
		S(IR_APPLIED), {
			{ANY_OTHER, "is %s, not applied: there is nothing to roll back", NULL, NULL},
		}
	},
	[IR_OP_CANCEL] = {
		S(IR_RECEIVED) | S(IR_STAGED) | S(IR_VALIDATED) | S(IR_FAILED), {
			{S(IR_CANCELLED), "is already cancelled", NULL, NULL},
			{S(IR_APPLIED), "has been applied and cannot be cancelled", NULL,
			"Use ir_rollback() to undo an applied batch."},
			{ANY_OTHER, "is %s and cannot be cancelled", "State \"%s\" is final.", NULL},
		}
	},
	[IR_OP_CLIENT_COPY] = {
		S(IR_RECEIVED), {
			{ANY_OTHER, "is not waiting for COPY",
			"Only batches created by ir_stage_begin() and not yet finished are loaded with COPY; this one is %s.",
			NULL},
		}
	},
	[IR_OP_CLIENT_FINISH] = {
		S(IR_RECEIVED), {
			{ANY_OTHER, "is %s, not waiting for COPY", NULL, NULL},
		}
	},
	[IR_OP_REPORT] = {
		~0, {{0}}
	},
};

const char *
ir_state_name(IrState state)
{
	return state_names[state];
}

IrState
ir_state_from_name(const char *name)
{
	for (int i = 0; i < IR_NSTATES; i++)
		if (strcmp(state_names[i], name) == 0)
			return (IrState) i;
	elog(ERROR, "unknown batch state \"%s\"", name);
	pg_unreachable();
}

/* Comma-separated list of the states a batch in "from" may move to. */
static char *
next_states_list(IrState from)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < IR_NSTATES; i++)
	{
		if (allowed_next[from] & S(i))
			appendStringInfo(&buf, "%s\"%s\"", buf.len ? ", " : "", state_names[i]);
	}
	return buf.data;
}

/* A failed batch whose file did not reach staging whole never validates. */
static void
require_whole_file(int64 batch_id, bool staging_complete)
{
	if (!staging_complete)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " failed before its whole file was staged",
						batch_id),
				 errdetail("Only part of the file is in staging; validating it would import a partial file."),
				 errhint("Fix the file and stage it again as a new batch.")));
}

/*
 * May a batch in state "from" become "to"?  Raises 55000 saying which
 * states it can become when not.
 */
void
ir_check_transition(int64 batch_id, IrState from, IrState to, bool staging_complete)
{
	if (!(allowed_next[from] & S(to)))
	{
		if (allowed_next[from] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("batch " INT64_FORMAT " is %s and cannot become %s",
							batch_id, state_names[from], state_names[to]),
					 errdetail("State \"%s\" is final.", state_names[from])));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " is %s and cannot become %s",
						batch_id, state_names[from], state_names[to]),
				 errdetail("A batch in state \"%s\" can become %s.",
						   state_names[from], next_states_list(from))));
	}
	if (from == IR_FAILED && to == IR_VALIDATED)
		require_whole_file(batch_id, staging_complete);
}

/*
 * Can operation op run on a batch in state "state"?  Raises 55000 with
 * the operation's own wording for that state when not.
 */
void
ir_require_state(int64 batch_id, IrState state, bool staging_complete, IrOperation op)
{
	const Requirement *req = &requirements[op];
	const char *name = state_names[state];

	if (req->states & S(state))
	{
		if (op == IR_OP_VALIDATE)
			require_whole_file(batch_id, staging_complete);
		return;
	}
	for (const Refusal *r = req->refusals; r->states != 0; r++)
	{
		if (!(r->states & S(state)))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " %s", batch_id, psprintf(r->message, name)),
				 r->detail ? errdetail("%s", psprintf(r->detail, name)) : 0,
				 r->hint ? errhint("%s", r->hint) : 0));
	}
	elog(ERROR, "operation %d has no refusal for state %s", (int) op, name);
}

/* ---------------------------------------------------------------------
 * Runs
 * ---------------------------------------------------------------------
 */

static const char *const run_state_names[IR_NRUNSTATES] = {
	[IR_RUN_OPEN] = "open",
	[IR_RUN_APPLIED] = "applied",
	[IR_RUN_ROLLED_BACK] = "rolled_back",
	[IR_RUN_FAILED] = "failed",
	[IR_RUN_CANCELLED] = "cancelled",
};

/*
 * open -> applied -> rolled_back, with failed (a guard tripped: the run
 * can be applied again once its members are corrected) and cancelled.
 */
static const int run_next[IR_NRUNSTATES] = {
	[IR_RUN_OPEN] = S(IR_RUN_APPLIED) | S(IR_RUN_FAILED) | S(IR_RUN_CANCELLED),
	[IR_RUN_APPLIED] = S(IR_RUN_ROLLED_BACK),
	[IR_RUN_ROLLED_BACK] = 0,
	[IR_RUN_FAILED] = S(IR_RUN_APPLIED) | S(IR_RUN_FAILED) | S(IR_RUN_CANCELLED),
	[IR_RUN_CANCELLED] = 0,
};

const char *
ir_run_state_name(IrRunState state)
{
	return run_state_names[state];
}

IrRunState
ir_run_state_from_name(const char *name)
{
	for (int i = 0; i < IR_NRUNSTATES; i++)
		if (strcmp(run_state_names[i], name) == 0)
			return (IrRunState) i;
	elog(ERROR, "unknown run state \"%s\"", name);
	pg_unreachable();
}

/* May a run in state "from" become "to"?  Raises 55000 when not. */
void
ir_check_run_transition(int64 run_id, IrRunState from, IrRunState to)
{
	if (run_next[from] & S(to))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("run " INT64_FORMAT " is %s and cannot become %s",
					run_id, run_state_names[from], run_state_names[to]),
			 run_next[from] == 0 ? errdetail("State \"%s\" is final.", run_state_names[from]) : 0));
}
