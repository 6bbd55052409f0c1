/*-------------------------------------------------------------------------
 *
 * changelog.c
 *	  The change log: the trigger that records every write a batch makes
 *	  to its target while it is applied or rolled back, tracking of targets
 *	  (installing and removing the triggers), and TRUNCATE detection.
 *
 * Each tracked target carries two triggers, both ENABLE ALWAYS so that
 * they fire under session_replication_role = replica too:
 *	  import_rollback_changelog  AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW
 *	                             WHEN (import_rollback.ir_logging())
 *	  import_rollback_truncate   AFTER TRUNCATE FOR EACH STATEMENT
 * The WHEN condition is false unless this backend is applying or rolling
 * back a batch, so plain application writes queue no trigger event at all:
 * their cost is PostgreSQL preparing the condition once per statement and
 * one call of ir_logging() per row (about 2% on a single-row UPDATE; see
 * README, Performance).
 *
 * While a batch runs (ir_log_begin .. ir_log_end) the row trigger compares
 * old and new values of every column bit for bit (datum images), keeps
 * the values of exactly the changed columns, and writes log rows in bulk
 * (table_multi_insert) into the batch's own log table
 * import_rollback.changes_<batch>:
 *	  change_id   bigint    order of the write within the batch
 *	  action      text      insert | update | delete, or undo_insert |
 *	                        undo_update | undo_delete for a rollback's writes
 *	  changed     int2[]    positions (in the batch's log_columns) an update
 *	                        changed; NULL for inserts and deletes
 *	  o1..oN      old values, typed exactly like the target's columns
 *	  n1..nN      new values, likewise
 * Inserts keep every new value, deletes every old one, updates the old and
 * new value of exactly the changed columns, plus the key.  Values are the
 * datums themselves, so a rollback restores them bit for bit (numeric
 * scale, timestamp precision, array and JSON text), and the key is kept by
 * value, never by OID or ctid, so the log survives dump and restore.  The
 * link from a write to its source row is the key, unique within a valid
 * batch: reports join on it when they read.  A write that changes a key
 * (a user trigger rewriting it) could not be found again, so it is an
 * error: the statement, and with it the apply, fails.
 *
 * The active state lives in a memory context under TopTransactionContext;
 * transaction and subtransaction abort callbacks forget it, so an error
 * anywhere leaves nothing behind (the log rows themselves roll back with
 * the transaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "changelog.h"
#include "storage.h"

PG_FUNCTION_INFO_V1(ir_changelog);
PG_FUNCTION_INFO_V1(ir_logging);
PG_FUNCTION_INFO_V1(ir_truncated);
PG_FUNCTION_INFO_V1(ir_dropped);
PG_FUNCTION_INFO_V1(ir_note_row);
PG_FUNCTION_INFO_V1(ir_same);

/* change_id, action, changed; then o1..oN and n1..nN */
#define LOG_FIXED IR_LOG_FIXED_COLS
#define LOG_BUFFER 1000


typedef struct LogColumn
{
	AttrNumber	attnum;
	Oid			collation;
	bool		varlena;
	bool		byval;
	int16		typlen;
	bool		is_key;
} LogColumn;

typedef struct IrLog
{
	MemoryContext cxt;
	SubTransactionId subid;		/* subtransaction that started it */
	int64		batch_id;
	Oid			relid;
	bool		undo;
	int			ncols;
	LogColumn  *cols;
	int			nkeys;
	int		   *keypos;			/* 0-based positions in cols */
	IrLogCounts counts;
	int64		next_change_id;
	int64		current_row;	/* source row being written (ir_note_row) */
	List	   *partitions;		/* PartitionColumns of partitions seen */
	bool		rows_done;		/* AFTER triggers started firing */
	/* guard "blank": blank values written, per column (ir_log_count_blanks) */
	int			nblank;
	int		   *blank_pos;		/* 0-based positions in cols */
	bool	   *blank_textual;	/* '' counts too */
	int64	   *blank_counts;
	/* bulk insert into the log table */
	Relation	logrel;
	TupleTableSlot *slots[LOG_BUFFER];
	int			nbuf;
	MemoryContext bufcxt;
	BulkInsertState bistate;
	CommandId	cid;
} IrLog;

