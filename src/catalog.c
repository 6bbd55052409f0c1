/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The batch catalog: creating batches, reading and locking them, the
 *	  state machine, the event log, NOTIFY, checks of target tables and of
 *	  batch options, and ir_cancel.
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
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
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

#include "import_rollback.h"

PG_FUNCTION_INFO_V1(ir_cancel);

#define S(st) (1 << (st))

/* ---------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------
 */

/* ---------------------------------------------------------------------
 * Targets
 * ---------------------------------------------------------------------
 */

/* The key columns named by options.key, or NIL when absent. */
static List *
key_from_options(Jsonb *options)
{
	JsonbValue *v = ir_option(options, "key");
	List	   *cols = NIL;

	/* the options were checked when the batch was created */
	if (v != NULL && !ir_json_strings(v, &cols))
		elog(ERROR, "option \"key\" is not an array of strings");
	return cols;
}

/*
 * The unique index that ON CONFLICT can use as the arbiter for exactly the
 * columns in attnums (any order), InvalidOid when there is none.  It must
 * be valid, immediate, without predicate or expressions.
 */
static Oid
arbiter_index(Relation rel, Bitmapset *attnums, int nkeys)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index idx = irel->rd_index;

		if (idx->indisunique && idx->indimmediate && idx->indisvalid &&
			idx->indnkeyatts == nkeys &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indexprs, NULL))
		{
			Bitmapset  *cols = NULL;

			for (int i = 0; i < idx->indnkeyatts; i++)
				cols = bms_add_member(cols, idx->indkey.values[i]);
			if (bms_equal(cols, attnums))
				found = RelationGetRelid(irel);
		}
		index_close(irel, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * The equality operators that match records by key, per key column (in
 * the order of keys): those of the arbiter index's opfamilies, so that
 * every join on the key agrees with ON CONFLICT; each column type's
 * default equality when no such index is left.
 */
void
ir_key_eq_operators(Oid relid, int nkeys, char **keys, Oid *ops)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Bitmapset  *attnums = NULL;
	AttrNumber *attnos = palloc(sizeof(AttrNumber) * Max(nkeys, 1));
	Oid			indexoid;

	for (int k = 0; k < nkeys; k++)
	{
		attnos[k] = get_attnum(relid, keys[k]);
		attnums = bms_add_member(attnums, attnos[k]);
	}
	indexoid = arbiter_index(rel, attnums, nkeys);
	for (int k = 0; k < nkeys; k++)
	{
		ops[k] = InvalidOid;
		if (OidIsValid(indexoid))
		{
			Relation	irel = index_open(indexoid, AccessShareLock);

			for (int i = 0; i < irel->rd_index->indnkeyatts; i++)
				if (irel->rd_index->indkey.values[i] == attnos[k])
					ops[k] = get_opfamily_member(irel->rd_opfamily[i], irel->rd_opcintype[i],
												 irel->rd_opcintype[i], BTEqualStrategyNumber);
			index_close(irel, AccessShareLock);
		}
		if (!OidIsValid(ops[k]))
			ops[k] = ir_type_eq_operator(get_atttype(relid, attnos[k]));
		if (!OidIsValid(ops[k]))
			elog(ERROR, "no equality operator for key column \"%s\"", keys[k]);
	}
	relation_close(rel, NoLock);
}

/*
 * Refuse a caller that the target's row security applies to.  A batch's
 * staged rows, rejects and change log are not filtered by the target's
 * policies, and its validation, apply and rollback must see and restore
 * every record it concerns: none of that can be done for part of a table.
 */
static void
refuse_row_security(Oid relid, const char *what)
{
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", what),
				 errdetail("Row security applies to you on %s; batches are not filtered by its policies, "
						   "and a rollback must restore every record a batch wrote.",
						   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid))),
				 errhint("Import into this table as a role that row security does not apply to "
						 "(its owner, or a role with BYPASSRLS).")));
}

/*
 * The change log keeps an old and a new value of every column of the
 * target (besides three of its own): a table wider than that cannot be
 * an import target, and is refused before a file is staged for it.
 */
static void
check_loggable_width(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;

	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped && !TupleDescAttr(desc, a)->attgenerated)
			n++;
	if (n > IR_MAX_LOGGED_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("table \"%s\" has too many columns to be an import target",
						RelationGetRelationName(rel)),
				 errdetail("It has %d columns; the change log keeps an old and a new value of each, and at most %d fit.",
						   n, IR_MAX_LOGGED_COLUMNS)));
}

/*
 * Check that relid can be an import target for the caller, and resolve its
 * key.  Also checks the shape of the options.  The target stays locked
 * AccessShareLock until the end of the transaction.
 */
