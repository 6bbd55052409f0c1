/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  ir_validate: apply the mapping, mark every staged row valid or
 *	  rejected with every reason, evaluate the hard stops, move the batch
 *	  to "validated" or "failed", and record the run.
 *
 * Rows are never rewritten wholesale: "valid" is "status IS NULL" in a
 * validated batch, and only rejected rows are written (their status and
 * errors).  Re-validation first clears the previous run's rejects; rows
 * malformed at staging (wrong field count) stay rejected.
 *
 * The checks:
 *	  type        every mapped value through its type's input function with
 *	              the column's typmod (compat.h: soft errors on 16+,
 *	              chunked subtransactions with bisection on 15), in C, one
 *	              pass over staging; the reason is PostgreSQL's own message
 *	  CHECK       constraints of the target whose columns are all mapped,
 *	              in the same C pass, from their stored expressions
 *	  per row     key present, required, NOT NULL, pattern, format, allowed,
 *	              reference: one scan
 *	  per file    key unique in file, unique_in_file: a C pass keeps the
 *	              rows whose 64-bit hash of the typed values is not unique
 *	              (the type's own extended hash), then a hash aggregate over
 *	              those finds the duplicated values
 *	  lookups     reference (one anti-join per rule), mode insert/update and
 *	              unmapped NOT NULL columns without default (one join with
 *	              the target)
 * All set-based checks and the write of the rejects are one statement,
 * run as the caller (mapping.c lends it the staging table), so target
 * and reference tables are read with the caller's own privileges.
 *
 *	  stops       a key or required column missing from the file, reject
 *	              ratio and count, expect_rows, max_touch_ratio, and the
 *	              mapping check (shape of incoming vs live values).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/sysattr.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "utils/varlena.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rls.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "compat.h"
#include "exec.h"
#include "mapping.h"
#include "ops.h"
#include "options.h"
#include "sqlgen.h"
#include "state.h"
#include "storage.h"
#include "target.h"

/* Longest piece of a value quoted in a reason. */
#define VALUE_SHOWN 200

/* Type-check pass: rows per chunk of checks. */
#define TYPE_FETCH 1000

/* Mapping check: values sampled per side, and fewest live values to judge. */
#define SHAPE_SAMPLE 1000
#define SHAPE_MIN_LIVE 20

typedef enum MappingCheck
{
	MC_STOP,
	MC_WARN,
	MC_OFF
} MappingCheck;

/* A column rule: pattern, format, allowed or reference. */
typedef struct ColumnRule
{
	IrColumn   *col;
	char	   *arg;			/* regex, format name, or schema.table.column */
	Datum		values;			/* allowed: text[] */
	Oid			ref_relid;		/* reference: the table, resolved by the caller */
	char	   *ref_column;
	Oid			ref_eqop;		/* reference: how values compare with it */
} ColumnRule;

typedef struct Rules
{
	double		max_reject_ratio;
	int64		max_reject_count;	/* -1: none */
	double		max_touch_ratio;	/* < 0: none */
	int64		expect_rows;	/* -1: none */
	MappingCheck mapping_check;
	List	   *required;		/* IrColumn * (mapped) */
	List	   *required_missing;	/* char * (target columns not in file) */
	List	   *unique_sets;	/* List of IrColumn * per set */
	List	   *patterns;		/* ColumnRule * */
	List	   *formats;
	List	   *allowed;
	List	   *references;
} Rules;

/* Everything one validation run builds up. */
typedef struct Run
{
	IrBatch    *batch;
	IrMapping  *m;
	Rules		rules;
	char	   *mode;
	char	   *stage;			/* qualified staging table */
	/* type errors found in C: row, column ordinal, reason */
	int64	   *err_row;
	int		   *err_ord;
	char	  **err_msg;
	int			nerr;
	int			maxerr;
	/* per mapped column: rows whose value failed its type check */
	int64	  **bad_rows;
	int		   *nbad;
	int		   *maxbad;
	/* SQL under construction */
	StringInfoData sql;
	int			nparams;
	Oid			paramtypes[FUNC_MAX_ARGS];
	Datum		paramvalues[FUNC_MAX_ARGS];
	List	   *stops;			/* char *, in keepcxt */
	List	   *notes;			/* char *, in keepcxt */
	MemoryContext keepcxt;		/* outlives the SPI connection */
} Run;

/* Record a hard stop; it must outlive the SPI connection. */
static void
add_stop(Run *run, const char *msg)
{
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

	run->stops = lappend(run->stops, pstrdup(msg));
	MemoryContextSwitchTo(old);
}

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

static void
rule_error(const char *rule, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("rule \"%s\" must be %s", rule, what)));
}

/* Add a query parameter; returns its "$n" text. */
static char *
add_param(Run *run, Oid type, Datum value)
{
	if (run->nparams >= FUNC_MAX_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many validation rules for one batch"),
				 errdetail("At most %d rule values and typed columns can be checked at once.",
						   FUNC_MAX_ARGS - 3)));
	run->paramtypes[run->nparams] = type;
	run->paramvalues[run->nparams] = value;
	run->nparams++;
	return psprintf("$%d", run->nparams);
}

static char *
lit(const char *s)
{
	return quote_literal_cstr(s);
}

/* SQL text of a value quoted (and shortened) for a reason. */
static char *
shown_value(const char *expr)
{
	return psprintf("'\"' || CASE WHEN length(%s) > %d THEN left(%s, %d) || '...'"
					" ELSE %s END || '\"'",
					expr, VALUE_SHOWN, expr, VALUE_SHOWN, expr);
}

