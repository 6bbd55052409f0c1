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
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/acl.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/rls.h"
#include "utils/varlena.h"
#include "parser/parse_coerce.h"

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

/* A key of a mapping object, NULL when absent or JSON null. */
static JsonbValue *
entry_value(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	return v != NULL && v->type != jbvNull ? v : NULL;
}

/* A string key of a mapping object (its shape was checked by options.c). */
static char *
entry_string(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = entry_value(obj, key);

	return v != NULL && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* A list of strings of a mapping object, as an array. */
static char **
entry_strings(JsonbContainer *obj, const char *key, int *n)
{
	JsonbValue *v = entry_value(obj, key);
	List	   *items = NIL;
	char	  **out;
	ListCell   *lc;

	*n = 0;
	if (v != NULL)
		(void) ir_json_strings(v, &items);
	out = palloc(sizeof(char *) * Max(list_length(items), 1));
	foreach(lc, items)
		out[(*n)++] = lfirst(lc);
	return out;
}

/* The transform steps of column c, by name. */
static void
parse_steps(IrColumn *c, char **names, int n)
{
	if (n > IR_MAX_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" has %d transform steps; at most %d are allowed",
						c->name, n, IR_MAX_STEPS)));
	for (int i = 0; i < n; i++)
	{
		const char *best = NULL;
		int			best_d = 3;

		if (ir_step_from_name(names[i], &c->prep.steps[c->prep.nsteps]))
		{
			c->prep.nsteps++;
			continue;
		}
		for (int k = 0; ir_step_names[k] != NULL; k++)
		{
			int			d = varstr_levenshtein_less_equal(names[i], strlen(names[i]),
														  ir_step_names[k], strlen(ir_step_names[k]),
														  1, 1, 1, best_d, true);

			if (d < best_d)
			{
				best_d = d;
				best = ir_step_names[k];
			}
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown transform \"%s\" for column \"%s\"", names[i], c->name),
				 best ? errhint("Perhaps you meant \"%s\".", best) :
				 errhint("Transforms are \"trim\", \"lower\", \"upper\", \"squeeze\" and \"digits\".")));
	}
}

/* Error context while a format's pattern is tried. */
static void
format_context(void *arg)
{
	errcontext("checking the format of column \"%s\"", ((IrColumn *) arg)->name);
}

/*
 * A date_format must read back the dates it writes (a pattern without the
 * day, the month or the year cannot); a timestamp_format must at least
 * write and read a timestamp.  Tried on a fixed value.
 */
static void
check_format(IrColumn *c)
{
	IrPrep		probe;
	ErrorContextCallback errcallback;
	const char *fmt = c->prep.date_format ? c->prep.date_format : c->prep.timestamp_format;

	if (fmt[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the format of column \"%s\" is empty", c->name)));
	memset(&probe, 0, sizeof(probe));
	probe.date_format = c->prep.date_format;
	probe.timestamp_format = c->prep.timestamp_format;
	errcallback.callback = format_context;
	errcallback.arg = c;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	{
		Datum		sample = DirectFunctionCall1(date_timestamp,
												 DirectFunctionCall1(date_in, CStringGetDatum("2001-02-03")));
		char	   *str = TextDatumGetCString(DirectFunctionCall2(timestamp_to_char, sample,
																   CStringGetTextDatum(fmt)));
		char	   *iso = ir_prep_format(&probe, str);

		if (c->prep.date_format && strcmp(iso, "2001-02-03 AD") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("date_format \"%s\" of column \"%s\" does not read back the dates it writes",
							fmt, c->name),
					 errdetail("2001-02-03 is written as \"%s\" and read back as %s.", str, iso),
					 errhint("A date pattern needs the year, the month and the day, such as DD/MM/YYYY.")));
	}
	error_context_stack = errcallback.previous;
}

/*
 * The lookup of column c: "schema.table" (qualified: never resolved by
 * search_path), its match and return columns, the caller's right to read
 * them; the return column's type must be the target column's.
 */
