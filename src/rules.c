/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  Reading a validation's rules (options.rules) into the run: every
 *	  column a rule names must be a mapped target column; reference rules
 *	  resolve their table as the caller and find how values compare with
 *	  it.  Names and shapes of rules were checked by options.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/varlena.h"

#include "options.h"
#include "settings.h"
#include "sqlgen.h"
#include "validate.h"

static void
rule_error(const char *rule, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("rule \"%s\" must be %s", rule, what)));
}

/* The column a rule names: it must be a target column, mapped. */
static IrColumn *
rule_column(Run *run, const char *rule, const char *name)
{
	IrColumn   *c = ir_mapping_column(run->m, name);

	if (c == NULL)
	{
		if (get_attnum(run->m->relid, name) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("rule \"%s\" names column \"%s\", which \"%s\" does not have",
							rule, name, run->m->table),
					 errhint("Rules name target columns, not file headers.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule \"%s\" names column \"%s\", which no file column maps to",
						rule, name),
				 errhint("Map a file column to it, or drop the rule.")));
	}
	return c;
}

static char *
string_value(JsonbValue *v, const char *rule)
{
	if (v->type != jbvString)
		rule_error(rule, "an object of strings");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The strings of a JSON array, as a List of char *. */
static List *
string_list(JsonbValue *v, const char *rule)
{
	List	   *out;

	if (!ir_json_strings(v, &out))
		rule_error(rule, "an array of column names");
	return out;
}

/*
 * Resolve a reference rule's "[schema.]table.column" under the caller's own
 * search_path (before the internal SQL's is set) and check its rights.
 */
static void
resolve_reference(ColumnRule *cr)
{
	List	   *names;
	RangeVar   *rv;
	char		relkind;
	AttrNumber	attnum;

	if (!SplitIdentifierString(pstrdup(cr->arg), '.', &names) ||
		list_length(names) < 2 || list_length(names) > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference for column \"%s\" must be \"schema.table.column\"",
						cr->col->name)));
	cr->ref_column = llast(names);
	rv = list_length(names) == 3 ?
		makeRangeVar(linitial(names), lsecond(names), -1) :
		makeRangeVar(NULL, linitial(names), -1);
	cr->ref_relid = RangeVarGetRelid(rv, AccessShareLock, false);
	relkind = get_rel_relkind(cr->ref_relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(cr->ref_relid)),
				 errdetail("Rule \"reference\" for column \"%s\" names it; a reference must be a table "
						   "or materialized view, whose reading runs no user code.", cr->col->name),
				 errhint("Reference the table the view reads, or a materialized view of it.")));
	attnum = get_attnum(cr->ref_relid, cr->ref_column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						cr->ref_column, get_rel_name(cr->ref_relid)),
				 errdetail("Rule \"reference\" for column \"%s\" names it.", cr->col->name)));
	if (check_enable_rls(cr->ref_relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row security applies to you on table \"%s\"", get_rel_name(cr->ref_relid)),
				 errdetail("Rule \"reference\" for column \"%s\" would see only some of its rows, "
						   "and its policies would run while the batch's rows are lent to you.",
						   cr->col->name),
				 errhint("Reference a table that row security does not filter for you.")));
	cr->ref_eqop = ir_compatible_eq_operator(cr->col->typid, get_atttype(cr->ref_relid, attnum));
	if (!OidIsValid(cr->ref_eqop))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("column \"%s\" (%s) cannot be compared with \"%s\".\"%s\" (%s)",
						cr->col->name, format_type_be(cr->col->typid),
						get_rel_name(cr->ref_relid), cr->ref_column,
						format_type_be(get_atttype(cr->ref_relid, attnum))),
				 errdetail("Rule \"reference\" needs an equality operator between the two types.")));
	if (pg_class_aclcheck(cr->ref_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(cr->ref_relid, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(cr->ref_relid)),
				 errdetail("Rule \"reference\" for column \"%s\" reads it.", cr->col->name)));
}

/* An "allowed" rule's values (strings or numbers) as a text[] datum. */
static Datum
allowed_values(JsonbValue *e, const char *rule)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *vals = NIL;
	ListCell   *lc;
	Datum	   *elems;
	int			i = 0;

	if (e->type != jbvBinary || !JsonContainerIsArray(e->val.binary.data))
		rule_error(rule, "an object of arrays of allowed values");
	it = JsonbIteratorInit(e->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type == jbvString)
			vals = lappend(vals, pnstrdup(v.val.string.val, v.val.string.len));
		else if (v.type == jbvNumeric)
			vals = lappend(vals, DatumGetCString(DirectFunctionCall1(numeric_out,
																	 NumericGetDatum(v.val.numeric))));
		else
			rule_error(rule, "an object of arrays of strings or numbers");
	}
	elems = palloc(sizeof(Datum) * Max(list_length(vals), 1));
	foreach(lc, vals)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