static char *
double_text(double d)
{
	return psprintf("%g", d);
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

/* A rule's count: a whole number from 0 to 2^63 - 1. */
static int64
count_value(JsonbValue *v, const char *rule)
{
	int64		n;

	if (!ir_json_count(v, &n))
		rule_error(rule, "a whole number from 0 to 9223372036854775807");
	return n;
}

/* A rule's ratio: a number from 0 to 1. */
static double
ratio_value(JsonbValue *v, const char *rule)
{
	double		d;

	if (!ir_json_ratio(v, &d))
		rule_error(rule, "a number between 0 and 1");
	return d;
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

/* ---------------------------------------------------------------------
 * Rules
 * ---------------------------------------------------------------------
 */

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
		{
			List	   *vals;
			ListCell   *lc;
			Datum	   *elems;
			int			i = 0;

			if (e.type != jbvBinary || !JsonContainerIsArray(e.val.binary.data))
				rule_error(rule, "an object of arrays of allowed values");
			vals = NIL;
			{
				JsonbIterator *it2 = JsonbIteratorInit(e.val.binary.data);
				JsonbValue	e2;

				while ((tok = JsonbIteratorNext(&it2, &e2, true)) != WJB_DONE)
				{
					if (tok != WJB_ELEM)
						continue;
					if (e2.type == jbvString)
						vals = lappend(vals, pnstrdup(e2.val.string.val, e2.val.string.len));
					else if (e2.type == jbvNumeric)
						vals = lappend(vals, DatumGetCString(DirectFunctionCall1(numeric_out,
																				 NumericGetDatum(e2.val.numeric))));
					else
						rule_error(rule, "an object of arrays of strings or numbers");
				}
				tok = WJB_VALUE;
			}
			elems = palloc(sizeof(Datum) * Max(list_length(vals), 1));
			foreach(lc, vals)
				elems[i++] = CStringGetTextDatum(lfirst(lc));
			cr->values = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
		}
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
static void
parse_rules(Run *run, Jsonb *options)
{
	Rules	   *r = &run->rules;
	JsonbValue *rules = ir_option(options, "rules");
	JsonbValue *ev = ir_option(options, "expect_rows");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	r->max_reject_ratio = 0.05;
	r->max_reject_count = -1;
	r->max_touch_ratio = -1;
	r->expect_rows = ev ? count_value(ev, "expect_rows") : -1;
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
			r->max_reject_ratio = ratio_value(&v, key);
		else if (strcmp(key, "max_touch_ratio") == 0)
			r->max_touch_ratio = ratio_value(&v, key);
		else if (strcmp(key, "max_reject_count") == 0)
			r->max_reject_count = count_value(&v, key);
		else if (strcmp(key, "mapping_check") == 0)
		{
			char	   *s = string_value(&v, key);

			r->mapping_check = strcmp(s, "stop") == 0 ? MC_STOP :
				strcmp(s, "warn") == 0 ? MC_WARN : MC_OFF;
		}
	}
}

/* ---------------------------------------------------------------------
 * Type checks, in C
 * ---------------------------------------------------------------------
 */

static void
add_error(Run *run, int64 row_no, int ord, char *msg)
{
	if (run->nerr == run->maxerr)
	{
		run->maxerr = Max(64, run->maxerr * 2);
		run->err_row = repalloc_huge(run->err_row, sizeof(int64) * run->maxerr);
		run->err_ord = repalloc_huge(run->err_ord, sizeof(int) * run->maxerr);
		run->err_msg = repalloc_huge(run->err_msg, sizeof(char *) * run->maxerr);
	}
	run->err_row[run->nerr] = row_no;
	run->err_ord[run->nerr] = ord;
	run->err_msg[run->nerr] = msg;
	run->nerr++;
}

/*
 * One mapped column in the type-check pass: its values for the rows of the
 * current chunk, and what its input function made of them.
 */
typedef struct ChunkCol
{
	int			col;			/* index into m->cols */
	FmgrInfo	input;
	Oid			ioparam;
	char	  **raw;			/* per chunk row: the text, NULL for NULL */
	Datum	   *value;			/* per chunk row: the typed value */
	bool	   *ok;				/* per chunk row: raw is NULL or converted */
	char	  **in;				/* the non-NULL raw values, for ir_check_inputs */
	int		   *in_row;			/* their chunk rows */
	Datum	   *in_value;
	int			nin;
} ChunkCol;

/* A CHECK constraint of the target whose columns are all mapped. */
typedef struct CheckCon
{
	char	   *name;
	ExprState  *state;
	int			ncols;
	int		   *cols;			/* indexes into the pass's ChunkCols */
	int			ord;			/* reject ordinal: its first mapped column */
} CheckCon;

/* Everything the type-check pass keeps across chunks. */
typedef struct TypePass
{
	Run		   *run;
	int			ncols;
	ChunkCol   *cols;
	int			nchecks;
	CheckCon   *checks;
	int64	   *row_no;			/* per chunk row */
	int			nrows;
	EState	   *estate;
	TupleTableSlot *slot;		/* a row of the target, for CHECK constraints */
	ChunkCol   *current;		/* column being checked, for the report */
} TypePass;

static char *
quote_shown(const char *value)
{
	if (strlen(value) > VALUE_SHOWN)
		return psprintf("\"%.*s...\"", VALUE_SHOWN, value);
	return psprintf("\"%s\"", value);
}

/* ir_check_inputs' report: the value at idx of the current column is bad. */
static void
report_type_error(int idx, const char *message, void *arg)
{
	TypePass   *tp = (TypePass *) arg;
	Run		   *run = tp->run;
	ChunkCol   *cc = tp->current;
	int			r = cc->in_row[idx];
	IrColumn   *c = &run->m->cols[cc->col];
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);
	char	   *shown = quote_shown(cc->raw[r]);
	char	   *reason;

	cc->ok[r] = false;
	/* PostgreSQL's own message; add the value where it does not say it */
	if (strstr(message, shown) != NULL)
		reason = psprintf("%s: %s", c->name, message);
	else
		reason = psprintf("%s: %s: %s", c->name, message, shown);
	add_error(run, tp->row_no[r], cc->col + 1, reason);

	if (run->nbad[cc->col] == run->maxbad[cc->col])
	{
		run->maxbad[cc->col] = Max(64, run->maxbad[cc->col] * 2);
		run->bad_rows[cc->col] = repalloc_huge(run->bad_rows[cc->col],
											   sizeof(int64) * run->maxbad[cc->col]);
	}
	run->bad_rows[cc->col][run->nbad[cc->col]++] = tp->row_no[r];
	MemoryContextSwitchTo(old);
}

/*
 * The target's CHECK constraints whose columns are all mapped, prepared
 * for evaluation from their stored expressions (never deparsed and parsed
 * again: no name in them is looked up anew), with the mapped columns they
 * need added to tp->cols.
 */
static void
prepare_checks(TypePass *tp, Relation rel, int *colpos)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	IrMapping  *m = tp->run->m;

	if (constr == NULL || constr->num_check == 0)
		return;
	tp->checks = palloc0(sizeof(CheckCon) * constr->num_check);
	for (int i = 0; i < constr->num_check; i++)
	{
		ConstrCheck *cc = &constr->check[i];
		Node	   *expr = stringToNode(cc->ccbin);
		Bitmapset  *attnos = NULL;
		CheckCon   *con = &tp->checks[tp->nchecks];
		bool		all_mapped = true;
		int			a = -1;

		pull_varattnos(expr, 1, &attnos);
		con->cols = palloc(sizeof(int) * Max(bms_num_members(attnos), 1));
		con->ord = -1;
		while ((a = bms_next_member(attnos, a)) >= 0)
		{
			AttrNumber	attno = a + FirstLowInvalidHeapAttributeNumber;
			int			idx = -1;

			for (int c = 0; c < m->ncols; c++)
				if (m->cols[c].attnum == attno)
					idx = c;
			if (idx < 0)
			{
				all_mapped = false;
				break;
			}
			if (colpos[idx] < 0)
			{
				colpos[idx] = tp->ncols;
				tp->cols[tp->ncols++].col = idx;
			}
			con->cols[con->ncols++] = colpos[idx];
			if (con->ord < 0 || idx < con->ord)
				con->ord = idx;
		}
		if (!all_mapped || con->ncols == 0)
			continue;
		con->name = pstrdup(cc->ccname);
		con->state = ExecPrepareCheck(list_make1(expr), tp->estate);
		con->ord++;
		tp->nchecks++;
	}
}

/* A row failed CHECK constraint con: say which values, as the file gave them. */
static void
report_check(TypePass *tp, CheckCon *con, int r)
{
	Run		   *run = tp->run;
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);
	StringInfoData reason;

	initStringInfo(&reason);
	for (int k = 0; k < con->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[con->cols[k]];

		appendStringInfo(&reason, "%s%s = %s", k ? ", " : "", run->m->cols[cc->col].name,
						 cc->raw[r] ? quote_shown(cc->raw[r]) : "NULL");
	}
	appendStringInfo(&reason, " violates check constraint \"%s\" of \"%s\"",
					 con->name, run->m->table);
	add_error(run, tp->row_no[r], con->ord, reason.data);
	MemoryContextSwitchTo(old);
}

/*
 * Check the rows of one chunk: every value through its type's input
 * function, then the CHECK constraints on each row whose values all
 * converted, as the INSERT would (a NULL result passes).
 */