/*
 * Where the logged columns are in a partition of a partitioned target
 * (attribute numbers can differ from the parent's), or NULL positions for
 * a table that is not a partition of the target.
 */
typedef struct PartitionColumns
{
	Oid			relid;
	AttrNumber *attnums;		/* per logged column; NULL: not the target's */
} PartitionColumns;

static IrLog *active_log = NULL;
static bool callbacks_registered = false;

/* ---------------------------------------------------------------------
 * Life cycle of the active log
 * ---------------------------------------------------------------------
 */

static void
forget_active_log(void)
{
	if (active_log != NULL)
	{
		MemoryContext cxt = active_log->cxt;

		active_log = NULL;
		MemoryContextDelete(cxt);
	}
}

static void
log_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		/* memory is gone with the transaction context; just forget it */
		active_log = NULL;
	}
}

static void
log_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	/* only the subtransaction the log began in takes it down */
	if (event == SUBXACT_EVENT_ABORT_SUB && active_log != NULL &&
		active_log->subid == mySubid)
		forget_active_log();
}

/*
 * Start logging the writes of batch_id to relid.  columns are the target
 * columns logged, keys the positions of the key among them, first_change
 * the change_id of the first write.
 */
void
ir_log_begin(int64 batch_id, Oid relid, bool undo, List *columns,
			 int nkeys, const int *keypos, int64 first_change)
{
	MemoryContext cxt;
	MemoryContext old;
	IrLog	   *log;
	ListCell   *lc;
	int			i = 0;
	Oid			logrelid;
	TupleDesc	logdesc;

	if (active_log != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " is already being written in this session",
						active_log->batch_id),
				 errdetail("One batch at a time can be applied or rolled back in a session.")));
	if (!callbacks_registered)
	{
		RegisterXactCallback(log_xact_callback, NULL);
		RegisterSubXactCallback(log_subxact_callback, NULL);
		callbacks_registered = true;
	}

	cxt = AllocSetContextCreate(TopTransactionContext, "import_rollback change log",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	log = palloc0(sizeof(IrLog));
	log->cxt = cxt;
	log->subid = GetCurrentSubTransactionId();
	log->batch_id = batch_id;
	log->relid = relid;
	log->undo = undo;
	log->ncols = list_length(columns);
	log->cols = palloc0(sizeof(LogColumn) * Max(log->ncols, 1));
	foreach(lc, columns)
	{
		AttrNumber	attnum = (AttrNumber) lfirst_int(lc);
		Oid			typid;
		int32		typmod;
		Oid			collation;

		get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collation);
		log->cols[i].attnum = attnum;
		log->cols[i].collation = collation;
		get_typlenbyval(typid, &log->cols[i].typlen, &log->cols[i].byval);
		log->cols[i].varlena = (log->cols[i].typlen == -1);
		i++;
	}
	log->nkeys = nkeys;
	log->keypos = palloc(sizeof(int) * nkeys);
	memcpy(log->keypos, keypos, sizeof(int) * nkeys);
	for (int k = 0; k < nkeys; k++)
		log->cols[keypos[k]].is_key = true;
	log->next_change_id = first_change;

	logrelid = get_relname_relid(psprintf("changes_" INT64_FORMAT, batch_id),
								 get_namespace_oid(IR_SCHEMA, false));
	if (!OidIsValid(logrelid))
		elog(ERROR, "change log of batch " INT64_FORMAT " does not exist", batch_id);
	log->logrel = table_open(logrelid, RowExclusiveLock);

	/*
	 * The buffer's slots share one unpinned copy of the descriptor: a
	 * thousand pins of one descriptor would make every other pin in the
	 * backend probe a long collision chain in its resource owner.
	 */
	logdesc = CreateTupleDescCopy(RelationGetDescr(log->logrel));
	for (int s = 0; s < LOG_BUFFER; s++)
		log->slots[s] = MakeSingleTupleTableSlot(logdesc, &TTSOpsHeapTuple);
	log->bufcxt = AllocSetContextCreate(cxt, "import_rollback change log rows",
										ALLOCSET_DEFAULT_SIZES);
	log->bistate = GetBulkInsertState();
	MemoryContextSwitchTo(old);
	active_log = log;
}

