/*-------------------------------------------------------------------------
 *
 * mapping.c
 *	  How a batch's file columns map onto its target: resolving the
 *	  mapping (explicit, or same-name case-insensitively) and the SQL
 *	  fragments over mapped columns: each column's typed expression (an
 *	  ir_cast() call, see convert.c), "differs" and key matches.
 *
 * Operations that read the target (validation, review, apply) run their
 * SQL as the caller, so its privileges and row security apply; the read
 * access to the staging table they need is lent by storage.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_attribute.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "mapping.h"
#include "options.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"

static int
find_source(IrMapping *m, const char *key)
{
	for (int i = 0; i < m->nsource; i++)
		if (strcmp(m->source_keys[i], key) == 0)
			return i + 1;
	return 0;
}

/* Fill in a mapped column from the target's attribute. */
static void
set_column(IrMapping *m, IrColumn *c, Form_pg_attribute att, int src)
{
	c->src = src;
	c->src_key = m->source_keys[src - 1];
	c->attnum = att->attnum;
	c->name = pstrdup(NameStr(att->attname));
	c->typid = att->atttypid;
	c->typmod = att->atttypmod;
	c->notnull = att->attnotnull;
	c->sqltype = format_type_extended(att->atttypid, att->atttypmod,
									  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	/* plain text needs no check; everything else goes through its input */
	c->checked = !(att->atttypid == TEXTOID ||
				   (att->atttypid == VARCHAROID && att->atttypmod < 0));
}

static void
check_writable(Relation rel, Form_pg_attribute att)
{
	if (att->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of \"%s\" is a generated column and cannot be imported",
						NameStr(att->attname), RelationGetRelationName(rel))));
	if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of \"%s\" is GENERATED ALWAYS AS IDENTITY and cannot be imported",
						NameStr(att->attname), RelationGetRelationName(rel)),
				 errhint("Leave it out of the mapping; it is assigned on insert.")));
}

/* The explicit "mapping" option: file column -> target column. */
static void
map_explicit(IrMapping *m, Relation rel, JsonbValue *mapping)
{
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbIterator *it = JsonbIteratorInit(mapping->val.binary.data);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *colname;
		AttrNumber	attnum;
		int			src;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		colname = pnstrdup(v.val.string.val, v.val.string.len);
		src = find_source(m, key);
		if (src == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("mapping names column \"%s\", which is not in the file", key),
					 errhint("The file's columns are listed in import_rollback.batch_column; "
							 "empty or repeated headers go by column<N>.")));
		attnum = get_attnum(m->relid, colname);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							colname, m->table),
					 errdetail("The mapping maps file column \"%s\" to it.", key)));
		for (int i = 0; i < m->ncols; i++)
			if (m->cols[i].attnum == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("mapping maps both \"%s\" and \"%s\" to column \"%s\"",
								m->cols[i].src_key, key, colname)));
		check_writable(rel, TupleDescAttr(desc, attnum - 1));
		set_column(m, &m->cols[m->ncols++], TupleDescAttr(desc, attnum - 1), src);
	}
}

/*
 * No mapping: each writable target column takes the file column of the
 * same name, or else the one name that matches it case-insensitively.
 */
static void
map_by_name(IrMapping *m, TupleDesc desc)
{
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		int			exact = 0;
		int			folded = 0;
		int			nfolded = 0;
		int			second = 0;

		if (att->attisdropped || att->attgenerated ||
			att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			continue;
		for (int i = 0; i < m->nsource; i++)
		{
			if (strcmp(m->source_keys[i], NameStr(att->attname)) == 0)
				exact = i + 1;
			else if (pg_strcasecmp(m->source_keys[i], NameStr(att->attname)) == 0)
			{
				if (nfolded++ == 0)
					folded = i + 1;
				else if (second == 0)
					second = i + 1;
			}
		}
		if (!exact && nfolded > 1)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("file columns \"%s\" and \"%s\" both match column \"%s\"",
							m->source_keys[folded - 1], m->source_keys[second - 1],
							NameStr(att->attname)),
					 errhint("Pass a \"mapping\" that says which one to import.")));
		if (exact || folded)
			set_column(m, &m->cols[m->ncols++], att, exact ? exact : folded);
	}
}