static void
check_chunk(TypePass *tp)
{
	IrMapping  *m = tp->run->m;
	ExprContext *econtext = GetPerTupleExprContext(tp->estate);

	for (int k = 0; k < tp->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[k];
		IrColumn   *c = &m->cols[cc->col];

		if (!c->checked)
			continue;
		tp->current = cc;
		ir_check_inputs(&cc->input, cc->ioparam, c->typmod, cc->in, cc->nin,
						cc->in_value, report_type_error, tp);
		for (int i = 0; i < cc->nin; i++)
			if (cc->ok[cc->in_row[i]])
				cc->value[cc->in_row[i]] = cc->in_value[i];
	}
	if (tp->nchecks == 0)
		return;
	for (int r = 0; r < tp->nrows; r++)
	{
		for (int i = 0; i < tp->nchecks; i++)
		{
			CheckCon   *con = &tp->checks[i];
			TupleTableSlot *slot = tp->slot;
			bool		usable = true;

			for (int k = 0; k < con->ncols && usable; k++)
				usable = tp->cols[con->cols[k]].ok[r];
			if (!usable)
				continue;		/* a bad value already rejects the row */
			ExecClearTuple(slot);
			memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
			for (int k = 0; k < con->ncols; k++)
			{
				ChunkCol   *cc = &tp->cols[con->cols[k]];
				int			a = m->cols[cc->col].attnum - 1;

				slot->tts_isnull[a] = (cc->raw[r] == NULL);
				slot->tts_values[a] = cc->raw[r] ? cc->value[r] : (Datum) 0;
			}
			ExecStoreVirtualTuple(slot);
			econtext->ecxt_scantuple = slot;
			if (!ExecCheck(con->state, econtext))
				report_check(tp, con, r);
			ResetExprContext(econtext);
		}
	}
}

/*
 * A heap scan (no SPI) of the staging rows that parsed at staging, under a
 * snapshot that sees this transaction's own writes so far; each row comes
 * with its attributes deformed up to maxatt.
 */
typedef struct StageScan
{
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			maxatt;
} StageScan;

static void
stage_scan_begin(StageScan *ss, Run *run, int maxatt)
{
	ss->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ss->rel = table_open(ir_stage_table_oid(run->batch->batch_id), AccessShareLock);
	ss->slot = table_slot_create(ss->rel, NULL);
	ss->scan = table_beginscan(ss->rel, ss->snapshot, 0, NULL);
	ss->maxatt = maxatt;
}

/* The next row in ss->slot and its row_no; false at the end. */
static bool
stage_scan_next(StageScan *ss, int64 *row_no)
{
	while (table_scan_getnextslot(ss->scan, ForwardScanDirection, ss->slot))
	{
		slot_getsomeattrs(ss->slot, ss->maxatt);
		if (!ss->slot->tts_isnull[IR_STAGE_STATUS - 1])
			continue;			/* malformed at staging */
		*row_no = DatumGetInt64(ss->slot->tts_values[0]);
		return true;
	}
	return false;
}

static void
stage_scan_end(StageScan *ss)
{
	table_endscan(ss->scan);
	ExecDropSingleTupleTableSlot(ss->slot);
	table_close(ss->rel, AccessShareLock);
	UnregisterSnapshot(ss->snapshot);
}

/* Take row r of the chunk from the staging slot. */
static void
load_row(TypePass *tp, TupleTableSlot *slot, int64 row_no)
{
	int			r = tp->nrows++;

	tp->row_no[r] = row_no;
	for (int k = 0; k < tp->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[k];
		IrColumn   *c = &tp->run->m->cols[cc->col];
		int			a = IR_STAGE_FIELD(c->src) - 1;

		cc->ok[r] = true;
		if (slot->tts_isnull[a])
		{
			cc->raw[r] = NULL;
			continue;
		}
		cc->raw[r] = TextDatumGetCString(slot->tts_values[a]);
		if (c->checked)
		{
			cc->in[cc->nin] = cc->raw[r];
			cc->in_row[cc->nin++] = r;
		}
		else
			cc->value[r] = PointerGetDatum(cstring_to_text(cc->raw[r]));	/* text as is */
	}
}

/*
 * One pass over the staging table (a plain heap scan, no SPI): every
 * non-NULL value of every mapped column that needs it goes through its
 * type's input function, and every row through the CHECK constraints of
 * the target whose columns are all mapped, a chunk of rows at a time.
 * Runs as the caller, as the INSERT would.
 */
static void
check_types(Run *run)
{
	IrMapping  *m = run->m;
	TypePass	tp;
	int		   *colpos = palloc(sizeof(int) * Max(m->ncols, 1));
	int			maxatt = 0;
	StageScan	ss;
	int64		row_no;
	MemoryContext chunkcxt;
	MemoryContext oldcxt;
	Relation	rel;

	memset(&tp, 0, sizeof(tp));
	tp.run = run;
	tp.cols = palloc0(sizeof(ChunkCol) * Max(m->ncols, 1));
	run->bad_rows = palloc0(sizeof(int64 *) * m->ncols);
	run->nbad = palloc0(sizeof(int) * m->ncols);
	run->maxbad = palloc0(sizeof(int) * m->ncols);
	for (int i = 0; i < m->ncols; i++)
	{
		colpos[i] = -1;
		run->bad_rows[i] = palloc(sizeof(int64));
		run->maxbad[i] = 1;
		if (!m->cols[i].checked)
			continue;
		colpos[i] = tp.ncols;
		tp.cols[tp.ncols++].col = i;
	}
	tp.estate = CreateExecutorState();
	rel = relation_open(m->relid, AccessShareLock);
	prepare_checks(&tp, rel, colpos);
	if (tp.ncols == 0)
	{
		relation_close(rel, NoLock);
		FreeExecutorState(tp.estate);
		return;
	}
	tp.slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	tp.row_no = palloc(sizeof(int64) * TYPE_FETCH);
	for (int k = 0; k < tp.ncols; k++)
	{
		ChunkCol   *cc = &tp.cols[k];
		IrColumn   *c = &m->cols[cc->col];

		if (c->checked)
		{
			Oid			infunc;

			getTypeInputInfo(c->typid, &infunc, &cc->ioparam);
			fmgr_info(infunc, &cc->input);
		}
		cc->raw = palloc(sizeof(char *) * TYPE_FETCH);
		cc->value = palloc(sizeof(Datum) * TYPE_FETCH);
		cc->ok = palloc(sizeof(bool) * TYPE_FETCH);
		cc->in = palloc(sizeof(char *) * TYPE_FETCH);
		cc->in_row = palloc(sizeof(int) * TYPE_FETCH);
		cc->in_value = palloc(sizeof(Datum) * TYPE_FETCH);
		maxatt = Max(maxatt, IR_STAGE_FIELD(c->src));
	}
	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "import_rollback type checks",
									 ALLOCSET_DEFAULT_SIZES);

	stage_scan_begin(&ss, run, maxatt);
	while (stage_scan_next(&ss, &row_no))
	{
		bool		full;

		oldcxt = MemoryContextSwitchTo(chunkcxt);
		load_row(&tp, ss.slot, row_no);
		full = (tp.nrows == TYPE_FETCH);
		if (full)
			check_chunk(&tp);
		MemoryContextSwitchTo(oldcxt);
		if (full)
		{
			MemoryContextReset(chunkcxt);
			tp.nrows = 0;
			for (int k = 0; k < tp.ncols; k++)
				tp.cols[k].nin = 0;
		}
	}
	oldcxt = MemoryContextSwitchTo(chunkcxt);
	check_chunk(&tp);
	MemoryContextSwitchTo(oldcxt);
	stage_scan_end(&ss);
	MemoryContextDelete(chunkcxt);
	ExecDropSingleTupleTableSlot(tp.slot);
	FreeExecutorState(tp.estate);
	relation_close(rel, NoLock);
}