void
ir_check_target(Oid relid, Jsonb *options, IrLoadMethod method, IrTarget *target)
{
	Relation	rel;
	char	   *relname;
	List	   *key;
	Bitmapset  *attnums = NULL;
	ListCell   *lc;
	StringInfoData keylist;

	ir_check_options(options,
					 method == IR_LOAD_DATA ? IR_IN_STAGE_DATA :
					 method == IR_LOAD_FILE ? IR_IN_STAGE_FILE : IR_IN_STAGE_CLIENT, NULL);

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relname = RelationGetRelationName(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only plain and partitioned tables can be import targets.")));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a permanent table", relname),
				 errdetail("Temporary and unlogged tables cannot be import targets: "
						   "their rows would not survive a crash or the session, "
						   "but their batches and change log would.")));
	if (IsCatalogRelation(rel) ||
		strcmp(get_namespace_name(RelationGetNamespace(rel)), IR_SCHEMA) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be an import target", relname),
				 errdetail("System catalogs and import_rollback's own tables are never import targets.")));

	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT | ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", relname),
				 errdetail("Staging a file for a table requires INSERT or UPDATE privilege on it.")));
	refuse_row_security(relid, psprintf("table %s", relname));
	check_loggable_width(rel);

	key = key_from_options(options);
	if (key == NIL)
	{
		Oid			pkoid = ir_primary_key_index(rel);
		Relation	irel;

		if (!OidIsValid(pkoid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("table \"%s\" has no primary key", relname),
					 errhint("Name the key columns in the \"key\" option; a unique index "
							 "on exactly those columns must exist.")));
		irel = index_open(pkoid, AccessShareLock);
		for (int i = 0; i < irel->rd_index->indnkeyatts; i++)
		{
			AttrNumber	attno = irel->rd_index->indkey.values[i];

			key = lappend(key, pstrdup(NameStr(TupleDescAttr(RelationGetDescr(rel),
															 attno - 1)->attname)));
		}
		index_close(irel, AccessShareLock);
	}

	initStringInfo(&keylist);
	foreach(lc, key)
	{
		char	   *col = lfirst(lc);
		AttrNumber	attno = get_attnum(relid, col);

		appendStringInfo(&keylist, "%s%s", keylist.len ? ", " : "",
						 quote_identifier(col));

		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of relation \"%s\" does not exist",
							col, relname)));
		if (attno < 0 || TupleDescAttr(RelationGetDescr(rel), attno - 1)->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("column \"%s\" cannot be part of an import key", col),
					 errdetail("System and generated columns are not written by imports.")));
		if (bms_is_member(attno, attnums))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" is named more than once", col)));
		attnums = bms_add_member(attnums, attno);
	}

	if (!OidIsValid(arbiter_index(rel, attnums, list_length(key))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("there is no unique index on table \"%s\" matching the import key",
						relname),
				 errdetail("The key is (%s).", keylist.data),
				 errhint("Create a unique index or constraint on exactly these columns, "
						 "without a WHERE clause; it serves as the ON CONFLICT arbiter.")));

	target->relid = relid;
	target->schema = get_namespace_name(RelationGetNamespace(rel));
	target->table = pstrdup(relname);
	target->key_columns = key;
	relation_close(rel, NoLock);
}

/* ---------------------------------------------------------------------
 * Batches
 * ---------------------------------------------------------------------
 */

/* Queue NOTIFY import_rollback for a transition; sent at commit. */
static void
notify_transition(int64 batch_id, const char *schema, const char *table,
				  const char *from, const char *to)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"batch_id\": " INT64_FORMAT ", \"target\": ", batch_id);
	escape_json(&buf, quote_qualified_identifier(schema, table));
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

/*
 * Create a batch in state "received" and record its first event.  Returns
 * the new batch id.  sha256 may be NULL (not known yet).
 */
int64
ir_batch_create(const IrTarget *target, const char *source_name,
				IrLoadMethod method, Jsonb *options,
				int64 source_bytes, const uint8 *sha256)
{
	int64		batch_id = ir_store_batch_insert(target->schema, target->table, source_name,
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
	Oid			nsp;
	bool		allowed;

	nsp = get_namespace_oid(b->target_schema, true);
	b->target_relid = OidIsValid(nsp) ? get_relname_relid(b->target_table, nsp) : InvalidOid;

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
		refuse_row_security(b->target_relid, psprintf("batch " INT64_FORMAT, batch_id));
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
 * ir_cancel(batch, reason): discard a batch that has not been applied.
 * Its staging rows are kept as evidence.
 */
Datum
ir_cancel(PG_FUNCTION_ARGS)
{
	IrBatch    *batch;
	char	   *reason;

	ir_require_installed_version();

	ir_check_not_null(fcinfo, 0, "batch");
	ir_check_not_null(fcinfo, 1, "reason");
	reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strspn(reason, " \t\r\n") == strlen(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reason is required to cancel a batch"),
				 errhint("Say why the batch is discarded; the reason is kept in its event log.")));

	batch = ir_batch_fetch(PG_GETARG_INT64(0), true, IR_ACCESS_LOAD);
	ir_require_state(batch->batch_id, batch->state, batch->staging_complete, IR_OP_CANCEL);
	if (batch->load_method == IR_LOAD_CLIENT && batch->state == IR_RECEIVED)
		ir_store_close_client(batch->batch_id, batch->started_by);
	ir_batch_transition(batch, IR_CANCELLED, reason);
	PG_RETURN_VOID();
}
