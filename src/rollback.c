/*-------------------------------------------------------------------------
 *
 * rollback.c
 *	  Exact rollback of one applied batch: ir_rollback and
 *	  ir_rollback_preview.
 *
 * From the batch's change log, in one transaction, two set-based statements:
 *	  restore  UPDATE the target FROM the log's "update" entries, setting
 *	           each changed field back to its logged old value
 *	  delete   DELETE FROM the target USING the log's "insert" entries
 * Each field is restored only if its current value still equals what the
 * batch wrote (the type's own equality, on the logged datums), so a
 * concurrent writer is judged on the row version the statement locks; the
 * statements return, per record, what they restored and what conflicted.
 * A difference, a record deleted since, or an edited created record is a
 * conflict.  A conflict is attributed to the most recently applied, not
 * rolled-back later batch on the same target that wrote that field of
 * that record (changed_by_batch), otherwise to an outside write.
 *	  abort  (default) any conflict raises IR001 (ir_rollback_conflict)
 *	         naming the first conflicting records and the batch to roll
 *	         back first, and changes nothing
 *	  skip   restores every field that does not conflict, leaves the rest
 *	  force  restores every field of every record still there
 * Under abort the statements run in a subtransaction that is rolled back
 * when they met a conflict, and the error is built from the untouched
 * state.  The rollback's own writes are logged (undo_insert, undo_update)
 * after the apply's.  Cost follows the batch's log, not the table or
 * history: the log is the batch's own table, joined to the target by key.
 *
 * Refused, rather than restoring wrongly: a logged column dropped,
 * renamed or retyped since the apply (columns are matched by name), a
 * TRUNCATE of the target since the apply, a batch whose apply also
 * deleted records, and foreign keys whose cascading actions would change
 * other tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "tcop/dest.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "changelog.h"
#include "errors.h"
#include "exec.h"
#include "ops.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"

/* Conflicts named in an abort's message. */
#define CONFLICTS_SHOWN 5

/* What the log of an applied batch covers. */
typedef struct LogMeta
{
	int			ncols;
	char	  **names;			/* log_columns */
	char	  **types;			/* log_types, qualified with typmod */
	Oid		   *typids;
	bool	   *settable;		/* not GENERATED ALWAYS AS IDENTITY */
	int			nkeys;
	char	  **keys;			/* key column names */
	int		   *keypos;			/* 1-based positions in names */
	int64		change_count;
	int64		inserted;		/* insert entries of the apply */
	int64		updated;		/* update entries of the apply */
	bool		truncated;		/* target truncated since the apply */
	Oid			relid;			/* the target */
	Oid		   *key_eqop;		/* equality operators matching records by key */
	char	   *log;			/* qualified log table */
	char	   *target;			/* qualified target, for messages */
	char	   *scan;			/* the target to read and write: ONLY for a plain table */
} LogMeta;

/* Read the log's description, and check the target still matches it. */
static LogMeta *
load_meta(IrBatch *batch)
{
	LogMeta    *meta = palloc0(sizeof(LogMeta));
	IrLogInfo	info;
	Relation	rel;

	ir_batch_require_target(batch);
	ir_store_log_info(batch->batch_id, &info);
	meta->names = info.names;
	meta->ncols = info.ncols;
	meta->types = info.types;
	meta->change_count = info.change_count;
	meta->truncated = info.truncated;
	meta->keys = info.keys;
	meta->nkeys = info.nkeys;
	meta->inserted = info.inserted;
	meta->updated = info.updated;

	meta->log = ir_log_table(batch->batch_id);
	meta->target = quote_qualified_identifier(batch->target_schema, batch->target_table);
	meta->typids = palloc(sizeof(Oid) * Max(meta->ncols, 1));
	meta->settable = palloc(sizeof(bool) * Max(meta->ncols, 1));
	meta->keypos = palloc(sizeof(int) * Max(meta->nkeys, 1));

	/* every logged column must still be there, with the same type */
	rel = relation_open(batch->target_relid, AccessShareLock);
	for (int i = 0; i < meta->ncols; i++)
	{
		AttrNumber	attnum = get_attnum(batch->target_relid, meta->names[i]);
		Oid			typid;
		int32		typmod;
		Oid			coll;
		char	   *now;

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_IR_TARGET_CHANGED),
					 errmsg("column \"%s\" of %s was dropped or renamed after batch " INT64_FORMAT " was applied",
							meta->names[i], meta->target, batch->batch_id),
					 errdetail("The batch's change log holds values of that column under that name."),
					 errhint("If it was renamed, rename it back for the rollback; "
							 "otherwise undo the batch's changes by hand using ir_changes().")));
		get_atttypetypmodcoll(batch->target_relid, attnum, &typid, &typmod, &coll);
		now = format_type_extended(typid, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		if (strcmp(now, meta->types[i]) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_IR_TARGET_CHANGED),
					 errmsg("column \"%s\" of %s changed type after batch " INT64_FORMAT " was applied",
							meta->names[i], meta->target, batch->batch_id),
					 errdetail("It was %s and is now %s; logged values may not restore exactly.",
							   meta->types[i], now),
					 errhint("Undo the batch's changes by hand using ir_changes().")));
		meta->typids[i] = typid;
		meta->settable[i] = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attidentity !=
			ATTRIBUTE_IDENTITY_ALWAYS;
	}
	relation_close(rel, NoLock);
	for (int k = 0; k < meta->nkeys; k++)
	{
		meta->keypos[k] = 0;
		for (int i = 0; i < meta->ncols; i++)
			if (strcmp(meta->names[i], meta->keys[k]) == 0)
				meta->keypos[k] = i + 1;
		if (meta->keypos[k] == 0)
			elog(ERROR, "key column \"%s\" is not in the change log", meta->keys[k]);
	}
	ir_require_key_index(batch->target_relid, meta->nkeys, meta->keys);
	meta->key_eqop = palloc(sizeof(Oid) * Max(meta->nkeys, 1));
	ir_key_eq_operators(batch->target_relid, meta->nkeys, meta->keys, meta->key_eqop);
	meta->scan = ir_sql_scan(batch->target_relid);
	meta->relid = batch->target_relid;
	if (meta->truncated)
		ereport(ERROR,
				(errcode(ERRCODE_IR_TARGET_CHANGED),
				 errmsg("%s was truncated after batch " INT64_FORMAT " was applied",
						meta->target, batch->batch_id),
				 errdetail("Records the batch wrote were removed with it; they cannot be restored exactly."),
				 errhint("The batch's changes are listed by ir_changes().")));
	return meta;
}