/*
 * Duplicate prefilter.  Grouping a million distinct keys costs more than
 * the rest of validation, yet a duplicate is rare.  One more heap pass
 * hashes each row's values of a column set with the types' own extended
 * hash functions (those of the hash opclass GROUP BY uses, so equal values
 * hash equally) and keeps the rows whose 64-bit hash is not unique: every
 * true duplicate is among them, and the SQL check groups only those.
 */
typedef struct RowHash
{
	uint64		hash;
	int64		row_no;
} RowHash;

/* sort_row_hash(): a qsort specialized for RowHash, comparing inline */
#define ST_SORT sort_row_hash
#define ST_ELEMENT_TYPE RowHash
#define ST_COMPARE(a, b) ((a)->hash < (b)->hash ? -1 : (a)->hash > (b)->hash ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Rows that may share a value of cols, as a bigint[] parameter; "" when
 * none can; NULL when some type has no hash support or collates other
 * than the staging text does (then every row is grouped).
 */
static char *
duplicate_candidates(Run *run, List *cols)
{
	int			n = list_length(cols);
	IrColumn  **c = palloc(sizeof(IrColumn *) * n);
	FmgrInfo   *input = palloc0(sizeof(FmgrInfo) * n);
	Oid		   *ioparam = palloc0(sizeof(Oid) * n);
	FmgrInfo   *hash = palloc0(sizeof(FmgrInfo) * n);
	Oid		   *coll = palloc0(sizeof(Oid) * n);
	int64	  **bad = palloc0(sizeof(int64 *) * n);
	int			maxatt = 0;
	RowHash    *rows;
	int64		nrows = 0;
	int64		maxrows = 1024;
	Datum	   *cand;
	int			ncand = 0;
	StageScan	ss;
	int64		row_no;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, cols)
	{
		TypeCacheEntry *tce;
		int			idx;
		Oid			infunc;
		Oid			typid;

		c[i] = lfirst(lc);
		idx = (int) (c[i] - run->m->cols);
		typid = c[i]->checked ? c[i]->typid : TEXTOID;
		tce = lookup_type_cache(typid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);
		if (!OidIsValid(tce->hash_extended_proc))
			return NULL;
		/* the SQL compares under the staging text's collation, the default */
		if (OidIsValid(tce->typcollation) && tce->typcollation != DEFAULT_COLLATION_OID)
			return NULL;
		coll[i] = OidIsValid(tce->typcollation) ? DEFAULT_COLLATION_OID : InvalidOid;
		fmgr_info_copy(&hash[i], &tce->hash_extended_proc_finfo, CurrentMemoryContext);
		if (c[i]->checked)
		{
			getTypeInputInfo(typid, &infunc, &ioparam[i]);
			fmgr_info(infunc, &input[i]);
			/* cells that failed their check are NULL to the SQL: skip them */
			if (run->nbad[idx] > 0)
			{
				bad[i] = palloc(sizeof(int64) * run->nbad[idx]);
				memcpy(bad[i], run->bad_rows[idx], sizeof(int64) * run->nbad[idx]);
				qsort(bad[i], run->nbad[idx], sizeof(int64), cmp_int64);
			}
		}
		maxatt = Max(maxatt, IR_STAGE_FIELD(c[i]->src));
		i++;
	}

	rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowHash) * maxrows);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "import_rollback duplicate hashes",
								   ALLOCSET_DEFAULT_SIZES);
	stage_scan_begin(&ss, run, maxatt);
	while (stage_scan_next(&ss, &row_no))
	{
		TupleTableSlot *slot = ss.slot;
		uint64		h = 0;
		bool		skip = false;

		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (i = 0; i < n; i++)
		{
			int			a = IR_STAGE_FIELD(c[i]->src) - 1;
			int			idx = (int) (c[i] - run->m->cols);
			Datum		v = slot->tts_values[a];

			if (slot->tts_isnull[a])
			{
				skip = true;	/* a NULL part: never a duplicate */
				break;
			}
			if (c[i]->checked)
			{
				if (bad[i] && bsearch(&row_no, bad[i], run->nbad[idx], sizeof(int64), cmp_int64))
				{
					skip = true;
					break;
				}
				v = InputFunctionCall(&input[i], TextDatumGetCString(v), ioparam[i],
									  c[i]->typmod);
			}
			h = hash_combine64(h, DatumGetUInt64(FunctionCall2Coll(&hash[i], coll[i], v,
																   UInt64GetDatum(0))));
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		if (skip)
			continue;
		if (nrows == maxrows)
		{
			maxrows *= 2;
			rows = repalloc_huge(rows, sizeof(RowHash) * maxrows);
		}
		rows[nrows].hash = h;
		rows[nrows].row_no = row_no;
		nrows++;
	}
	stage_scan_end(&ss);
	MemoryContextDelete(rowcxt);

	sort_row_hash(rows, nrows);
	cand = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * Max(nrows, 1));
	for (int64 r = 0; r < nrows; r++)
		if ((r > 0 && rows[r - 1].hash == rows[r].hash) ||
			(r + 1 < nrows && rows[r + 1].hash == rows[r].hash))
			cand[ncand++] = Int64GetDatum(rows[r].row_no);
	pfree(rows);
	if (ncand == 0)
		return "";
	return add_param(run, INT8ARRAYOID,
					 PointerGetDatum(construct_array(cand, ncand, INT8OID, 8,
													 true, TYPALIGN_DOUBLE)));
}

/*
 * The cells that failed their type check, as one bigint[] parameter of
 * row_no * BAD_CELL_SPAN + column index (one parameter however wide the
 * file); NULL when there are none.
 */
#define BAD_CELL_SPAN 2048

static char *
bad_cells_param(Run *run)
{
	Datum	   *elems;
	int			n = 0;

	for (int i = 0; i < run->m->ncols; i++)
		n += run->nbad[i];
	if (n == 0)
		return NULL;
	elems = palloc(sizeof(Datum) * n);
	n = 0;
	for (int i = 0; i < run->m->ncols; i++)
		for (int k = 0; k < run->nbad[i]; k++)
			elems[n++] = Int64GetDatum(run->bad_rows[i][k] * BAD_CELL_SPAN + i);
	return add_param(run, INT8ARRAYOID,
					 PointerGetDatum(construct_array(elems, n, INT8OID, 8,
													 true, TYPALIGN_DOUBLE)));
}

/* SQL: the typed value of mapped column i, NULL where it failed its check. */
static char *
typed_or_null(Run *run, int i, const char *bad)
{
	IrColumn   *c = &run->m->cols[i];

	if (!c->checked || bad == NULL || run->nbad[i] == 0)
		return ir_typed_expr(c, "s");
	return psprintf("CASE WHEN s.row_no * %d + %d = ANY (%s) THEN NULL::%s ELSE %s END",
					BAD_CELL_SPAN, i, bad, c->sqltype, ir_typed_expr(c, "s"));
}

/* ---------------------------------------------------------------------
 * Set-based checks, as SQL
 * ---------------------------------------------------------------------
 */

/* Append one "UNION ALL SELECT row_no, ord, msg ..." branch. */
static void
branch(Run *run, const char *fmt,...) pg_attribute_printf(2, 3);

