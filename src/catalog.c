/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The batch catalog: creating batches, reading and locking them, the
 *	  state machine, the event log, NOTIFY, checks of target tables and of
 *	  batch options, and ir_cancel; runs likewise (their rows, transitions
 *	  and NOTIFY, and the order their members are applied in).
 *
 * The state machine lives in ir_batch_transition() and nowhere else: every
 * state change of every batch goes through it, which checks the transition
 * against the table below, records an event (time, role, from, to, detail)
 * and queues NOTIFY import_rollback with a JSON payload.  Callers lock the
 * batch row first (ir_batch_fetch with for_update), so two sessions racing
 * on one batch serialize on that row and the loser sees the new state.
 *
 * All catalog statements run as the extension owner (see import_rollback.c)
 * and are fully schema-qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/relcache.h"

#include "catalog.h"
#include "errors.h"
#include "options.h"
#include "state.h"
#include "storage.h"
#include "target.h"

/* ---------------------------------------------------------------------
 * Batches
 * ---------------------------------------------------------------------
 */

/*
 * Queue NOTIFY import_rollback with {"<idkey>": id, ["target": target,]
 * "from": from, "to": to}; sent at commit.
 */
static void
notify_json(const char *idkey, int64 id, const char *target, const char *from, const char *to)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"%s\": " INT64_FORMAT, idkey, id);
	if (target)
	{
		appendStringInfoString(&buf, ", \"target\": ");
		escape_json(&buf, target);
	}
	appendStringInfoString(&buf, ", \"from\": ");
	if (from)
		escape_json(&buf, from);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"to\": ");
	escape_json(&buf, to);
	appendStringInfoChar(&buf, '}');
	Async_Notify("import_rollback", buf.data);
}

/* Queue NOTIFY import_rollback for a batch's transition. */
static void
notify_transition(int64 batch_id, const char *schema, const char *table,
				  const char *from, const char *to)
{
	notify_json("batch_id", batch_id, quote_qualified_identifier(schema, table), from, to);
}

/*
 * Create a batch in state "received" and record its first event.  Returns
 * the new batch id.  sha256 may be NULL (not known yet).
 */
int64
ir_batch_create(const IrTarget *target, const char *source_name,
				IrLoadMethod method, Jsonb *options,
				int64 source_bytes, const uint8 *sha256)
{
	int64		batch_id;
	JsonbValue *run_id = ir_option(options, "run");

	/* joining a run: it exists, is the caller's, and is not applied yet */
	if (run_id)
	{
		int64		id;
		IrRun	   *run;

		if (!ir_json_count(run_id, &id))
			elog(ERROR, "option \"run\" was not checked");
		run = ir_run_fetch(id, IR_ROW_SHARE);
		if (run->state != IR_RUN_OPEN && run->state != IR_RUN_FAILED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("run " INT64_FORMAT " is %s and takes no more batches", id,
							ir_run_state_name(run->state)),
					 errhint("Create a new run with ir_run_create().")));
	}
	batch_id = ir_store_batch_insert(target->relid, target->schema, target->table,
												 source_name,
												 method, options, target->key_columns,
												 source_bytes, sha256);

	notify_transition(batch_id, target->schema, target->table, NULL, "received");
	return batch_id;
}

/*
 * Read a batch, optionally locking its row FOR UPDATE, and check that the
 * caller may act on it: "access" privileges on its target, or (when the
 * target is gone) being its starter or a superuser.  Unknown batch: 42704.
 */