/*
 * SQL: column pos of t no longer holds the logged value in log column
 * logcol ("n" what the batch wrote, "o" what it overwrote).  Compared as
 * datum images, as the change log compared them when it logged the write:
 * a later write of 1.99 over the batch's 1.990 is a change.
 */
static char *
distinct(LogMeta *meta, int pos, const char *logcol)
{
	return psprintf("(NOT %s)",
					ir_sql_same(psprintf("t.%s", quote_identifier(meta->names[pos - 1])),
								psprintf("l.%s%d", logcol, pos)));
}

/* SQL: current column pos of t differs from the value the batch wrote. */
static char *
differs(LogMeta *meta, int pos)
{
	return distinct(meta, pos, "n");
}

/*
 * SQL: field pos of log entry l conflicts: it holds neither what the batch
 * wrote nor (for an update) what the batch overwrote.  A field a later
 * write set back to its old value is left as it is and is not a conflict:
 * the rollback overwrites nothing there.  The preview, the abort and the
 * counts all use this one test.
 */
static char *
conflicts_sql(LogMeta *meta, int pos)
{
	return psprintf("(%s AND (l.action = 'insert' OR %s))", differs(meta, pos),
					distinct(meta, pos, "o"));
}

static bool
is_key(LogMeta *meta, int pos)
{
	for (int k = 0; k < meta->nkeys; k++)
		if (meta->keypos[k] == pos)
			return true;
	return false;
}

/* SQL: target t is the record of log entry l (insert or update). */
static char *
key_match(LogMeta *meta)
{
	StringInfoData q;

	initStringInfo(&q);
	for (int k = 0; k < meta->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " AND " : "",
						 ir_sql_op(meta->key_eqop[k], psprintf("t.%s", quote_identifier(meta->keys[k])),
								   psprintf("l.n%d", meta->keypos[k])));
	return q.data;
}

/* SQL: column pos was written by log entry l. */
static char *
was_logged(int pos)
{
	return psprintf("(l.action = 'insert' OR %d = ANY (l.changed))", pos);
}

/*
 * SQL: for each apply entry of the log, whether its record is gone and
 * which logged fields conflict (current value differs from the logged new
 * value): columns change_id, action, gone, conflicting int[].
 */
static char *
status_sql(LogMeta *meta)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT l.change_id, l.action, t.ctid IS NULL AS gone,"
						   " array_remove(ARRAY[");
	for (int p = 1; p <= meta->ncols; p++)
		appendStringInfo(&q, "%sCASE WHEN %s AND %s THEN %d END", p > 1 ? ", " : "",
						 was_logged(p), conflicts_sql(meta, p), p);
	appendStringInfo(&q, "]::int[], NULL) AS conflicting"
					 " FROM %s l LEFT JOIN %s t ON %s"
					 " WHERE l.action IN ('insert', 'update')",
					 meta->log, meta->scan, key_match(meta));
	return q.data;
}

/* 1-based position of column name among names, 0 when absent. */
static int
position_of(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i + 1;
	return 0;
}

/* Does the later batch find records by the same key columns as this one? */
static bool
same_key(LogMeta *meta, IrLaterBatch *lb)
{
	if (lb->nkeys != meta->nkeys)
		return false;
	for (int k = 0; k < lb->nkeys; k++)
		if (position_of(meta->keys, meta->nkeys, lb->keys[k]) == 0)
			return false;
	return true;
}

/*
 * SQL: every write those later batches made, per record and column:
 * (batch_id, seq, k1..kM, column_name), seq ordering them by apply time
 * and k the record's key in this batch's key columns.  A later batch with
 * other key columns is mapped onto this batch's key through the record it
 * wrote, found again by its own key (its unique index); its writes to
 * records deleted since cannot be mapped and are not attributed.  NULL
 * when there are no later batches.
 */