static void
branch(Run *run, const char *fmt,...)
{
	va_list		args;
	int			needed;

	appendStringInfoString(&run->sql, "\n  UNION ALL ");
	for (;;)
	{
		va_start(args, fmt);
		needed = appendStringInfoVA(&run->sql, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&run->sql, needed);
	}
}

static const char *
format_regex(const char *format)
{
	if (strcmp(format, "email") == 0)
		return "^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:].]+$";
	if (strcmp(format, "phone") == 0)
		return "^\\+?[0-9 ().-]*[0-9][0-9 ().-]*$";
	return "^https?://[^[:space:]/?#]+[^[:space:]]*$";
}

/* One per-row check: its column ordinal, failing condition and reason. */
typedef struct RowCheck
{
	int			ord;
	char	   *cond;			/* SQL: true when the row fails the check */
	char	   *reason;			/* SQL: text of the reason */
} RowCheck;

static void
add_check(List **checks, int ord, char *cond, char *reason)
{
	RowCheck   *rc = palloc(sizeof(RowCheck));

	rc->ord = ord;
	rc->cond = cond;
	rc->reason = reason;
	*checks = lappend(*checks, rc);
}

/* SQL: raw value c<src> is missing (NULL, empty, or spaces only). */
static char *
missing_sql(int src)
{
	/* btrim only for values that start with a space: most rows skip it */
	return psprintf("(s.c%d IS NULL OR s.c%d = '' OR (ascii(s.c%d) = 32 AND btrim(s.c%d) = ''))",
					src, src, src, src);
}

/* Reference rules: the typed value must exist in schema.table.column. */
static void
reference_check(Run *run, ColumnRule *cr, char **typed, List **checks)
{
	Oid			relid = cr->ref_relid;
	char	   *colname = cr->ref_column;
	int			idx = (int) (cr->col - run->m->cols);

	/* a hashed subplan: the referenced column is read once, per rule */
	add_check(checks, idx + 1,
			  psprintf("(%s IS NOT NULL AND NOT (%s))", typed[idx],
					   ir_sql_op_any(cr->ref_eqop, typed[idx],
									 psprintf("r.%s", quote_identifier(colname)),
									 psprintf("%s r", ir_sql_scan(relid)))),
			  psprintf("%s || ': ' || %s || %s", lit(cr->col->name),
					   shown_value(psprintf("s.c%d", cr->col->src)),
					   lit(psprintf(" is not in %s", cr->arg))));
}

/*
 * Per-row checks, in one scan: key present, required, NOT NULL, pattern,
 * format, allowed, reference and CHECK constraints.  Only rows failing
 * some check (a cheap filter at the scan) are expanded into one
 * (ord, reason) per failed check.
 */
static void
row_checks(Run *run, char **typed)
{
	IrMapping  *m = run->m;
	StringInfoData any;
	StringInfoData v;
	ListCell   *lc;
	List	   *checks = NIL;

	/* key values present */
	for (int k = 0; k < m->nkeys; k++)
	{
		IrColumn   *c;

		if (m->key_col[k] < 0)
			continue;
		c = &m->cols[m->key_col[k]];
		add_check(&checks, m->key_col[k] + 1, missing_sql(c->src),
				  lit(psprintf("%s: key value is missing", c->name)));
	}
	/* required */
	foreach(lc, run->rules.required)
	{
		IrColumn   *c = lfirst(lc);

		if (c->is_key)
			continue;
		add_check(&checks, (int) (c - m->cols) + 1, missing_sql(c->src),
				  lit(psprintf("%s: a value is required", c->name)));
	}
	/* NOT NULL columns of the target */
	for (int i = 0; i < m->ncols; i++)
	{
		IrColumn   *c = &m->cols[i];

		if (!c->notnull || c->is_key || list_member_ptr(run->rules.required, c))
			continue;
		add_check(&checks, i + 1, psprintf("s.c%d IS NULL", c->src),
				  lit(psprintf("%s: null value, but the column is NOT NULL", c->name)));
	}
	/* pattern and format */
	foreach(lc, list_concat_copy(run->rules.patterns, run->rules.formats))
	{
		ColumnRule *cr = lfirst(lc);
		bool		is_format = list_member_ptr(run->rules.formats, cr);
		const char *regex = is_format ? format_regex(cr->arg) : cr->arg;
		char	   *p = add_param(run, TEXTOID, CStringGetTextDatum(regex));
		char	   *what = is_format ?
			psprintf("is not a valid %s", strcmp(cr->arg, "email") == 0 ? "email address" :
					 strcmp(cr->arg, "phone") == 0 ? "phone number" : "URL")
			: psprintf("does not match pattern %s", quote_shown(cr->arg));
		char	   *extra = "";

		if (is_format && strcmp(cr->arg, "phone") == 0)
			extra = psprintf(" OR length(regexp_replace(s.c%d, '[^0-9]', '', 'g')) NOT BETWEEN 6 AND 15",
							 cr->col->src);
		add_check(&checks, (int) (cr->col - m->cols) + 1,
				  psprintf("(s.c%d <> '' AND (s.c%d !~ %s%s))", cr->col->src, cr->col->src, p, extra),
				  psprintf("%s || ': ' || %s || %s", lit(cr->col->name),
						   shown_value(psprintf("s.c%d", cr->col->src)), lit(psprintf(" %s", what))));
	}
	/* allowed */
	foreach(lc, run->rules.allowed)
	{
		ColumnRule *cr = lfirst(lc);
		char	   *p = add_param(run, TEXTARRAYOID, cr->values);

		add_check(&checks, (int) (cr->col - m->cols) + 1,
				  psprintf("(s.c%d IS NOT NULL AND NOT (s.c%d = ANY (%s)))", cr->col->src, cr->col->src, p),
				  psprintf("%s || ': ' || %s || ' is not one of the allowed values'",
						   lit(cr->col->name), shown_value(psprintf("s.c%d", cr->col->src))));
	}
	/* reference */
	foreach(lc, run->rules.references)
		reference_check(run, lfirst(lc), typed, &checks);
	if (checks == NIL)
		return;

	initStringInfo(&any);
	initStringInfo(&v);
	foreach(lc, checks)
	{
		RowCheck   *rc = lfirst(lc);

		appendStringInfo(&any, "%s%s", any.len ? " OR " : "", rc->cond);
		appendStringInfo(&v, "%s(%d, CASE WHEN %s THEN %s END)", v.len ? ", " : "",
						 rc->ord, rc->cond, rc->reason);
	}
	branch(run, "SELECT s.row_no, x.ord, x.msg FROM %s s"
		   " CROSS JOIN LATERAL (VALUES %s) AS x(ord, msg)"
		   " WHERE s.status IS NULL AND (%s) AND x.msg IS NOT NULL",
		   run->stage, v.data, any.data);
}

/*
 * Duplicates of a column set in the file: among the rows the C prefilter
 * left (all rows when it cannot run), find duplicated values with a hash
 * aggregate, then list for each of their rows the rows with an equal value.
 */