IrBatch *
ir_batch_fetch(int64 batch_id, bool for_update, IrAccess access)
{
	IrBatch    *b = ir_store_batch_read(batch_id, for_update);
	bool		allowed;

	if (OidIsValid(b->target_relid))
		allowed = pg_class_aclcheck(b->target_relid, GetUserId(),
									access == IR_ACCESS_READ ? ACL_SELECT :
									(ACL_INSERT | ACL_UPDATE)) == ACLCHECK_OK;
	else
		allowed = superuser() || strcmp(ir_current_role_name(), b->started_by) == 0;

	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for batch " INT64_FORMAT, batch_id),
				 errdetail(access == IR_ACCESS_READ ?
						   "Reading a batch's rows requires SELECT privilege on its target table %s." :
						   "Changing a batch requires INSERT or UPDATE privilege on its target table %s.",
						   quote_qualified_identifier(b->target_schema, b->target_table))));

	if (OidIsValid(b->target_relid))
		ir_refuse_row_security(b->target_relid, psprintf("batch " INT64_FORMAT, batch_id));
	return b;
}

/* Error out unless the batch's target table still exists. */
void
ir_batch_require_target(const IrBatch *batch)
{
	if (!OidIsValid(batch->target_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table %s of batch " INT64_FORMAT " does not exist",
						quote_qualified_identifier(batch->target_schema, batch->target_table),
						batch->batch_id)));
}

/*
 * The state machine's one door: move a locked batch to state "to" if the
 * transition is allowed (state.c), record it with its event (detail: the
 * error for "failed", the reason for "cancelled") and queue the NOTIFY.
 */
void
ir_batch_transition(IrBatch *batch, IrState to, const char *detail)
{
	IrState		from = batch->state;

	ir_check_transition(batch->batch_id, from, to, batch->staging_complete);
	ir_store_batch_state(batch->batch_id, from, to, detail);
	notify_transition(batch->batch_id, batch->target_schema, batch->target_table,
					  ir_state_name(from), ir_state_name(to));
	batch->state = to;
}

/*
 * Record an event of a locked batch that keeps its state (a "force"
 * rollback after a "skip" one), and queue its NOTIFY.
 */
void
ir_batch_note(IrBatch *batch, const char *detail)
{
	ir_store_batch_state(batch->batch_id, batch->state, batch->state, detail);
	notify_transition(batch->batch_id, batch->target_schema, batch->target_table,
					  ir_state_name(batch->state), ir_state_name(batch->state));
}

/* ---------------------------------------------------------------------
 * Runs
 * ---------------------------------------------------------------------
 */

/* Queue NOTIFY import_rollback for a run's transition. */
static void
notify_run_transition(int64 run_id, const char *from, const char *to)
{
	notify_json("run_id", run_id, NULL, from, to);
}

/* Create a run in state "open"; returns its id. */
int64
ir_run_create_row(const char *name, Jsonb *options)
{
	int64		run_id = ir_store_run_insert(name, options);

	notify_run_transition(run_id, NULL, "open");
	return run_id;
}

/*
 * Read a run, locked as lock says, and check that the caller may act on
 * it: its starter or a superuser (the members' own rights are checked
 * when each is opened).  Unknown run: 42704.
 */
IrRun *
ir_run_fetch(int64 run_id, IrRowLock lock)
{
	IrRun	   *r = ir_store_run_read(run_id, lock);

	if (!superuser() && strcmp(ir_current_role_name(), r->started_by) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for run " INT64_FORMAT, run_id),
				 errdetail("Run " INT64_FORMAT " was started by role \"%s\".", run_id, r->started_by),
				 errhint("Only the role that created a run, or a superuser, can use it.")));
	return r;
}

/* "schema.table" of a batch's target, as it is named now. */
static char *
target_name(IrBatch *b)
{
	return quote_qualified_identifier(b->target_schema, b->target_table);
}

/* Does the target of child have a foreign key to the target of parent? */
static bool
references(IrBatch *child, IrBatch *parent)
{
	Relation	rel;
	ListCell   *lc;
	bool		found = false;

	if (child->target_relid == parent->target_relid)
		return false;
	rel = relation_open(child->target_relid, AccessShareLock);
	foreach(lc, RelationGetFKeyList(rel))
	{
		if (((ForeignKeyCacheInfo *) lfirst(lc))->confrelid == parent->target_relid)
			found = true;
	}
	relation_close(rel, NoLock);
	return found;
}