static char *
later_writes_sql(LogMeta *meta, List *later)
{
	StringInfoData q;
	ListCell   *lc;
	int			seq = 0;

	if (later == NIL)
		return NULL;
	initStringInfo(&q);
	foreach(lc, later)
	{
		IrLaterBatch *lb = lfirst(lc);
		StringInfoData cols;
		StringInfoData join;
		bool		same = same_key(meta, lb);

		initStringInfo(&cols);
		initStringInfo(&join);
		for (int i = 0; i < lb->ncols; i++)
			appendStringInfo(&cols, "%s(%d, %s)", i ? ", " : "", i + 1,
							 quote_literal_cstr(lb->names[i]));
		appendStringInfo(&q, "%sSELECT " INT64_FORMAT "::bigint AS batch_id, %d AS seq",
						 seq ? " UNION ALL " : "", lb->batch_id, seq);
		for (int k = 0; k < meta->nkeys; k++)
		{
			if (same)
				appendStringInfo(&q, ", w.n%d AS k%d",
								 position_of(lb->names, lb->ncols, meta->keys[k]), k + 1);
			else
				appendStringInfo(&q, ", w2.%s AS k%d", quote_identifier(meta->keys[k]), k + 1);
		}
		if (!same)
		{
			Oid		   *ops = palloc(sizeof(Oid) * Max(lb->nkeys, 1));

			ir_key_eq_operators(meta->relid, lb->nkeys, lb->keys, ops);
			appendStringInfo(&join, " JOIN %s w2 ON ", meta->scan);
			for (int k = 0; k < lb->nkeys; k++)
				appendStringInfo(&join, "%s%s", k ? " AND " : "",
								 ir_sql_op(ops[k], psprintf("w2.%s", quote_identifier(lb->keys[k])),
										   psprintf("w.n%d", position_of(lb->names, lb->ncols, lb->keys[k]))));
		}
		appendStringInfo(&q, ", c.name AS column_name"
						 " FROM %s w%s"
						 " JOIN (VALUES %s) AS c(pos, name)"
						 "   ON w.action = 'insert' OR c.pos = ANY (w.changed)"
						 " WHERE w.action IN ('insert', 'update')",
						 ir_log_table(lb->batch_id), join.data, cols.data);
		seq++;
	}
	return q.data;
}

/*
 * SQL: later write (alias) is to the record of log entry l.  indexed: l's
 * key as the log's index has it (coalesce(n, o), the same value for the
 * inserts and updates compared here), for a probe of that index per later
 * write where only the first match is wanted.
 */
static char *
later_match(LogMeta *meta, const char *alias, bool indexed)
{
	StringInfoData q;

	initStringInfo(&q);
	for (int k = 0; k < meta->nkeys; k++)
		appendStringInfo(&q, " AND %s",
						 ir_sql_op(meta->key_eqop[k], psprintf("%s.k%d", alias, k + 1),
								   indexed ? psprintf("coalesce(l.n%d, l.o%d)", meta->keypos[k],
													  meta->keypos[k]) :
								   psprintf("l.n%d", meta->keypos[k])));
	return q.data;
}

/*
 * Lend the caller the log tables of later batches, for attribution: they
 * are this target's own batches, and the caller may read the target.
 * Returned in opening order; closed in reverse.
 */
static IrLend *
lend_logs(const IrBatch *batch, List *later)
{
	IrLend *acc = palloc(sizeof(IrLend) * Max(list_length(later), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, later)
		ir_lend_log(&acc[i++], ((IrLaterBatch *) lfirst(lc))->batch_id);
	return acc;
}

static void
return_logs(List *later, IrLend *acc)
{
	for (int i = list_length(later) - 1; i >= 0; i--)
		ir_lend_end(&acc[i]);
}

/* SQL: the key of log entry l as "(v1, v2)" text. */
static char *
key_text(LogMeta *meta)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "'(' || ");
	for (int k = 0; k < meta->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " || ', ' || " : "",
						 ir_sql_text(psprintf("l.n%d", meta->keypos[k])));
	appendStringInfoString(&q, " || ')'");
	return q.data;
}

/*
 * Raise the abort error for the first conflicts: which records, which
 * fields, and the later batch that wrote them.
 */