/* The key columns, each with its mapped column (-1: not mapped) and equality. */
static void
map_keys(IrMapping *m, List *key_columns)
{
	int			n = Max(list_length(key_columns), 1);
	ListCell   *lc;

	m->nkeys = list_length(key_columns);
	m->key_names = palloc(sizeof(char *) * n);
	m->key_col = palloc(sizeof(int) * n);
	m->key_eqop = palloc(sizeof(Oid) * n);
	foreach(lc, key_columns)
	{
		int			k = foreach_current_index(lc);

		m->key_names[k] = lfirst(lc);
		m->key_col[k] = -1;
		for (int i = 0; i < m->ncols; i++)
		{
			if (strcmp(m->cols[i].name, m->key_names[k]) == 0)
			{
				m->key_col[k] = i;
				m->cols[i].is_key = true;
			}
		}
	}
	ir_key_eq_operators(m->relid, m->nkeys, m->key_names, m->key_eqop);
}

/*
 * Resolve the mapping of a batch onto its target: options.mapping when
 * given (the whole mapping), else every file column whose key equals a
 * target column name case-insensitively (an exact match wins over
 * case-only ones; two case-only matches are ambiguous).  Errors name what
 * to fix.  Key columns that are not mapped have key_col -1: the caller
 * turns that into a hard stop.
 */
IrMapping *
ir_mapping_resolve(const IrBatch *batch, Jsonb *options, List *key_columns)
{
	IrMapping  *m = palloc0(sizeof(IrMapping));
	Relation	rel = relation_open(batch->target_relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbValue *mapping = ir_option(options, "mapping");

	m->relid = batch->target_relid;
	m->table = pstrdup(RelationGetRelationName(rel));
	m->qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  m->table);
	m->source_keys = ir_store_source_keys(batch->batch_id, &m->nsource);
	m->cols = palloc0(sizeof(IrColumn) * Max(desc->natts, 1));

	if (mapping != NULL)
		map_explicit(m, rel, mapping);
	else
		map_by_name(m, desc);
	if (m->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no column of the file maps to a column of \"%s\"", m->table),
				 errhint("Name the columns to import in the \"mapping\" option.")));
	map_keys(m, key_columns);
	m->scan = ir_sql_scan(m->relid);
	relation_close(rel, NoLock);
	return m;
}

/*
 * Target columns a new record needs but the file does not give: NOT NULL,
 * no default, not identity or generated, not mapped.  List of char *.
 */
List *
ir_unmapped_required(IrMapping *m)
{
	Relation	rel = relation_open(m->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *out = NIL;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped || !att->attnotnull || att->atthasdef ||
			att->attidentity || att->attgenerated ||
			ir_mapping_column(m, NameStr(att->attname)) != NULL)
			continue;
		out = lappend(out, pstrdup(NameStr(att->attname)));
	}
	relation_close(rel, NoLock);
	return out;
}

/* The mapped column for a target column name, or NULL. */
IrColumn *
ir_mapping_column(IrMapping *m, const char *name)
{
	for (int i = 0; i < m->ncols; i++)
		if (strcmp(m->cols[i].name, name) == 0)
			return &m->cols[i];
	return NULL;
}

/* SQL text of a mapped column's typed value read from staging alias "alias". */
char *
ir_typed_expr(const IrColumn *c, const char *alias)
{
	if (!c->checked)
		return psprintf("%s.c%d", alias, c->src);
	return psprintf("import_rollback.ir_cast(%s.c%d, NULL::%s)", alias, c->src, c->sqltype);
}

/*
 * SQL text: a and b (values of column c's type) differ under the type's
 * equality (sqlgen.c: never an operator found by name).
 */
char *
ir_distinct_sql(const IrColumn *c, const char *a, const char *b)
{
	return ir_sql_distinct(c->typid, a, b);
}

/* The key's columns, "a, b", for messages. */
char *
ir_key_list(const IrMapping *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "", quote_identifier(m->key_names[k]));
	return buf.data;
}

/* SQL text: a and b are equal as values of key column k. */
char *
ir_key_match_sql(const IrMapping *m, int k, const char *a, const char *b)
{
	return ir_sql_op(m->key_eqop[k], a, b);
}

/*
 * The mapping a validated batch was validated with (its stored options and
 * key).  Errors when the key is not fully mapped: such a batch can be
 * neither reviewed nor applied.
 */
IrMapping *
ir_mapping_of_batch(const IrBatch *batch)
{
	IrMapping  *m;

	if (!batch->validated)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " has not been validated", batch->batch_id),
				 errhint("Run ir_validate() first.")));
	ir_batch_require_target(batch);
	m = ir_mapping_resolve(batch, batch->options, batch->key_columns);
	for (int k = 0; k < m->nkeys; k++)
		if (m->key_col[k] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("key column \"%s\" of batch " INT64_FORMAT " is not mapped",
							m->key_names[k], batch->batch_id),
					 errhint("Correct the mapping with ir_validate().")));
	return m;
}