/* Write the buffered log rows. */
static void
flush_log(IrLog *log)
{
	if (log->nbuf == 0)
		return;
	log->cid = GetCurrentCommandId(true);
	table_multi_insert(log->logrel, log->slots, log->nbuf, log->cid, 0, log->bistate);
	/* hold no pin between flushes: a flush may run inside a user's subtransaction */
	ReleaseBulkInsertStatePin(log->bistate);
	for (int s = 0; s < log->nbuf; s++)
		ExecClearTuple(log->slots[s]);
	MemoryContextReset(log->bufcxt);
	log->nbuf = 0;
}

/*
 * While the log is active, count per column the records it logs as
 * inserted or updated whose value, as written, is NULL (or '' where
 * textual): guard "blank" (guards.c) then reads these counts instead of
 * joining the whole log to the target after the write (1.0 s for
 * 1,000,000 records, measured; this costs a null test per record).
 * positions are 0-based among the logged columns; counts must outlive
 * ir_log_end.
 */
void
ir_log_count_blanks(int n, const int *positions, const bool *textual, int64 *counts)
{
	IrLog	   *log = active_log;
	MemoryContext old;

	if (log == NULL)
		elog(ERROR, "no change log is active");
	old = MemoryContextSwitchTo(log->cxt);
	log->nblank = n;
	log->blank_pos = palloc(sizeof(int) * Max(n, 1));
	memcpy(log->blank_pos, positions, sizeof(int) * n);
	log->blank_textual = palloc(sizeof(bool) * Max(n, 1));
	memcpy(log->blank_textual, textual, sizeof(bool) * n);
	log->blank_counts = counts;
	memset(counts, 0, sizeof(int64) * n);
	MemoryContextSwitchTo(old);
}

/* Count the blank values of a record the log writes (ir_log_count_blanks). */
static void
count_blanks(IrLog *log, TupleTableSlot *newslot, const AttrNumber *attnums)
{
	for (int j = 0; j < log->nblank; j++)
	{
		int			i = log->blank_pos[j];
		int			a = (attnums ? attnums[i] : log->cols[i].attnum) - 1;

		if (newslot->tts_isnull[a])
			log->blank_counts[j]++;
		else if (log->blank_textual[j])
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(newslot->tts_values[a]);

			/* '' is never stored out of line or compressed */
			if (!VARATT_IS_EXTERNAL(v) && !VARATT_IS_COMPRESSED(v) && VARSIZE_ANY_EXHDR(v) == 0)
				log->blank_counts[j]++;
		}
	}
}

/* Stop logging: write what is buffered and return the counts. */
void
ir_log_end(IrLogCounts *counts)
{
	IrLog	   *log = active_log;

	if (log == NULL)
		elog(ERROR, "no change log is active");
	flush_log(log);
	for (int s = 0; s < LOG_BUFFER; s++)
		ExecDropSingleTupleTableSlot(log->slots[s]);
	FreeBulkInsertState(log->bistate);
	table_close(log->logrel, NoLock);
	*counts = log->counts;
	counts->next_change_id = log->next_change_id;
	forget_active_log();
}

/* The batch being written and the source row being written, for errors. */
bool
ir_log_current(int64 *batch_id, int64 *row_no)
{
	if (active_log == NULL)
		return false;
	*batch_id = active_log->batch_id;
	*row_no = active_log->rows_done ? 0 : active_log->current_row;
	return true;
}

/* ---------------------------------------------------------------------
 * The row trigger
 * ---------------------------------------------------------------------
 */

/* A value to keep in the log: on-disk TOAST pointers cannot move tables. */
static Datum
log_value(LogColumn *col, Datum value)
{
	if (col->varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
		return PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(value)));
	return value;
}

/*
 * Did a write change this column?  Compared as images, not with the type's
 * equality: 1.0 and 1.00 are equal numerics but different values to
 * restore, so both are logged and a rollback puts back the exact bytes.
 */
static bool
values_equal(LogColumn *col, Datum a, Datum b)
{
	return datum_image_eq(a, b, col->byval, col->typlen);
}