static void
duplicate_check(Run *run, List *cols, char **typed, bool is_key)
{
	StringInfoData grp;
	StringInfoData names;
	StringInfoData shown;
	StringInfoData notnull;
	StringInfoData part;
	StringInfoData keys;
	StringInfoData join;
	ListCell   *lc;
	int			ord = 0;
	char	   *cand;

	initStringInfo(&grp);
	initStringInfo(&part);
	initStringInfo(&keys);
	initStringInfo(&join);
	initStringInfo(&names);
	initStringInfo(&shown);
	initStringInfo(&notnull);
	foreach(lc, cols)
	{
		IrColumn   *c = lfirst(lc);
		int			idx = (int) (c - run->m->cols);
		bool		first = (grp.len == 0);

		appendStringInfo(&grp, "%sk%d", first ? "" : ", ", idx);
		appendStringInfo(&part, "%sy.k%d", first ? "" : ", ", idx);
		appendStringInfo(&keys, ", %s AS k%d", typed[idx], idx);
		/* GROUP BY and PARTITION BY use the type's own equality; so does the join */
		appendStringInfo(&join, "%s%s", first ? "" : " AND ",
						 ir_sql_eq(c->typid, psprintf("y.k%d", idx), psprintf("d.k%d", idx)));
		appendStringInfo(&names, "%s%s", first ? "" : ", ", c->name);
		appendStringInfo(&shown, "%s%s", first ? "" : " || ', ' || ", ir_sql_text(typed[idx]));
		appendStringInfo(&notnull, " AND %s IS NOT NULL", typed[idx]);
		if (first)
			ord = idx + 1;
	}
	if (is_key)
		ord = 0;
	{
		int			guard = ir_guard_begin();	/* the types' input and hash functions */

		cand = duplicate_candidates(run, cols);
		ir_guard_end(guard);
	}
	if (cand != NULL && cand[0] == '\0')
		return;					/* no two rows hash alike: no duplicates */
	if (cand != NULL)
		appendStringInfo(&notnull, " AND s.row_no IN (SELECT unnest(%s::bigint[]))", cand);
	branch(run,
		   "SELECT z.row_no, %d, %s || ' (' || z.shown || ') %s (also row'"
		   " || CASE WHEN cardinality(z.others) > 1 THEN 's ' ELSE ' ' END"
		   " || array_to_string(z.others[1:10], ', ')"
		   " || CASE WHEN cardinality(z.others) > 10"
		   "    THEN ' and ' || (cardinality(z.others) - 10) || ' more' ELSE '' END || ')'"
		   " FROM (SELECT y.row_no, y.shown, array_remove(array_agg(y.row_no) OVER"
		   "        (PARTITION BY %s ORDER BY y.row_no"
		   "         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), y.row_no) AS others"
		   "       FROM (SELECT s.row_no, %s AS shown%s FROM %s s WHERE s.status IS NULL%s) y"
		   "       JOIN (SELECT %s FROM (SELECT s.row_no%s FROM %s s WHERE s.status IS NULL%s) x"
		   "             GROUP BY %s HAVING count(*) > 1) d ON %s) z",
		   ord,
		   lit(is_key ? psprintf("duplicate key (%s) =", names.data) : names.data),
		   is_key ? "in the file" : "is not unique in the file",
		   part.data, shown.data, keys.data, run->stage, notnull.data,
		   grp.data, keys.data, run->stage, notnull.data, grp.data, join.data);
}

/* SQL: target record t has the row's key. */
static char *
key_match_sql(Run *run, char **typed)
{
	StringInfoData q;

	initStringInfo(&q);
	for (int k = 0; k < run->m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(run->m, k,
										  psprintf("t.%s", quote_identifier(run->m->key_names[k])),
										  typed[run->m->key_col[k]]));
	return q.data;
}

/* SQL: the target record with the row's key exists. */
static char *
key_exists_sql(Run *run, char **typed)
{
	return psprintf("EXISTS (SELECT 1 FROM %s t WHERE %s)",
					run->m->scan, key_match_sql(run, typed));
}

/* SQL: the row's key values, "(v1, v2)" for reasons. */
static char *
key_text_sql(Run *run, char **typed)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "'(' || ");
	for (int k = 0; k < run->m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " || ', ' || " : "", ir_sql_text(typed[run->m->key_col[k]]));
	appendStringInfoString(&q, " || ')'");
	return q.data;
}

/*
 * Mode and inserts: "insert" rejects existing keys, "update" missing ones;
 * a new record cannot be inserted when a NOT NULL column without default
 * is not in the file.
 */
static void
existence_checks(Run *run, char **typed)
{
	IrMapping  *m = run->m;
	StringInfoData missing;
	StringInfoData keys;
	StringInfoData notnull;
	ListCell   *lc;

	initStringInfo(&missing);
	foreach(lc, ir_unmapped_required(m))
		appendStringInfo(&missing, "%s%s", missing.len ? ", " : "", (char *) lfirst(lc));

	initStringInfo(&keys);
	initStringInfo(&notnull);
	for (int k = 0; k < m->nkeys; k++)
	{
		appendStringInfo(&keys, "%s%s", k ? ", " : "", m->key_names[k]);
		appendStringInfo(&notnull, " AND %s IS NOT NULL", typed[m->key_col[k]]);
	}

	if (strcmp(run->mode, "insert") == 0)
		branch(run, "SELECT s.row_no, 0, %s || %s || %s"
			   " FROM %s s WHERE s.status IS NULL%s AND %s",
			   lit(psprintf("key (%s) = ", keys.data)), key_text_sql(run, typed),
			   lit(psprintf(" already exists in %s (mode insert)", m->table)),
			   run->stage, notnull.data, key_exists_sql(run, typed));
	else if (strcmp(run->mode, "update") == 0)
		branch(run, "SELECT s.row_no, 0, %s || %s || ' (mode update)'"
			   " FROM %s s WHERE s.status IS NULL%s AND NOT %s",
			   lit(psprintf("no record of %s has key (%s) = ", m->table, keys.data)),
			   key_text_sql(run, typed), run->stage, notnull.data,
			   key_exists_sql(run, typed));
	if (missing.len > 0 && strcmp(run->mode, "update") != 0)
		branch(run, "SELECT s.row_no, 0, %s FROM %s s WHERE s.status IS NULL%s AND NOT %s",
			   lit(psprintf("new record, but NOT NULL column%s %s without default %s not in the file",
							strchr(missing.data, ',') ? "s" : "", missing.data,
							strchr(missing.data, ',') ? "are" : "is")),
			   run->stage, notnull.data, key_exists_sql(run, typed));
}

/* ---------------------------------------------------------------------
 * The mapping check
 * ---------------------------------------------------------------------
 */

/* Shape of a sample of values: shares of character classes and structure. */
typedef struct Shape
{
	int			n;
	double		at;				/* share of values containing '@' */
	double		digits;			/* mean share of digits among characters */
	double		letters;		/* mean share of letters */
	double		words;			/* mean number of whitespace-separated words */
	double		length;			/* median length in characters */
	char	   *example;
} Shape;

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/* Shape of the non-empty values of column col (1-based) of tt's n rows. */
static Shape
shape_of(SPITupleTable *tt, uint64 n, int col)
{
	Shape		s;
	int		   *lengths = palloc(sizeof(int) * Max(n, 1));

	memset(&s, 0, sizeof(s));
	for (uint64 r = 0; r < n; r++)
	{
		char	   *v = SPI_getvalue(tt->vals[r], tt->tupdesc, col);
		int			len = 0,
					digits = 0,
					letters = 0,
					words = 0;
		bool		inword = false;
		int			i = s.n;

		if (v == NULL || v[0] == '\0')
			continue;
		s.n++;
		if (i == 0)
			s.example = v;
		for (const unsigned char *p = (unsigned char *) v; *p; p++)
		{
			/* count characters, not bytes: skip UTF-8 continuation bytes */
			if ((*p & 0xC0) == 0x80)
				continue;
			len++;
			if (*p >= '0' && *p <= '9')
				digits++;
			else if (isalpha(*p) || *p >= 0x80)
				letters++;
			if (*p == '@')
				s.at += 1;
			if (isspace(*p))
				inword = false;
			else if (!inword)
			{
				inword = true;
				words++;
			}
		}
		lengths[i] = len;
		if (len > 0)
		{
			s.digits += (double) digits / len;
			s.letters += (double) letters / len;
		}
		s.words += words;
	}
	if (s.n > 0)
	{
		s.at /= s.n;
		s.digits /= s.n;
		s.letters /= s.n;
		s.words /= s.n;
		qsort(lengths, s.n, sizeof(int), cmp_int);
		s.length = lengths[s.n / 2];
	}
	return s;
}