static void
raise_conflicts(IrBatch *batch, LogMeta *meta, int64 nconflicts, List *laterb)
{
	StringInfoData q;
	StringInfoData detail;
	char	   *later = later_writes_sql(meta, laterb);
	Datum		names;
	Datum	   *elems = palloc(sizeof(Datum) * meta->ncols);
	Oid			argtypes[1] = {TEXTARRAYOID};
	int64		first_later = 0;

	for (int i = 0; i < meta->ncols; i++)
		elems[i] = CStringGetTextDatum(meta->names[i]);
	names = PointerGetDatum(construct_array(elems, meta->ncols, TEXTOID, -1, false, TYPALIGN_INT));

	/* attribution reads the later batches' logs: lend them (the error ends it all) */
	(void) lend_logs(batch, laterb);

	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT %s AS key, s.gone,"
					 " CASE WHEN s.gone THEN NULL ELSE"
					 "  (SELECT string_agg(($1::text[])[c], ', ' ORDER BY c) FROM unnest(s.conflicting) c) END,"
					 " %s"
					 " FROM (%s) s JOIN %s l ON l.change_id = s.change_id"
					 " WHERE s.gone OR cardinality(s.conflicting) > 0"
					 " ORDER BY s.change_id LIMIT %d",
					 key_text(meta),
					 later ? psprintf("(SELECT lw.batch_id FROM (%s) lw"
									  " WHERE (s.gone OR lw.column_name = ANY"
									  "        (ARRAY(SELECT ($1::text[])[c] FROM unnest(s.conflicting) c)))%s"
									  " ORDER BY lw.seq DESC LIMIT 1)", later, later_match(meta, "lw", false))
					 : "NULL::bigint",
					 status_sql(meta), meta->log, CONFLICTS_SHOWN);
	ir_spi_exec(q.data, 1, argtypes, &names, NULL, SPI_OK_SELECT, NULL);

	initStringInfo(&detail);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		gone;
		bool		isnull;
		int64		by;

		gone = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		by = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		if (isnull)
			by = 0;
		else if (first_later == 0)
			first_later = by;
		appendStringInfo(&detail, "%s%s %s", i ? "; " : "", SPI_getvalue(tup, desc, 1),
						 gone ? "was deleted" : psprintf("has changed %s", SPI_getvalue(tup, desc, 3)));
		if (by)
			appendStringInfo(&detail, " (by batch " INT64_FORMAT ")", by);
		else
			appendStringInfoString(&detail, " (outside any batch)");
	}
	ereport(ERROR,
			(errcode(ERRCODE_IR_ROLLBACK_CONFLICT),
			 errmsg_plural("cannot roll back batch " INT64_FORMAT ": " INT64_FORMAT " record changed since it was applied",
						   "cannot roll back batch " INT64_FORMAT ": " INT64_FORMAT " records changed since it was applied",
						   nconflicts, batch->batch_id, nconflicts),
			 errdetail("Key %s%s.", detail.data,
					   nconflicts > CONFLICTS_SHOWN ? "; and more" : ""),
			 first_later ?
			 errhint("Roll back batch " INT64_FORMAT " first, or see ir_rollback_preview(" INT64_FORMAT ") "
					 "and choose on_conflict \"skip\" or \"force\".", first_later, batch->batch_id) :
			 errhint("See ir_rollback_preview(" INT64_FORMAT ") and choose on_conflict \"skip\" or \"force\".",
					 batch->batch_id)));
}

/*
 * Refuse when foreign keys referencing the target have cascading actions
 * that the rollback's deletes or restores would set off.
 *
 * For each such key: the referenced values of the records concerned are
 * read as the caller (who reads the target and the lent log), then
 * looked up in the referencing table as its owner, with the key's own
 * equality operators, as PostgreSQL's foreign-key triggers do: the
 * caller needs no privilege on a table it does not write, as for a plain
 * DELETE with the same cascade.
 */
static void
check_cascades(IrBatch *batch, LogMeta *meta)
{
	ListCell   *lc;

	foreach(lc, ir_store_cascading_keys(batch->target_relid))
	{
		IrCascadeKey *key = lfirst(lc);
		StringInfoData cond;
		StringInfoData q;
		Oid		   *argtypes;
		Datum	   *values;
		char	   *nulls;
		bool		isnull;

		initStringInfo(&cond);
		if (strchr("cnd", key->on_delete))
			appendStringInfoString(&cond, "l.action = 'insert'");
		if (strchr("cnd", key->on_update))
		{
			/* restores of the referenced columns */
			for (int p = 1; p <= meta->ncols; p++)
			{
				bool		referenced = false;

				for (int c = 0; c < key->ncols; c++)
					referenced |= (strcmp(key->target_cols[c], meta->names[p - 1]) == 0);
				if (referenced)
					appendStringInfo(&cond, "%s(l.action = 'update' AND %d = ANY (l.changed))",
									 cond.len ? " OR " : "", p);
			}
		}
		if (cond.len == 0)
			continue;

		/* the referenced values of the records concerned, as the caller */
		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT ");
		for (int c = 0; c < key->ncols; c++)
			appendStringInfo(&q, "%spg_catalog.array_agg(t.%s)", c ? ", " : "",
							 quote_identifier(key->target_cols[c]));
		appendStringInfo(&q, " FROM %s l JOIN %s t ON %s WHERE %s",
						 meta->log, meta->scan, key_match(meta), cond.data);
		ir_spi_exec(q.data, 0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			continue;			/* no such record left */
		argtypes = palloc(sizeof(Oid) * key->ncols);
		values = palloc(sizeof(Datum) * key->ncols);
		nulls = palloc(key->ncols);
		for (int c = 0; c < key->ncols; c++)
		{
			argtypes[c] = SPI_gettypeid(SPI_tuptable->tupdesc, c + 1);
			values[c] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1, &isnull);
			nulls[c] = isnull ? 'n' : ' ';
		}

		/* are any of them referenced?  As the referencing table's owner */
		if (ir_store_key_referenced(key, argtypes, values, nulls))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("rolling back batch " INT64_FORMAT " would cascade to table %s",
							batch->batch_id, key->referencing),
					 errdetail("Records the batch wrote are referenced through foreign key \"%s\", "
							   "whose ON DELETE or ON UPDATE action would change rows of %s that no batch wrote.",
							   key->name, key->referencing),
					 errhint("Remove or repoint those references first, then roll back.")));
	}
}