/*
 * ir_same(a anyelement, b anyelement) RETURNS boolean
 *
 * Are a and b the same value, bit for bit (both NULL counts as the same)?
 * The comparison the trigger logs writes with, for SQL: a rollback asks
 * whether a field still holds exactly what the batch wrote.
 */
Datum
ir_same(PG_FUNCTION_ARGS)
{
	LogColumn  *col = (LogColumn *) fcinfo->flinfo->fn_extra;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(PG_ARGISNULL(0) && PG_ARGISNULL(1));
	if (col == NULL)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the argument type of ir_same");
		col = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(LogColumn));
		get_typlenbyval(typid, &col->typlen, &col->byval);
		fcinfo->flinfo->fn_extra = col;
	}
	PG_RETURN_BOOL(values_equal(col, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

/*
 * Log one write.  oldslot / newslot are NULL for inserts / deletes.
 * Returns false when an update changed nothing (nothing is logged).
 *
 * Log row: change_id, action, changed, o1..oN, n1..nN (typed like the
 * target's columns).  Inserts keep every new value, deletes every old one,
 * updates the old and new value of each changed column and of the key.
 */
static bool
log_write(IrLog *log, const char *action, TupleTableSlot *oldslot, TupleTableSlot *newslot,
		  const AttrNumber *attnums)
{
	MemoryContext old = MemoryContextSwitchTo(log->bufcxt);
	TupleTableSlot *slot = log->slots[log->nbuf];
	int			n = log->ncols;
	Datum	   *values;
	bool	   *isnull;
	Datum	   *changed = palloc(sizeof(Datum) * Max(n, 1));
	int			nchanged = 0;
	bool		update = (oldslot != NULL && newslot != NULL);

	if (oldslot)
		slot_getallattrs(oldslot);
	if (newslot)
		slot_getallattrs(newslot);

	ExecClearTuple(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	memset(isnull, true, sizeof(bool) * (LOG_FIXED + 2 * n));

	for (int i = 0; i < n; i++)
	{
		LogColumn  *col = &log->cols[i];
		int			a = (attnums ? attnums[i] : col->attnum) - 1;

		if (update)
		{
			bool		o_null = oldslot->tts_isnull[a];
			bool		same = o_null ? newslot->tts_isnull[a] :
				(!newslot->tts_isnull[a] &&
				 values_equal(col, oldslot->tts_values[a], newslot->tts_values[a]));

			if (col->is_key && !same)
				ereport(ERROR,
						(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
						 errmsg("batch " INT64_FORMAT " changed the key of a record of %s",
								log->batch_id, get_rel_name(log->relid)),
						 errdetail("Column \"%s\" changed; the change log finds records by their key, so this write could not be undone.",
								   get_attname(log->relid, col->attnum, false)),
						 errhint("A trigger on the table may rewrite keys during the batch; nothing was written.")));
			if (!col->is_key)
			{
				if (same)
					continue;
				changed[nchanged++] = Int16GetDatum(i + 1);
			}
		}
		if (oldslot && !oldslot->tts_isnull[a])
		{
			values[LOG_FIXED + i] = log_value(col, oldslot->tts_values[a]);
			isnull[LOG_FIXED + i] = false;
		}
		if (newslot && !newslot->tts_isnull[a])
		{
			values[LOG_FIXED + n + i] = log_value(col, newslot->tts_values[a]);
			isnull[LOG_FIXED + n + i] = false;
		}
	}
	if (update && nchanged == 0)
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	if (newslot && log->nblank > 0 && !log->undo)
		count_blanks(log, newslot, attnums);

	values[0] = Int64GetDatum(log->next_change_id++);
	isnull[0] = false;
	values[1] = CStringGetTextDatum(action);
	isnull[1] = false;
	if (update)
	{
		values[2] = PointerGetDatum(construct_array(changed, nchanged, INT2OID,
													2, true, TYPALIGN_SHORT));
		isnull[2] = false;
	}
	ExecStoreVirtualTuple(slot);
	/* the values point into the trigger's tuples: copy them into the slot */
	ExecMaterializeSlot(slot);
	log->nbuf++;
	MemoryContextSwitchTo(old);

	if (log->nbuf == LOG_BUFFER)
		flush_log(log);
	return true;
}

/*
 * Attribute numbers of the logged columns in relid, when relid is a
 * partition of the target (cached per partition); NULL otherwise.  found
 * says whether relid is the target's at all.
 */
static const AttrNumber *
partition_columns(IrLog *log, Oid relid, bool *found)
{
	ListCell   *lc;
	PartitionColumns *pc;
	MemoryContext old;

	foreach(lc, log->partitions)
	{
		pc = lfirst(lc);
		if (pc->relid == relid)
		{
			*found = pc->attnums != NULL;
			return pc->attnums;
		}
	}
	old = MemoryContextSwitchTo(log->cxt);
	pc = palloc0(sizeof(PartitionColumns));
	pc->relid = relid;
	if (list_member_oid(get_partition_ancestors(relid), log->relid))
	{
		pc->attnums = palloc(sizeof(AttrNumber) * Max(log->ncols, 1));
		for (int i = 0; i < log->ncols; i++)
			pc->attnums[i] = get_attnum(relid, get_attname(log->relid, log->cols[i].attnum, false));
	}
	log->partitions = lappend(log->partitions, pc);
	MemoryContextSwitchTo(old);
	*found = pc->attnums != NULL;
	return pc->attnums;
}

/*
 * The AFTER ROW trigger on tracked targets.  Its WHEN condition already
 * filtered out writes made outside a batch; writes to other tables during
 * a batch (cascades, other triggers) are not the batch's and are ignored.
 */
Datum
ir_changelog(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	IrLog	   *log = active_log;
	TriggerEvent ev;
	const AttrNumber *attnums = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ir_changelog must be called as a trigger")));
	ev = td->tg_event;
	if (!TRIGGER_FIRED_AFTER(ev) || !TRIGGER_FIRED_FOR_ROW(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ir_changelog must be an AFTER ... FOR EACH ROW trigger")));
	if (log == NULL)
		return PointerGetDatum(NULL);
	if (RelationGetRelid(td->tg_relation) != log->relid)
	{
		/* a partition of a partitioned target, or another table */
		bool		found;

		attnums = partition_columns(log, RelationGetRelid(td->tg_relation), &found);
		if (!found)
			return PointerGetDatum(NULL);
	}

	log->rows_done = true;
	if (TRIGGER_FIRED_BY_INSERT(ev))
	{
		log_write(log, log->undo ? "undo_delete" : "insert", NULL, td->tg_trigslot, attnums);
		log->counts.inserted++;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
	{
		if (log_write(log, log->undo ? "undo_update" : "update", td->tg_trigslot, td->tg_newslot, attnums))
			log->counts.updated++;
		else
			log->counts.noop_updates++;
	}
	else if (TRIGGER_FIRED_BY_DELETE(ev))
	{
		log_write(log, log->undo ? "undo_insert" : "delete", td->tg_trigslot, NULL, attnums);
		log->counts.deleted++;
	}
	return PointerGetDatum(NULL);
}

/* ir_logging(): the trigger's WHEN condition. */
Datum
ir_logging(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(active_log != NULL);
}

/*
 * ir_note_row(row_no bigint, value anyelement) RETURNS anyelement
 * Passes value through, noting which source row is being written, so an
 * error while writing it can name the row.
 */
Datum
ir_note_row(PG_FUNCTION_ARGS)
{
	if (active_log != NULL && !PG_ARGISNULL(0))
	{
		active_log->current_row = PG_GETARG_INT64(0);
		active_log->rows_done = false;
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* ---------------------------------------------------------------------
 * TRUNCATE detection
 * ---------------------------------------------------------------------
 */

/*
 * ir_truncated(): AFTER TRUNCATE trigger on tracked targets.  Records the
 * time, so a rollback of a batch applied before it refuses to run.
 */
Datum
ir_truncated(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ir_truncated must be an AFTER TRUNCATE trigger")));
	ir_store_note_truncate(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * ir_dropped(): the sql_drop event trigger.  Batches of a dropped target
 * are unbound from its OID (storage.c).
 */
Datum
ir_dropped(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ir_dropped must be called as an event trigger")));
	ir_store_forget_dropped();
	PG_RETURN_VOID();
}