static char *
pct(double share)
{
	return psprintf("%d%%", (int) rint(share * 100));
}

/*
 * Compare the shape of each mapped column's incoming values with a sample
 * of its live values.  A column whose character classes differ by half or
 * more ('@' share, digit share, letter share), or whose values have 3x as
 * many words (and 2 more) or are 4x as long (and 10 characters more),
 * looks like something else.
 */
static void
mapping_check(Run *run, int64 rows_total)
{
	IrMapping  *m = run->m;
	int64		step = Max(1, rows_total / SHAPE_SAMPLE);

	StringInfoData skipped;
	StringInfoData cols;
	SPITupleTable *incoming;
	uint64		nincoming;

	if (run->rules.mapping_check == MC_OFF)
		return;
	initStringInfo(&skipped);

	/* the incoming sample: rows spread over the file, all columns at once */
	initStringInfo(&cols);
	for (int i = 0; i < m->ncols; i++)
		appendStringInfo(&cols, "%ss.c%d", i ? ", " : "", m->cols[i].src);
	ir_spi_exec(psprintf("SELECT %s FROM %s s WHERE s.status IS NULL"
						 " AND s.row_no %% " INT64_FORMAT " = 0 ORDER BY s.row_no LIMIT %d",
						 cols.data, run->stage, step, SHAPE_SAMPLE),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	incoming = SPI_tuptable;
	nincoming = SPI_processed;

	for (int i = 0; i < m->ncols; i++)
	{
		IrColumn   *c = &m->cols[i];
		Shape		live;
		Shape		in;
		StringInfoData why;
		double		wr;
		double		lr;

		ir_spi_exec(psprintf("SELECT %s FROM %s t WHERE t.%s IS NOT NULL LIMIT %d",
							 ir_sql_text(psprintf("t.%s", quote_identifier(c->name))), m->scan,
							 quote_identifier(c->name), SHAPE_SAMPLE),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		live = shape_of(SPI_tuptable, SPI_processed, 1);
		if (live.n < SHAPE_MIN_LIVE)
		{
			appendStringInfo(&skipped, "%s\"%s\" (%d)", skipped.len ? ", " : "",
							 c->name, live.n);
			continue;
		}
		in = shape_of(incoming, nincoming, i + 1);
		if (in.n == 0)
			continue;

		initStringInfo(&why);
		if (fabs(in.at - live.at) >= 0.5)
			appendStringInfo(&why, "%s contain \"@\" (live %s)", pct(in.at), pct(live.at));
		if (fabs(in.digits - live.digits) >= 0.5)
			appendStringInfo(&why, "%s%s of characters are digits (live %s)",
							 why.len ? ", " : "", pct(in.digits), pct(live.digits));
		if (fabs(in.letters - live.letters) >= 0.5)
			appendStringInfo(&why, "%s%s of characters are letters (live %s)",
							 why.len ? ", " : "", pct(in.letters), pct(live.letters));
		wr = Max(in.words, live.words) / Max(Min(in.words, live.words), 0.01);
		if (wr >= 3 && fabs(in.words - live.words) >= 2)
			appendStringInfo(&why, "%s%.1f words per value (live %.1f)",
							 why.len ? ", " : "", in.words, live.words);
		lr = Max(in.length, live.length) / Max(Min(in.length, live.length), 1);
		if (lr >= 4 && fabs(in.length - live.length) >= 10)
			appendStringInfo(&why, "%smedian length %d (live %d)",
							 why.len ? ", " : "", (int) in.length, (int) live.length);
		if (why.len == 0)
			continue;

		{
			char	   *msg = psprintf("column \"%s\" (from file column \"%s\"): incoming values look nothing like its live values: %s; e.g. incoming %s, live %s",
									   c->name, c->src_key, why.data,
									   quote_shown(in.example), quote_shown(live.example));

			if (run->rules.mapping_check == MC_STOP)
				add_stop(run, psprintf("mapping check: %s", msg));
			else
				ereport(WARNING,
						(errmsg("mapping check: %s", msg),
						 errhint("Check the mapping; the batch is not stopped because mapping_check is \"warn\".")));
		}
	}
	if (skipped.len > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

		run->notes = lappend(run->notes,
							 psprintf("mapping check skipped columns with fewer than %d live values: %s",
									  SHAPE_MIN_LIVE, skipped.data));
		MemoryContextSwitchTo(old);
	}
}

/* ---------------------------------------------------------------------
 * The run
 * ---------------------------------------------------------------------
 */

/* Merge corrections over the batch's options; dialect cannot change. */
static Jsonb *
merged_options(IrBatch *batch, Jsonb *given)
{
	ir_check_options(given, IR_IN_VALIDATE, "ir_validate");
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(batch->options),
											  JsonbPGetDatum(given)));
}

/* Join a List of strings. */
static char *
join_list(List *items, const char *sep)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, items)
		appendStringInfo(&buf, "%s%s", buf.len ? sep : "", (char *) lfirst(lc));
	return buf.len ? buf.data : NULL;
}