/*
 * The two write statements, as the caller.  Returns the records deleted
 * and the conflicting records: those with a field left as it is, deleted
 * since, or (created ones) edited since; the caller takes the records
 * restored from the change log.  Under force every present record is
 * written, and conflicts are counted beforehand.
 */
static void
write_rollback(LogMeta *meta, bool force, IrRollbackResult *res)
{
	StringInfoData sets;
	StringInfoData left;
	StringInfoData any_differs;
	bool		isnull;
	int64		present = 0;
	int64		conflicted = 0;

	/* restore updated fields, each only if the batch's value is still there */
	initStringInfo(&sets);
	initStringInfo(&left);
	for (int p = 1; p <= meta->ncols; p++)
	{
		const char *col = quote_identifier(meta->names[p - 1]);
		char	   *ok = force ? psprintf("%d = ANY (l.changed)", p) :
			psprintf("%d = ANY (l.changed) AND NOT %s", p, differs(meta, p));

		if (is_key(meta, p) || !meta->settable[p - 1])
			continue;
		appendStringInfo(&sets, "%s%s = CASE WHEN %s THEN l.o%d ELSE t.%s END",
						 sets.len ? ", " : "", col, ok, p, col);
		/* after the write: a changed field not holding its old value was left */
		appendStringInfo(&left, "%s(%d = ANY (l.changed) AND %s)",
						 left.len ? " OR " : "", p, distinct(meta, p, "o"));
	}
	if (meta->updated > 0 && sets.len > 0)
	{
		ir_spi_exec(psprintf("WITH u AS (UPDATE %s AS t SET %s FROM %s l"
							 "   WHERE l.action = 'update' AND %s"
							 "   RETURNING (%s) AS left_alone)"
							 " SELECT count(*), count(*) FILTER (WHERE left_alone) FROM u",
							 meta->scan, sets.data, meta->log, key_match(meta), left.data),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		present = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		conflicted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	/* update entries whose record is gone conflict too */
	conflicted += meta->updated - present;

	/* delete created records, unless edited since */
	initStringInfo(&any_differs);
	for (int p = 1; p <= meta->ncols; p++)
		appendStringInfo(&any_differs, "%s%s", p > 1 ? " OR " : "", differs(meta, p));
	res->deleted = 0;
	if (meta->inserted > 0)
	{
		ir_spi_exec(psprintf("DELETE FROM %s AS t USING %s l WHERE l.action = 'insert' AND %s%s",
							 meta->scan, meta->log, key_match(meta),
							 force ? "" : psprintf(" AND NOT (%s)", any_differs.data)),
					0, NULL, NULL, NULL, SPI_OK_DELETE, NULL);
		res->deleted = (int64) SPI_processed;
	}
	conflicted += meta->inserted - res->deleted;
	if (!force)
		res->conflicts = conflicted;
}

/*
 * Did a later batch (on the same target) write a field this applied batch
 * wrote: a column of a record it updated, or anything of a record it
 * created?  Set-based over the two logs, joined by key; the first match
 * ends it, so each later write probes this log's key index (a join of the
 * two whole logs took 0.4 s for 1,000,000 and 500,000 records, measured,
 * where the first probe answers in a millisecond).
 */
bool
ir_rollback_overlaps(IrBatch *batch, IrLaterBatch *lb)
{
	LogMeta    *meta = load_meta(batch);
	IrLend		acc;
	IrLend	   *lent;
	List	   *later = list_make1(lb);
	StringInfoData names;
	bool		isnull;
	bool		found;

	initStringInfo(&names);
	for (int i = 0; i < meta->ncols; i++)
		appendStringInfo(&names, "%s%s", i ? ", " : "", quote_literal_cstr(meta->names[i]));
	ir_lend_log(&acc, batch->batch_id);
	lent = lend_logs(batch, later);
	SPI_connect();
	ir_spi_exec(psprintf("SELECT EXISTS (SELECT 1 FROM %s l JOIN (%s) w ON true%s"
						 " WHERE l.action IN ('insert', 'update') AND (l.action = 'insert'"
						 "  OR pg_catalog.array_position(ARRAY[%s]::text[], w.column_name::text)"
						 "     = ANY (l.changed)))",
						 meta->log, later_writes_sql(meta, later), later_match(meta, "w", true), names.data),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return_logs(later, lent);
	ir_lend_end(&acc);
	return found;
}

/*
 * Roll back a locked, applied batch under policy.  Fills res; the batch
 * ends "rolled_back".
 */
void
ir_rollback_batch(IrBatch *batch, IrOnConflict policy, IrRollbackResult *res)
{
	LogMeta    *meta;
	IrLend acc;
	IrLogCounts counts;
	List	   *columns = NIL;
	int		   *keypos;
	bool		isnull;
	bool		force = (policy == IR_ON_CONFLICT_FORCE);
	bool		again = batch->state == IR_ROLLED_BACK;	/* force after skip */
	List	   *later;


	ir_lock_target_writes(batch->target_relid);
	meta = load_meta(batch);
	ir_store_track_target(batch->target_relid);

	later = ir_store_later_batches(batch->batch_id);
	ir_lend_log(&acc, batch->batch_id);
	SPI_connect();

	/* every apply write the log counts as neither insert nor update is a delete */
	if (batch->state == IR_APPLIED && meta->change_count > meta->inserted + meta->updated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("batch " INT64_FORMAT " also deleted records while it was applied", batch->batch_id),
				 errdetail("A trigger on %s deleted records during the apply; rollback does not re-create records.",
						   meta->target),
				 errhint("Undo the batch's changes by hand using ir_changes().")));
	check_cascades(batch, meta);

	/* log the rollback's writes after the apply's */
	for (int i = 0; i < meta->ncols; i++)
		columns = lappend_int(columns, get_attnum(batch->target_relid, meta->names[i]));
	keypos = palloc(sizeof(int) * meta->nkeys);
	for (int k = 0; k < meta->nkeys; k++)
		keypos[k] = meta->keypos[k] - 1;
	ir_log_begin(batch->batch_id, batch->target_relid, true, columns, meta->nkeys, keypos,
				 meta->change_count + 1);
	res->batch_id = batch->batch_id;

	if (force)
	{
		/*
		 * force overwrites conflicts, so count them first; after a "skip"
		 * rollback, only the records it left (its deletes are not gone
		 * records, its restored fields no longer conflict)
		 */
		ir_spi_exec(psprintf("SELECT count(*) FROM (%s) s WHERE %s", status_sql(meta),
							 again ? "NOT s.gone AND cardinality(s.conflicting) > 0" :
							 "s.gone OR cardinality(s.conflicting) > 0"),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		res->conflicts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		write_rollback(meta, true, res);
	}
	else if (policy == IR_ON_CONFLICT_SKIP)
		write_rollback(meta, false, res);
	else
	{
		/* abort: write in a subtransaction, undone if anything conflicted */
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			write_rollback(meta, false, res);
		}
		PG_CATCH();
		{
			ReThrowError(ir_abort_subxact(oldcxt, oldowner));
		}
		PG_END_TRY();
		if (res->conflicts > 0)
		{
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			raise_conflicts(batch, meta, res->conflicts, later);
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}

	SPI_finish();
	ir_log_end(&counts);
	ir_lend_end(&acc);
	/* restored: the records whose writes the change log saw change a field */
	res->restored = counts.updated;

	ir_store_rollback_result(batch->batch_id, counts.next_change_id - 1,
							 policy == IR_ON_CONFLICT_SKIP ? res->conflicts : 0);
	if (again)
	{
		ir_batch_note(batch, psprintf("force after skip: " INT64_FORMAT " record%s restored over later writes",
									  res->conflicts, res->conflicts == 1 ? "" : "s"));
		return;
	}
	ir_batch_transition(batch, IR_ROLLED_BACK,
						res->conflicts > 0 ?
						psprintf(INT64_FORMAT " conflicting record%s, on_conflict %s",
								 res->conflicts, res->conflicts == 1 ? "" : "s",
								 force ? "force" : "skip") : NULL);
}


/*
 * The preview's rows are made in C from one row per logged record: the
 * executor hands each record (its change id, key as jsonb, action, whether
 * it is gone, which columns the apply changed, the later batches that
 * wrote it, then each logged column's new value, current value and old
 * value) to this receiver, which puts one row per field the apply wrote
 * into the result: only those are converted to text (the types' output
 * functions), and no per-field row ever goes through the executor.
 *
 * Rows come in the log's order.  The log is written once, in change id
 * order, and never updated, so a plain scan of it (block by block, no
 * synchronized scan) joined by nested loop, which keeps the outer order,
 * already delivers that order without sorting a million wide rows.  The
 * receiver checks it; should the log have been rewritten in another order
 * (CLUSTER), it stops, and the query runs again with ORDER BY.
 */
#define PV_CHANGE_ID 0
#define PV_ACTION 1
#define PV_GONE 2
#define PV_CHANGED 3
#define PV_LATER 4
#define PV_FIELDS 5				/* then n, t, o of each logged column */

static const char *const preview_statuses[3] = {"restorable", "conflict", "gone"};

typedef struct PreviewReceiver
{
	DestReceiver pub;
	LogMeta    *meta;
	const char *status;			/* only fields with this status, or NULL */
	bool		rolled_back;	/* after a "skip" rollback: only what it left */
	Tuplestorestate *ts;
	TupleDesc	desc;
	FmgrInfo   *out;			/* each logged column's output function */
	bool	   *as_text;		/* a text column: its value is its text */
	int16	   *typlen;
	bool	   *typbyval;
	Datum	   *names;			/* each logged column's name, as text */
	Datum	   *key_text;		/* per record: the key columns' texts, else 0 */
	Datum		statuses[3];	/* "restorable", "conflict", "gone" */
	MemoryContext rowcxt;		/* reset per record */
	int64		last_change_id;
	bool		out_of_order;	/* a record came before one it follows */
} PreviewReceiver;

/* Are a and b the same datum, bit for bit (NULL = NULL)?  As ir_same(). */
static bool
same_datum(PreviewReceiver *r, int i, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return datum_image_eq(a, b, r->typbyval[i], r->typlen[i]);
}

/* changed_by_batch: the newest later batch that wrote column name, or NULL. */
static bool
later_batch(Datum later, bool isnull, const char *name, int64 *batch_id)
{
	Jsonb	   *jb;
	JsonbValue *v;

	if (isnull)
		return false;
	jb = DatumGetJsonbP(later);
	v = getKeyJsonValueFromContainer(&jb->root, name, strlen(name), NULL);
	if (v == NULL || v->type != jbvNumeric)
		return false;
	*batch_id = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	return true;
}

/* Logged column i's value as its text (NULL stays NULL). */
static Datum
field_text(PreviewReceiver *r, int i, Datum value)
{
	if (r->as_text[i])
		return PointerGetDatum(pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value)));
	return CStringGetTextDatum(OutputFunctionCall(&r->out[i], value));
}

/*
 * record_key: the record's key columns and their new values, as jsonb;
 * each key column's text is left in key_text[column] for its field.
 */
static Datum
record_key(PreviewReceiver *r, TupleTableSlot *slot, Datum *key_text)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < r->meta->nkeys; k++)
	{
		int			i = r->meta->keypos[k] - 1;
		int			at = PV_FIELDS + 3 * i;
		JsonbValue	v;

		v.type = jbvString;
		v.val.string.val = r->meta->keys[k];
		v.val.string.len = strlen(r->meta->keys[k]);
		(void) pushJsonbValue(&state, WJB_KEY, &v);
		if (slot->tts_isnull[at])
			v.type = jbvNull;
		else
		{
			text	   *t;

			key_text[i] = field_text(r, i, slot->tts_values[at]);
			t = DatumGetTextPP(key_text[i]);
			v.val.string.val = VARDATA_ANY(t);
			v.val.string.len = VARSIZE_ANY_EXHDR(t);
		}
		(void) pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

static bool
preview_receive(TupleTableSlot *slot, DestReceiver *self)
{
	PreviewReceiver *r = (PreviewReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(r->rowcxt);
	bool		insert;
	bool		gone;
	int16	   *changed = NULL;
	int			nchanged = 0;
	text	   *action;
	Datum		key;
	Datum	   *key_text = r->key_text;

	slot_getallattrs(slot);
	if (DatumGetInt64(slot->tts_values[PV_CHANGE_ID]) < r->last_change_id)
	{
		r->out_of_order = true;
		MemoryContextSwitchTo(old);
		return false;			/* stops the executor */
	}
	r->last_change_id = DatumGetInt64(slot->tts_values[PV_CHANGE_ID]);
	action = DatumGetTextPP(slot->tts_values[PV_ACTION]);
	insert = VARSIZE_ANY_EXHDR(action) == 6 && memcmp(VARDATA_ANY(action), "insert", 6) == 0;
	memset(key_text, 0, sizeof(Datum) * r->meta->ncols);
	key = record_key(r, slot, key_text);
	gone = DatumGetBool(slot->tts_values[PV_GONE]);
	if (!insert && !slot->tts_isnull[PV_CHANGED])
	{
		ArrayType  *arr = DatumGetArrayTypeP(slot->tts_values[PV_CHANGED]);

		changed = (int16 *) ARR_DATA_PTR(arr);
		nchanged = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	}
	for (int i = 0; i < r->meta->ncols; i++)
	{
		int			at = PV_FIELDS + 3 * i;
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};
		bool		differs;
		bool		unchanged;	/* the current value is the batch's, bit for bit */
		int			status;
		int64		by;

		if (!insert)
		{
			bool		wrote = false;	/* an update shows the columns it changed */

			for (int c = 0; c < nchanged && !wrote; c++)
				wrote = changed[c] == i + 1;
			if (!wrote)
				continue;
		}
		/* the conflict test of conflicts_sql(), on the datums */
		unchanged = same_datum(r, i, slot->tts_values[at + 1], slot->tts_isnull[at + 1],
							   slot->tts_values[at], slot->tts_isnull[at]);
		differs = !unchanged &&
			(insert || !same_datum(r, i, slot->tts_values[at + 1], slot->tts_isnull[at + 1],
								   slot->tts_values[at + 2], slot->tts_isnull[at + 2]));
		/* rolled back: the fields it restored and the records it deleted are done */
		if (r->rolled_back &&
			(insert ? gone : (!gone && same_datum(r, i, slot->tts_values[at + 1], slot->tts_isnull[at + 1],
												  slot->tts_values[at + 2], slot->tts_isnull[at + 2]))))
			continue;
		status = gone ? 2 : differs ? 1 : 0;
		if (r->status && strcmp(preview_statuses[status], r->status) != 0)
			continue;
		values[0] = key;
		values[1] = slot->tts_values[PV_ACTION];
		values[2] = r->statuses[status];
		values[3] = r->names[i];
		if (slot->tts_isnull[at])
			nulls[4] = true;
		else
			values[4] = key_text[i] ? key_text[i] : field_text(r, i, slot->tts_values[at]);
		if (gone || slot->tts_isnull[at + 1])
			nulls[5] = true;
		else if (unchanged)
			values[5] = values[4];	/* the same datum: one output call, not two */
		else
			values[5] = field_text(r, i, slot->tts_values[at + 1]);
		if ((gone || differs) &&
			later_batch(slot->tts_values[PV_LATER], slot->tts_isnull[PV_LATER], r->meta->names[i], &by))
			values[6] = Int64GetDatum(by);
		else
			nulls[6] = true;
		tuplestore_putvalues(r->ts, r->desc, values, nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	return true;
}

static void
preview_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	PreviewReceiver *r = (PreviewReceiver *) self;

	if (typeinfo->natts != PV_FIELDS + 3 * r->meta->ncols)
		elog(ERROR, "rollback preview query returned %d columns, expected %d",
			 typeinfo->natts, PV_FIELDS + 3 * r->meta->ncols);
}

static void
preview_shutdown(DestReceiver *self)
{
}

static void
preview_destroy(DestReceiver *self)
{
}

/*
 * ir_rollback_preview: into ts, one row per logged field of an applied
 * batch's apply (record_key, action, status, column_name, batch_value,
 * current_value, changed_by_batch): restorable, conflict, or gone, with
 * the later batch that changed it; with status, only the fields with it.
 * In the order of the log, field by field.
 */
void
ir_rollback_preview_batch(IrBatch *batch, const char *status, Tuplestorestate *ts,
						  TupleDesc desc)
{
	LogMeta    *meta;
	IrLend		acc;
	StringInfoData q;
	StringInfoData fields;
	char	   *later;
	List	   *laterb;
	IrLend	   *lent;
	PreviewReceiver r;

	meta = load_meta(batch);

	initStringInfo(&fields);
	for (int p = 1; p <= meta->ncols; p++)
		appendStringInfo(&fields, ", l.n%d, t.%s, l.o%d", p,
						 quote_identifier(meta->names[p - 1]), p);
	laterb = ir_store_later_batches(batch->batch_id);
	ir_lend_log(&acc, batch->batch_id);
	lent = lend_logs(batch, laterb);
	SPI_connect();
	later = later_writes_sql(meta, laterb);
	if (later)
	{
		StringInfoData grp;
		StringInfoData part;

		/* per record, the newest later batch of each column it wrote */
		initStringInfo(&grp);
		initStringInfo(&part);
		for (int k = 0; k < meta->nkeys; k++)
		{
			appendStringInfo(&grp, "%sg.k%d", k ? ", " : "", k + 1);
			appendStringInfo(&part, "lw.k%d, ", k + 1);
		}
		later = psprintf(" LEFT JOIN (SELECT %s, pg_catalog.jsonb_object_agg(g.column_name, g.batch_id) AS by"
						 "   FROM (SELECT lw.*, pg_catalog.row_number() OVER"
						 "          (PARTITION BY %slw.column_name ORDER BY lw.seq DESC) AS newest"
						 "         FROM (%s) lw) g"
						 "  WHERE g.newest = 1 GROUP BY %s) a ON true%s",
						 grp.data, part.data, later, grp.data, later_match(meta, "a", false));
	}
	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT l.change_id, l.action,"
					 " t.ctid IS NULL, l.changed, %s%s"
					 " FROM %s l LEFT JOIN %s t ON %s%s"
					 " WHERE l.action IN ('insert', 'update')",
					 later ? "a.by" : "NULL::jsonb", fields.data,
					 meta->log, meta->scan, key_match(meta), later ? later : "");

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = preview_receive;
	r.pub.rStartup = preview_startup;
	r.pub.rShutdown = preview_shutdown;
	r.pub.rDestroy = preview_destroy;
	r.pub.mydest = DestNone;
	r.meta = meta;
	r.status = status;
	r.rolled_back = batch->state == IR_ROLLED_BACK;
	r.ts = ts;
	r.desc = desc;
	r.out = palloc(sizeof(FmgrInfo) * Max(meta->ncols, 1));
	r.as_text = palloc(sizeof(bool) * Max(meta->ncols, 1));
	r.typlen = palloc(sizeof(int16) * Max(meta->ncols, 1));
	r.typbyval = palloc(sizeof(bool) * Max(meta->ncols, 1));
	r.names = palloc(sizeof(Datum) * Max(meta->ncols, 1));
	r.key_text = palloc(sizeof(Datum) * Max(meta->ncols, 1));
	for (int i = 0; i < meta->ncols; i++)
	{
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(meta->typids[i], &outfn, &varlena);
		fmgr_info(outfn, &r.out[i]);
		r.as_text[i] = meta->typids[i] == TEXTOID;
		get_typlenbyval(meta->typids[i], &r.typlen[i], &r.typbyval[i]);
		r.names[i] = CStringGetTextDatum(meta->names[i]);
	}
	for (int i = 0; i < 3; i++)
		r.statuses[i] = CStringGetTextDatum(preview_statuses[i]);
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "rollback preview record",
									 ALLOCSET_DEFAULT_SIZES);
	{
		int			guard = ir_guard_begin();

		/* the log's own order, kept through the join (see above) */
		ir_guard_set("synchronize_seqscans", "off");
		ir_guard_set("enable_hashjoin", "off");
		ir_guard_set("enable_mergejoin", "off");
		ir_spi_run_into(q.data, 0, NULL, NULL, &r.pub);
		ir_guard_end(guard);
	}
	if (r.out_of_order)
	{
		tuplestore_clear(ts);
		r.last_change_id = 0;
		r.out_of_order = false;
		appendStringInfoString(&q, " ORDER BY l.change_id");
		ir_spi_run_into(q.data, 0, NULL, NULL, &r.pub);
	}
	MemoryContextDelete(r.rowcxt);
	SPI_finish();
	return_logs(laterb, lent);
	ir_lend_end(&acc);
}