static void
parse_lookup(IrColumn *c, JsonbContainer *obj)
{
	IrColumnLookup *lk = palloc0(sizeof(IrColumnLookup));
	char	   *table = entry_string(obj, "table");
	JsonbValue *ic = entry_value(obj, "ignore_case");
	List	   *names;
	char		relkind;
	AttrNumber	match_att;
	AttrNumber	ret_att;
	Oid			match_type;
	Oid			ret_type;

	lk->match = entry_string(obj, "match");
	lk->ret = entry_string(obj, "return");
	lk->ignore_case = ic != NULL && ic->type == jbvBool && ic->val.boolean;
	if (table == NULL || lk->match == NULL || lk->ret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lookup of column \"%s\" needs \"table\", \"match\" and \"return\"", c->name)));
	if (!SplitIdentifierString(pstrdup(table), '.', &names) || list_length(names) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lookup table \"%s\" of column \"%s\" must be \"schema.table\"", table, c->name),
				 errdetail("A lookup table is always named with its schema, so search_path cannot change it.")));
	lk->relid = RangeVarGetRelid(makeRangeVar(linitial(names), lsecond(names), -1),
								 AccessShareLock, false);
	lk->table = quote_qualified_identifier(linitial(names), lsecond(names));
	relkind = get_rel_relkind(lk->relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", table),
				 errdetail("The lookup of column \"%s\" names it; a lookup reads a table or "
						   "materialized view, whose reading runs no user code.", c->name)));
	if (check_enable_rls(lk->relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row security applies to you on table \"%s\"", table),
				 errdetail("The lookup of column \"%s\" would see only some of its rows.", c->name),
				 errhint("Look values up in a table that row security does not filter for you.")));
	match_att = get_attnum(lk->relid, lk->match);
	ret_att = get_attnum(lk->relid, lk->ret);
	if (match_att == InvalidAttrNumber || ret_att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						match_att == InvalidAttrNumber ? lk->match : lk->ret, table),
				 errdetail("The lookup of column \"%s\" names it.", c->name)));
	if ((pg_class_aclcheck(lk->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK) &&
		(pg_attribute_aclcheck(lk->relid, match_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		 pg_attribute_aclcheck(lk->relid, ret_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", table),
				 errdetail("The lookup of column \"%s\" reads its columns \"%s\" and \"%s\".",
						   c->name, lk->match, lk->ret)));
	match_type = get_atttype(lk->relid, match_att);
	ret_type = get_atttype(lk->relid, ret_att);
	if (ret_type != c->typid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("lookup of column \"%s\" returns type %s, but the column is of type %s",
						c->name, format_type_be(ret_type), format_type_be(c->typid)),
				 errdetail("\"return\" names column \"%s\" of %s.", lk->ret, table),
				 errhint("Return a column of the target column's own type.")));
	if (lk->ignore_case && TypeCategory(match_type) != TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("ignore_case needs a text match column; \"%s\" of %s is of type %s",
						lk->match, table, format_type_be(match_type))));
	c->lookup = lk;
	c->checked = true;
}

/* A mapping object's steps and lookup, onto column c. */
static void
parse_entry(IrColumn *c, JsonbContainer *obj)
{
	int			nsteps;
	char	  **steps = entry_strings(obj, "transform", &nsteps);
	JsonbValue *lookup = entry_value(obj, "lookup");

	c->prep.null_if = entry_strings(obj, "null_if", &c->prep.nnull_if);
	parse_steps(c, steps, nsteps);
	c->prep.date_format = entry_string(obj, "date_format");
	c->prep.timestamp_format = entry_string(obj, "timestamp_format");
	if (c->prep.date_format && c->prep.timestamp_format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" has both a date_format and a timestamp_format", c->name)));
	if (c->prep.date_format || c->prep.timestamp_format)
	{
		check_format(c);
		c->checked = true;
	}
	if (lookup != NULL && lookup->type == jbvBinary)
		parse_lookup(c, lookup->val.binary.data);
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
		if (v.type == jbvBinary)
			colname = entry_string(v.val.binary.data, "column");
		else
			colname = pnstrdup(v.val.string.val, v.val.string.len);
		if (colname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("mapping of file column \"%s\" has no \"column\"", key),
					 errhint("Give the target column: {\"column\": \"name\", ...}.")));
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
		set_column(m, &m->cols[m->ncols], TupleDescAttr(desc, attnum - 1), src);
		if (v.type == jbvBinary)
			parse_entry(&m->cols[m->ncols], v.val.binary.data);
		m->ncols++;
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

/* Error context while a constant is read by its column's type. */
static void
constant_context(void *arg)
{
	errcontext("constant for column \"%s\"", ((IrColumn *) arg)->name);
}

/*
 * "constants": target columns set to one value for every row.  The value
 * goes through the column's input function here, once: a bad one is an
 * error before anything is checked.
 */
