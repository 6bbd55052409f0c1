/*-------------------------------------------------------------------------
 *
 * target.c
 *	  What makes a table an import target, checked as the caller: a
 *	  permanent plain or partitioned table the caller may write and read
 *	  without row security, not too wide for a change log, with a key that
 *	  a unique index arbitrates (ON CONFLICT); and the equality operators
 *	  that match records by that key.  Also checks a batch's options
 *	  against the place they are given (options.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "compat.h"
#include "errors.h"
#include "options.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"

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
 * Refuse unless relid still has a unique index on exactly the key columns:
 * a rollback finds a batch's records by their key, and without the index
 * one key could be several records since (the batch's and others').
 */
void
ir_require_key_index(Oid relid, int nkeys, char **keys)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Bitmapset  *attnums = NULL;
	StringInfoData list;

	initStringInfo(&list);
	for (int k = 0; k < nkeys; k++)
	{
		attnums = bms_add_member(attnums, get_attnum(relid, keys[k]));
		appendStringInfo(&list, "%s%s", k ? ", " : "", quote_identifier(keys[k]));
	}
	if (!OidIsValid(arbiter_index(rel, attnums, nkeys)))
		ereport(ERROR,
				(errcode(ERRCODE_IR_TARGET_CHANGED),
				 errmsg("table \"%s\" has no unique index on (%s) any more",
						RelationGetRelationName(rel), list.data),
				 errdetail("A rollback finds the batch's records by that key; without the index, "
						   "one key value could be several records."),
				 errhint("Create a unique index or constraint on exactly these columns again, then roll back.")));
	relation_close(rel, NoLock);
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
void
ir_refuse_row_security(Oid relid, const char *what)
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
					 method == IR_LOAD_FILE ? IR_IN_STAGE_FILE :
					 method == IR_LOAD_CLIENT ? IR_IN_STAGE_CLIENT : IR_IN_STAGE_LO, NULL);

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
	ir_refuse_row_security(relid, psprintf("table %s", relname));
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