/*
 * A run's members (IrBatch *, in batch id order) in apply order: parents
 * before children by the foreign keys between their targets, ties by
 * batch id.  A cycle between member targets is an error naming it.
 */
List *
ir_run_apply_order(IrRun *run, List *members)
{
	int			n = list_length(members);
	IrBatch   **b = palloc(sizeof(IrBatch *) * n);
	bool	   *edge = palloc0(sizeof(bool) * n * n);	/* [p * n + c]: p before c */
	bool	   *done = palloc0(sizeof(bool) * n);
	List	   *order = NIL;

	for (int i = 0; i < n; i++)
		b[i] = list_nth(members, i);
	for (int p = 0; p < n; p++)
		for (int c = 0; c < n; c++)
			edge[p * n + c] = references(b[c], b[p]);

	while (list_length(order) < n)
	{
		int			next = -1;

		/* the first member (lowest batch id) whose parents are all placed */
		for (int c = 0; c < n && next < 0; c++)
		{
			bool		ready = !done[c];

			for (int p = 0; p < n && ready; p++)
				if (edge[p * n + c] && !done[p])
					ready = false;
			if (ready)
				next = c;
		}
		if (next < 0)
		{
			/*
			 * Every member left has a parent left: walk from one to its
			 * parents until a member repeats; the walk from there is the
			 * cycle, child to parent.
			 */
			int		   *path = palloc(sizeof(int) * n);
			int		   *pos = palloc(sizeof(int) * n);
			int			len = 0;
			int			at = 0;
			StringInfoData cycle;

			for (int i = 0; i < n; i++)
				pos[i] = -1;
			while (done[at])
				at++;
			while (pos[at] < 0)
			{
				int			parent = 0;

				pos[at] = len;
				path[len++] = at;
				while (done[parent] || !edge[parent * n + at])
					parent++;
				at = parent;
			}
			initStringInfo(&cycle);
			appendStringInfoString(&cycle, target_name(b[at]));
			for (int i = len - 1; i >= pos[at]; i--)
				appendStringInfo(&cycle, " -> %s", target_name(b[path[i]]));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("the targets of run " INT64_FORMAT " reference each other in a cycle: %s",
							run->run_id, cycle.data),
					 errdetail("A run applies parents before children by their foreign keys; a cycle has no order."),
					 errhint("Stage one of these files into a run of its own.")));
		}
		done[next] = true;
		order = lappend(order, b[next]);
	}
	return order;
}

/* The state machine's door for runs, as ir_batch_transition() for batches. */
void
ir_run_transition(IrRun *run, IrRunState to, const char *detail)
{
	IrRunState	from = run->state;

	ir_check_run_transition(run->run_id, from, to);
	ir_store_run_state(run->run_id, from, to, detail);
	notify_run_transition(run->run_id, ir_run_state_name(from), ir_run_state_name(to));
	run->state = to;
}

/*
 * Batches write a target one at a time: ir_apply (a run's members too) and
 * ir_rollback take this lock on their target until the transaction ends.
 * It is an object lock of the extension's own (pg_class, the table's OID,
 * a sub-id no PostgreSQL lock uses), not a lock on the table: the
 * application's own reads and writes never wait for it.  The second of
 * two batches on a table waits for the first to commit and then sees what
 * it wrote, so its staleness check and its conflicts are judged on it.
 */
#define IR_TARGET_WRITES_SUBID 0x4952	/* "IR" */

void
ir_lock_target_writes(Oid relid)
{
	LockDatabaseObject(RelationRelationId, relid, IR_TARGET_WRITES_SUBID, ExclusiveLock);
}

/*
 * Warn when the batch's file is byte-identical (same SHA-256) to one
 * already applied to the same target and not rolled back.
 */