static void
map_constants(IrMapping *m, Relation rel, JsonbValue *constants)
{
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *name = NULL;

	if (constants == NULL || constants->type != jbvBinary)
		return;
	it = JsonbIteratorInit(constants->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		AttrNumber	attnum;
		IrColumn   *c;

		if (tok == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		attnum = get_attnum(m->relid, name);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", name, m->table),
					 errdetail("Option \"constants\" sets it.")));
		for (int i = 0; i < m->ncols; i++)
			if (m->cols[i].attnum == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is both mapped from the file and a constant", name)));
		check_writable(rel, TupleDescAttr(desc, attnum - 1));
		c = &m->cols[m->ncols++];
		memset(c, 0, sizeof(IrColumn));
		c->attnum = attnum;
		c->name = pstrdup(NameStr(TupleDescAttr(desc, attnum - 1)->attname));
		c->src_key = c->name;
		c->typid = TupleDescAttr(desc, attnum - 1)->atttypid;
		c->typmod = TupleDescAttr(desc, attnum - 1)->atttypmod;
		c->notnull = TupleDescAttr(desc, attnum - 1)->attnotnull;
		c->sqltype = format_type_extended(c->typid, c->typmod,
										  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		if (v.type == jbvString)
			c->constant = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvNumeric)
			c->constant = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			c->constant = pstrdup(v.val.boolean ? "true" : "false");
		if (c->constant)
		{
			ErrorContextCallback errcallback;
			Oid			infunc;
			Oid			ioparam;

			errcallback.callback = constant_context;
			errcallback.arg = c;
			errcallback.previous = error_context_stack;
			error_context_stack = &errcallback;
			getTypeInputInfo(c->typid, &infunc, &ioparam);
			(void) OidInputFunctionCall(infunc, c->constant, ioparam, c->typmod);
			error_context_stack = errcallback.previous;
		}
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
	map_constants(m, rel, ir_option(options, "constants"));
	if (m->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no column of the file maps to a column of \"%s\"", m->table),
				 errhint("Name the columns to import in the \"mapping\" option.")));
	map_keys(m, key_columns);
	for (int i = 0; i < m->ncols; i++)
		if (m->cols[i].is_key && (m->cols[i].lookup || m->cols[i].src == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot be %s", m->cols[i].name,
							m->cols[i].lookup ? "looked up" : "a constant"),
					 errdetail("A batch finds its records again by the key's values as the file gives them."),
					 errhint("Map the key from a file column; transforms are allowed.")));
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

/* SQL: a text[] of strings, or a NULL one when there are none. */
static char *
text_array_sql(char **items, int n)
{
	StringInfoData buf;

	if (n == 0)
		return "NULL::pg_catalog.text[]";
	initStringInfo(&buf);
	appendStringInfoString(&buf, "ARRAY[");
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", quote_literal_cstr(items[i]));
	appendStringInfoString(&buf, "]::pg_catalog.text[]");
	return buf.data;
}

/* SQL: column c's text from staging alias, through ir_prepare() with or without its format. */
static char *
prepare_sql(const IrColumn *c, const char *alias, bool format)
{
	const char *steps[IR_MAX_STEPS];
	const char *df = format && c->prep.date_format ? c->prep.date_format : NULL;
	const char *tf = format && c->prep.timestamp_format ? c->prep.timestamp_format : NULL;

	if (c->src == 0)
		return c->constant ? psprintf("%s::pg_catalog.text", quote_literal_cstr(c->constant)) :
			"NULL::pg_catalog.text";
	if (c->prep.nnull_if == 0 && c->prep.nsteps == 0 && df == NULL && tf == NULL)
		return psprintf("%s.c%d", alias, c->src);
	for (int i = 0; i < c->prep.nsteps; i++)
		steps[i] = ir_step_names[c->prep.steps[i]];
	return psprintf("import_rollback.ir_prepare(%s.c%d, %s, %s, %s, %s)", alias, c->src,
					text_array_sql(c->prep.null_if, c->prep.nnull_if),
					text_array_sql((char **) steps, c->prep.nsteps),
					df ? quote_literal_cstr(df) : "NULL::pg_catalog.text",
					tf ? quote_literal_cstr(tf) : "NULL::pg_catalog.text");
}

/*
 * SQL text of mapped column c's text read from staging alias, after
 * null_if and its transform steps (not its format): what the rules and
 * the mapping check see.  Never fails.
 */
char *
ir_text_expr(const IrColumn *c, const char *alias)
{
	return prepare_sql(c, alias, false);
}

/*
 * SQL text of mapped column c's typed value read from staging alias: its
 * text steps and format, then its lookup or its type's input function.
 */
char *
ir_typed_expr(const IrColumn *c, const char *alias)
{
	char	   *str = prepare_sql(c, alias, true);

	if (c->lookup)
		return psprintf("import_rollback.ir_lookup(%s, %u::pg_catalog.oid, %s, %s, %s, NULL::%s)",
						str, c->lookup->relid, quote_literal_cstr(c->lookup->match),
						quote_literal_cstr(c->lookup->ret), c->lookup->ignore_case ? "true" : "false",
						c->sqltype);
	if (c->typid == TEXTOID || (c->typid == VARCHAROID && c->typmod < 0))
		return str;				/* the text is the value */
	return psprintf("import_rollback.ir_cast(%s, NULL::%s)", str, c->sqltype);
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

/* SQL text: the key of the typed row of staging alias, "(v1, v2)", for messages. */
char *
ir_key_text_sql(const IrMapping *m, const char *alias)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "'(' || ");
	for (int k = 0; k < m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " || ', ' || " : "",
						 ir_sql_text(ir_typed_expr(&m->cols[m->key_col[k]], alias)));
	appendStringInfoString(&q, " || ')'");
	return q.data;
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