/* Write this run's rejects; returns how many rows it rejected. */
static int64
mark_rejects(Run *run)
{
	Datum	   *rows;
	Datum	   *ords;
	Datum	   *msgs;
	char	   *p1,
			   *p2,
			   *p3;
	int			n = run->nerr;

	rows = palloc(sizeof(Datum) * Max(n, 1));
	ords = palloc(sizeof(Datum) * Max(n, 1));
	msgs = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		rows[i] = Int64GetDatum(run->err_row[i]);
		ords[i] = Int32GetDatum(run->err_ord[i]);
		msgs[i] = CStringGetTextDatum(run->err_msg[i]);
	}
	/* the type errors are parameters $1..$3, set up before the branches */
	run->paramvalues[0] = PointerGetDatum(construct_array(rows, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	run->paramvalues[1] = PointerGetDatum(construct_array(ords, n, INT4OID, 4, true, TYPALIGN_INT));
	run->paramvalues[2] = PointerGetDatum(construct_array(msgs, n, TEXTOID, -1, false, TYPALIGN_INT));
	p1 = "$1";
	p2 = "$2";
	p3 = "$3";

	ir_spi_exec(psprintf("WITH e(row_no, ord, msg) AS ("
						 " SELECT * FROM unnest(%s::bigint[], %s::int[], %s::text[]) %s),"
						 " a AS (SELECT row_no, array_agg(msg ORDER BY ord, msg) AS errs"
						 "       FROM e GROUP BY row_no)"
						 " UPDATE %s s SET status = 'rejected', errors = a.errs"
						 " FROM a WHERE s.row_no = a.row_no",
						 p1, p2, p3, run->sql.data, run->stage),
				run->nparams, run->paramtypes, run->paramvalues, NULL,
				SPI_OK_UPDATE, NULL);
	return (int64) SPI_processed;
}

/*
 * Validate a batch locked by the caller (ir_batch_fetch for update) with
 * corrections given over its options; the batch ends "validated" or
 * "failed" and res says what was found.
 */
void
ir_validate_batch(IrBatch *batch, Jsonb *given, IrValidation *res)
{
	Run			run;
	Jsonb	   *options;
	JsonbValue *mode;
	IrTarget	target;
	IrLend acc;
	char	  **typed;
	int64		rows_total;
	int64		rows_rejected;
	int64		rows_valid;
	char	   *stop_reason;
	char	   *notes;
	ListCell   *lc;
	bool		key_complete = true;

	ir_batch_require_target(batch);
	if (pg_class_aclcheck(batch->target_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", batch->target_table),
				 errdetail("Validation reads the target table: it needs SELECT privilege on it.")));

	options = merged_options(batch, given);
	ir_check_target(batch->target_relid, options, batch->load_method, &target);

	memset(&run, 0, sizeof(run));
	run.keepcxt = CurrentMemoryContext;
	run.batch = batch;
	run.stage = ir_stage_table(batch->batch_id);
	run.m = ir_mapping_resolve(batch, options, target.key_columns);
	mode = ir_option(options, "mode");
	run.mode = mode ? pnstrdup(mode->val.string.val, mode->val.string.len) : "upsert";
	run.maxerr = 0;
	run.err_row = palloc(sizeof(int64));
	run.err_ord = palloc(sizeof(int));
	run.err_msg = palloc(sizeof(char *));
	parse_rules(&run, options);

	for (int k = 0; k < run.m->nkeys; k++)
		if (run.m->key_col[k] < 0)
		{
			key_complete = false;
			add_stop(&run, psprintf("key column \"%s\" is missing from the file",
										 run.m->key_names[k]));
		}
	foreach(lc, run.rules.required_missing)
		add_stop(&run, psprintf("required column \"%s\" is missing from the file",
									 (char *) lfirst(lc)));

	/* $1..$3: type errors, filled in by mark_rejects */
	run.nparams = 3;
	run.paramtypes[0] = INT8ARRAYOID;
	run.paramtypes[1] = INT4ARRAYOID;
	run.paramtypes[2] = TEXTARRAYOID;
	initStringInfo(&run.sql);

	ir_lend_stage(&acc, batch->batch_id, true);
	SPI_connect();

	/* more room for the hash tables of the duplicate and reference checks */
	if (work_mem < 64 * 1024)
		(void) set_config_option("work_mem", "64MB", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

	/* start over from the raw rows (nothing to clear on a first run) */
	if (batch->rows_rejected > batch->rows_malformed)
		ir_spi_exec(psprintf("UPDATE %s SET status = NULL, errors = NULL WHERE status = 'rejected'",
							 run.stage),
					0, NULL, NULL, NULL, SPI_OK_UPDATE, NULL);
	{
		/* the types' input functions and CHECK constraints are user code */
		int			guard = ir_guard_begin();

		check_types(&run);
		ir_guard_end(guard);
	}

	typed = palloc(sizeof(char *) * run.m->ncols);
	{
		char	   *bad = bad_cells_param(&run);

		for (int i = 0; i < run.m->ncols; i++)
			typed[i] = typed_or_null(&run, i, bad);
	}

	row_checks(&run, typed);
	if (key_complete)
	{
		List	   *keycols = NIL;

		for (int k = 0; k < run.m->nkeys; k++)
			keycols = lappend(keycols, &run.m->cols[run.m->key_col[k]]);
		duplicate_check(&run, keycols, typed, true);
		existence_checks(&run, typed);
	}
	foreach(lc, run.rules.unique_sets)
		duplicate_check(&run, lfirst(lc), typed, false);

	/* counts: malformed at staging, plus what this run rejected */
	rows_total = batch->rows_total;
	rows_rejected = batch->rows_malformed + mark_rejects(&run);
	rows_valid = rows_total - rows_rejected;

	/* hard stops */
	if (rows_total > 0 && (double) rows_rejected / rows_total > run.rules.max_reject_ratio)
		add_stop(&run, psprintf("rejected rows " INT64_FORMAT " of " INT64_FORMAT " (%.1f%%) exceed max_reject_ratio %s",
									 rows_rejected, rows_total,
									 100.0 * rows_rejected / rows_total,
									 double_text(run.rules.max_reject_ratio)));
	if (run.rules.max_reject_count >= 0 && rows_rejected > run.rules.max_reject_count)
		add_stop(&run, psprintf("rejected rows " INT64_FORMAT " exceed max_reject_count " INT64_FORMAT,
									 rows_rejected, run.rules.max_reject_count));
	if (run.rules.expect_rows >= 0 && rows_total != run.rules.expect_rows)
		add_stop(&run, psprintf("the file has " INT64_FORMAT " rows, expected " INT64_FORMAT,
									 rows_total, run.rules.expect_rows));
	if (run.rules.max_touch_ratio >= 0 && key_complete)
	{
		StringInfoData differs;
		int64		existing;
		int64		touched;
		bool		isnull;
		char	  **valid_typed = palloc(sizeof(char *) * run.m->ncols);

		initStringInfo(&differs);
		for (int i = 0; i < run.m->ncols; i++)
		{
			valid_typed[i] = ir_typed_expr(&run.m->cols[i], "s");
			if (!run.m->cols[i].is_key)
				appendStringInfo(&differs, "%s%s", differs.len ? " OR " : "",
								 ir_distinct_sql(&run.m->cols[i],
												 psprintf("t.%s", quote_identifier(run.m->cols[i].name)),
												 valid_typed[i]));
		}
		ir_spi_exec(psprintf("SELECT (SELECT count(*) FROM %s),"
							 " (SELECT count(*) FROM %s s WHERE s.status IS NULL AND %s)",
							 run.m->scan, run.stage,
							 differs.len ? psprintf("EXISTS (SELECT 1 FROM %s t WHERE %s AND (%s))",
													run.m->scan,
													key_match_sql(&run, valid_typed),
													differs.data)
							 : "false"),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		existing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		touched = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (existing > 0 && (double) touched / existing > run.rules.max_touch_ratio)
			add_stop(&run, psprintf("the batch would change " INT64_FORMAT " of the " INT64_FORMAT " existing records (%.1f%%), more than max_touch_ratio %s",
										 touched, existing, 100.0 * touched / existing,
										 double_text(run.rules.max_touch_ratio)));
	}
	mapping_check(&run, rows_total);

	SPI_finish();
	ir_lend_end(&acc);

	stop_reason = join_list(run.stops, "; ");
	notes = join_list(run.notes, "; ");
	if (notes)
		ereport(NOTICE, (errmsg("%s", notes)));

	/* record the run and the batch's new state */
	ir_store_validation_run(batch->batch_id, options, run.m->nkeys, run.m->key_names,
							rows_total, rows_valid, rows_rejected, stop_reason, notes);
	ir_batch_transition(batch, stop_reason ? IR_FAILED : IR_VALIDATED, stop_reason);
	batch->options = options;
	batch->key_columns = target.key_columns;
	batch->validated = true;
	batch->rows_total = rows_total;
	batch->rows_rejected = rows_rejected;

	res->rows_total = rows_total;
	res->rows_valid = rows_valid;
	res->rows_rejected = rows_rejected;
	res->stop_reason = stop_reason;
}