static void
parse_column_rules(Run *run, const char *rule, JsonbValue *v, List **out)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rule_error(rule, "an object keyed by column");
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		ColumnRule *cr;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(e.val.string.val, e.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		cr = palloc0(sizeof(ColumnRule));
		cr->col = rule_column(run, rule, key);
		if (strcmp(rule, "allowed") == 0)
			cr->values = allowed_values(&e, rule);
		else
		{
			cr->arg = string_value(&e, rule);
			if (strcmp(rule, "reference") == 0)
				resolve_reference(cr);
			if (strcmp(rule, "format") == 0 &&
				strcmp(cr->arg, "email") != 0 && strcmp(cr->arg, "phone") != 0 &&
				strcmp(cr->arg, "url") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown format \"%s\" for column \"%s\"", cr->arg, key),
						 errhint("Known formats are \"email\", \"phone\" and \"url\"; use \"pattern\" for others.")));
		}
		*out = lappend(*out, cr);
	}
}

/* Parse options.rules; every column must be a mapped target column. */
void
ir_parse_rules(Run *run, Jsonb *options)
{
	Rules	   *r = &run->rules;
	JsonbValue *rules = ir_option(options, "rules");
	JsonbValue *ev = ir_option(options, "expect_rows");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	r->max_reject_ratio = ir_default_max_reject_ratio;
	r->max_reject_count = -1;
	r->max_touch_ratio = -1;
	r->expect_rows = -1;
	if (ev)
		(void) ir_json_count(ev, &r->expect_rows);	/* checked by options.c */
	r->mapping_check = MC_STOP;

	if (rules == NULL)
		return;
	/* names and shapes: options.c (the options were checked as a whole) */
	it = JsonbIteratorInit(rules->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvNull)
			continue;
		if (strcmp(key, "required") == 0)
		{
			ListCell   *lc;

			foreach(lc, string_list(&v, key))
			{
				char	   *name = lfirst(lc);
				IrColumn   *c = ir_mapping_column(run->m, name);

				if (c)
					r->required = lappend(r->required, c);
				else if (get_attnum(run->m->relid, name) != InvalidAttrNumber)
					r->required_missing = lappend(r->required_missing, name);
				else
					rule_column(run, key, name);	/* raises the error */
			}
		}
		else if (strcmp(key, "unique_in_file") == 0)
		{
			JsonbIterator *it2;
			JsonbValue	e;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				rule_error(key, "an array of columns or of arrays of columns");
			it2 = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&it2, &e, true)) != WJB_DONE)
			{
				List	   *set = NIL;

				if (tok != WJB_ELEM)
					continue;
				if (e.type == jbvString)
					set = list_make1(rule_column(run, key, pnstrdup(e.val.string.val, e.val.string.len)));
				else
				{
					ListCell   *lc;

					foreach(lc, string_list(&e, key))
						set = lappend(set, rule_column(run, key, lfirst(lc)));
				}
				r->unique_sets = lappend(r->unique_sets, set);
			}
			tok = WJB_VALUE;
		}
		else if (strcmp(key, "pattern") == 0)
			parse_column_rules(run, key, &v, &r->patterns);
		else if (strcmp(key, "format") == 0)
			parse_column_rules(run, key, &v, &r->formats);
		else if (strcmp(key, "allowed") == 0)
			parse_column_rules(run, key, &v, &r->allowed);
		else if (strcmp(key, "reference") == 0)
			parse_column_rules(run, key, &v, &r->references);
		else if (strcmp(key, "max_reject_ratio") == 0)
			(void) ir_json_ratio(&v, &r->max_reject_ratio);	/* checked by options.c */
		else if (strcmp(key, "max_touch_ratio") == 0)
			(void) ir_json_ratio(&v, &r->max_touch_ratio);
		else if (strcmp(key, "max_reject_count") == 0)
			(void) ir_json_count(&v, &r->max_reject_count);
		else if (strcmp(key, "mapping_check") == 0)
		{
			char	   *s = string_value(&v, key);

			r->mapping_check = strcmp(s, "stop") == 0 ? MC_STOP :
				strcmp(s, "warn") == 0 ? MC_WARN : MC_OFF;
		}
	}
}