void
ir_report_duplicate_file(const IrBatch *batch)
{
	int64		first_id;
	char	   *first_source;
	char	   *sha;
	char	   *ids;

	if (ir_store_duplicate_file(batch->batch_id, &first_id, &first_source, &sha, &ids))
		ereport(WARNING,
				(errmsg("file of batch " INT64_FORMAT " is identical to \"%s\", applied to %s as batch " INT64_FORMAT,
						batch->batch_id, first_source,
						quote_qualified_identifier(batch->target_schema, batch->target_table),
						first_id),
				 errdetail("Both files have SHA-256 %s; applied batches with this file: %s.",
						   sha, ids),
				 errhint("If the file was sent twice by mistake, discard this batch with ir_cancel().")));
}

/*
 * Discard a batch that has not been applied (locked, in a state that can
 * be cancelled), keeping its staging rows as evidence; a client upload's
 * grant is taken back.
 */
void
ir_batch_cancel(IrBatch *batch, const char *reason)
{
	if (batch->load_method == IR_LOAD_CLIENT && batch->state == IR_RECEIVED)
		ir_store_close_client(batch->batch_id);
	ir_batch_transition(batch, IR_CANCELLED, reason);
}

/*
 * Error out (IR005) unless the batch still has its staging table and, once
 * applied, its change log, which are then locked against a concurrent
 * ir_purge() until the end of the transaction.
 */
void
ir_batch_require_tables(const IrBatch *batch)
{
	bool		log = batch->state == IR_APPLIED || batch->state == IR_ROLLED_BACK;
	const char *when = batch->purged_at ? psprintf(" at %s", batch->purged_at) : "";

	if (batch->purged_at == NULL && ir_store_lock_batch_tables(batch->batch_id, log))
		return;
	if (batch->state == IR_APPLIED)
		ereport(ERROR,
				(errcode(ERRCODE_IR_BATCH_PURGED),
				 errmsg("batch " INT64_FORMAT " cannot be rolled back or reported on: its change log was purged%s",
						batch->batch_id, when),
				 errdetail("ir_purge() with \"applied\" dropped its staging rows and change log; "
						   "its counts and history are kept in ir_batches and ir_batch_events.")));
	ereport(ERROR,
			(errcode(ERRCODE_IR_BATCH_PURGED),
			 errmsg("batch " INT64_FORMAT " was purged%s", batch->batch_id, when),
			 errdetail("ir_purge() dropped its staging rows%s; its counts and history are kept "
					   "in ir_batches and ir_batch_events.", log ? " and change log" : "")));
}

/*
 * Did a crash empty the batch's UNLOGGED staging table?  Then a batch not
 * yet applied becomes "failed" (once), with a WARNING, and the caller
 * stops: there are no rows to work on.
 */
bool
ir_batch_fail_lost_staging(IrBatch *batch)
{
	const char *why = "a crash emptied its UNLOGGED staging table; stage the file again";

	if (!ir_store_staging_lost(batch->batch_id, batch->rows_total))
		return false;
	if (batch->state != IR_FAILED)
		ir_batch_transition(batch, IR_FAILED, why);
	ereport(WARNING,
			(errmsg("batch " INT64_FORMAT " failed: its staged rows were lost in a crash", batch->batch_id),
			 errdetail("It was staged with import_rollback.unlogged_staging on; crash recovery empties UNLOGGED tables."),
			 errhint("Stage the file again.")));
	return true;
}

/* Error out when a crash emptied the batch's UNLOGGED staging table. */
void
ir_batch_require_staging(const IrBatch *batch)
{
	if (ir_store_staging_lost(batch->batch_id, batch->rows_total))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the staged rows of batch " INT64_FORMAT " were lost in a crash", batch->batch_id),
				 errdetail("It was staged with import_rollback.unlogged_staging on; crash recovery empties UNLOGGED tables."),
				 errhint("Stage the file again.")));
}
