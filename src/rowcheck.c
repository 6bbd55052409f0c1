/*-------------------------------------------------------------------------
 *
 * rowcheck.c
 *	  The set-based checks of a validation, built as branches of the one
 *	  statement that writes the run's rejects (validate.c): per row (key
 *	  present, required, NOT NULL, pattern, format, allowed, and a
 *	  reference livecheck.c cannot look up by value: one scan, expanding
 *	  only failing rows), per file (the key and every
 *	  unique_in_file set unique in the file, among the rows typecheck.c's
 *	  prefilter left), and against the target (mode insert/update, new
 *	  records lacking a NOT NULL column).  Every comparison of typed values
 *	  comes from sqlgen.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "exec.h"
#include "formats.h"
#include "options.h"
#include "pending.h"
#include "sqlgen.h"
#include "validate.h"

/*
 * The cells that failed their type check, as one bigint[] parameter of
 * row_no * BAD_CELL_SPAN + column index (one parameter however wide the
 * file); NULL when there are none.
 */
#define BAD_CELL_SPAN 2048

char *
ir_bad_cells_param(Run *run)
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
	return ir_run_param(run, INT8ARRAYOID, ir_int8_array(elems, n));
}

/* SQL: the typed value of mapped column i, NULL where it failed its check. */
char *
ir_typed_or_null(Run *run, int i, const char *bad)
{
	IrColumn   *c = &run->m->cols[i];

	if (!c->checked || bad == NULL || run->nbad[i] == 0)
		return ir_typed_expr(c, "s");
	return psprintf("CASE WHEN s.row_no * %d + %d = ANY (%s) THEN NULL::%s ELSE %s END",
					BAD_CELL_SPAN, i, bad, c->sqltype, ir_typed_expr(c, "s"));
}

/* SQL: the row's cell of mapped column i passed its check in C, or NULL when all did. */
char *
ir_cell_ok_sql(Run *run, int i)
{
	if (!run->m->cols[i].checked || run->bad == NULL || run->nbad[i] == 0)
		return NULL;
	return psprintf("NOT (s.row_no * %d + %d = ANY (%s))", BAD_CELL_SPAN, i, run->bad);
}

/* Append one "UNION ALL SELECT row_no, ord, msg ..." branch. */
void
ir_run_branch(Run *run, const char *fmt,...)
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

/* One per-row check: its column ordinal, failing condition and reason. */
typedef struct RowCheck
{
	int			ord;
	char	   *cond;			/* SQL: true when the row fails the check */
	char	   *reason;			/* SQL: text of the reason */
	bool		in_c;			/* cellcheck.c made it in the type pass */
} RowCheck;

static RowCheck *
add_check(List **checks, int ord, char *cond, char *reason)
{
	RowCheck   *rc = palloc(sizeof(RowCheck));

	rc->ord = ord;
	rc->cond = cond;
	rc->reason = reason;
	rc->in_c = true;
	*checks = lappend(*checks, rc);
	return rc;
}

/* SQL: a column's text (ir_text_expr) is missing (NULL, empty, or spaces only). */
static char *
missing_sql(const char *t)
{
	/* btrim only for values that start with a space: most rows skip it */
	return psprintf("(%s IS NULL OR %s = '' OR (ascii(%s) = 32 AND btrim(%s) = ''))",
					t, t, t, t);
}

/* SQL: the reason of a row whose value of reference rule cr is not in its table. */
char *
ir_reference_reason(ColumnRule *cr)
{
	return psprintf("%s || ': ' || %s || %s", ir_run_lit(cr->col->name),
					ir_run_shown(ir_text_expr(cr->col, "s")),
					ir_run_lit(psprintf(" is not in %s", cr->arg)));
}

/* Reference rules: the typed value must exist in schema.table.column. */
static void
reference_check(Run *run, ColumnRule *cr, char **typed, List **checks)
{
	Oid			relid = cr->ref_relid;
	char	   *colname = cr->ref_column;
	int			idx = (int) (cr->col - run->m->cols);

	char	   *found;
	ListCell   *lc;

	/* a hashed subplan: the referenced column is read once, per rule */
	found = ir_sql_op_any(cr->ref_eqop, typed[idx], psprintf("r.%s", quote_identifier(colname)),
						  psprintf("%s r", ir_sql_scan(relid)));
	/* or a run's earlier member will write it */
	foreach(lc, ir_pending_for(relid))
	{
		IrPending  *p = lfirst(lc);

		if (ir_pending_expr(p, colname))
			found = psprintf("%s OR %s", found,
							 ir_sql_op_any(cr->ref_eqop, typed[idx], ir_pending_expr(p, colname),
										   ir_pending_rows_sql(p)));
	}
	add_check(checks, idx + 1,
			  psprintf("(%s IS NOT NULL AND NOT (%s))", typed[idx], found),
			  ir_reference_reason(cr))->in_c = false;
}

/* The rows cellcheck.c flagged, as a bigint[]. */
static Datum
flagged_rows(Run *run)
{
	Datum	   *elems = palloc(sizeof(Datum) * run->nflagged);

	for (int i = 0; i < run->nflagged; i++)
		elems[i] = Int64GetDatum(run->flagged[i]);
	return ir_int8_array(elems, run->nflagged);
}

/*
 * Per-row checks, in one scan: key present, required, NOT NULL, pattern,
 * format, allowed, and a reference livecheck.c cannot look up by value.
 * The type pass made all but the last in C and flagged the rows failing
 * one (cellcheck.c): only those are looked at for them here, and the
 * reasons are the SQL's.  Only rows failing some check (a cheap filter at
 * the scan) are expanded into one (ord, reason) per failed check.
 */
void
ir_row_checks(Run *run, char **typed)
{
	IrMapping  *m = run->m;
	StringInfoData any_c;
	StringInfoData any_sql;
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
		add_check(&checks, m->key_col[k] + 1, missing_sql(ir_text_expr(c, "s")),
				  ir_run_lit(psprintf("%s: key value is missing", c->name)));
	}
	/* required */
	foreach(lc, run->rules.required)
	{
		IrColumn   *c = lfirst(lc);

		if (c->is_key)
			continue;
		add_check(&checks, (int) (c - m->cols) + 1, missing_sql(ir_text_expr(c, "s")),
				  ir_run_lit(psprintf("%s: a value is required", c->name)));
	}
	/* NOT NULL columns of the target */
	for (int i = 0; i < m->ncols; i++)
	{
		IrColumn   *c = &m->cols[i];

		if (!c->notnull || c->is_key || list_member_ptr(run->rules.required, c))
			continue;
		add_check(&checks, i + 1, psprintf("%s IS NULL", ir_text_expr(c, "s")),
				  ir_run_lit(psprintf("%s: null value, but the column is NOT NULL", c->name)));
	}
	/* pattern: PostgreSQL's regex engine */
	foreach(lc, run->rules.patterns)
	{
		ColumnRule *cr = lfirst(lc);
		char	   *p = ir_run_param(run, TEXTOID, CStringGetTextDatum(cr->arg));
		char	   *t = ir_text_expr(cr->col, "s");

		add_check(&checks, (int) (cr->col - m->cols) + 1,
				  psprintf("(%s <> '' AND %s !~ %s)", t, t, p),
				  psprintf("%s || ': ' || %s || %s", ir_run_lit(cr->col->name), ir_run_shown(t),
						   ir_run_lit(psprintf(" does not match pattern %s", ir_quote_shown(cr->arg)))));
	}
	/* format: checked in C (formats.c) */
	foreach(lc, run->rules.formats)
	{
		ColumnRule *cr = lfirst(lc);
		IrFormat	f = strcmp(cr->arg, "email") == 0 ? IR_FORMAT_EMAIL :
			strcmp(cr->arg, "phone") == 0 ? IR_FORMAT_PHONE : IR_FORMAT_URL;
		const char *what = f == IR_FORMAT_EMAIL ? "email address" :
			f == IR_FORMAT_PHONE ? "phone number" : "URL";
		char	   *t = ir_text_expr(cr->col, "s");

		add_check(&checks, (int) (cr->col - m->cols) + 1,
				  psprintf("(%s <> '' AND NOT import_rollback.ir_format(%s, %d))", t, t, (int) f),
				  psprintf("%s || ': ' || %s || %s", ir_run_lit(cr->col->name), ir_run_shown(t),
						   ir_run_lit(psprintf(" is not a valid %s", what))));
	}
	/* allowed */
	foreach(lc, run->rules.allowed)
	{
		ColumnRule *cr = lfirst(lc);
		char	   *p = ir_run_param(run, TEXTARRAYOID, cr->values);
		char	   *t = ir_text_expr(cr->col, "s");

		add_check(&checks, (int) (cr->col - m->cols) + 1,
				  psprintf("(%s IS NOT NULL AND NOT (%s = ANY (%s)))", t, t, p),
				  psprintf("%s || ': ' || %s || ' is not one of the allowed values'",
						   ir_run_lit(cr->col->name), ir_run_shown(t)));
	}
	/* reference */
	foreach(lc, run->rules.references)
		if (!((ColumnRule *) lfirst(lc))->collected)
			reference_check(run, lfirst(lc), typed, &checks);
	if (checks == NIL)
		return;

	/*
	 * The checks made in C look only at the rows the type pass flagged (none
	 * at all in an honest file); the others at every row.
	 */
	initStringInfo(&any_c);
	initStringInfo(&any_sql);
	initStringInfo(&v);
	foreach(lc, checks)
	{
		RowCheck   *rc = lfirst(lc);
		bool		in_c = rc->in_c && run->cells_checked;

		if (in_c && run->nflagged == 0)
			continue;
		appendStringInfo(in_c ? &any_c : &any_sql, "%s%s",
						 (in_c ? any_c.len : any_sql.len) ? " OR " : "", rc->cond);
		appendStringInfo(&v, "%s(%d, CASE WHEN %s THEN %s END)", v.len ? ", " : "",
						 rc->ord, rc->cond, rc->reason);
	}
	if (v.len == 0)
		return;
	if (any_c.len)
		any_c.data = psprintf("(s.row_no = ANY (%s) AND (%s))",
							  ir_run_param(run, INT8ARRAYOID, flagged_rows(run)), any_c.data);
	ir_run_branch(run, "SELECT s.row_no, x.ord, x.msg FROM %s s"
		   " CROSS JOIN LATERAL (VALUES %s) AS x(ord, msg)"
		   " WHERE s.status IS NULL AND (%s%s%s) AND x.msg IS NOT NULL",
		   run->stage, v.data, any_c.len ? any_c.data : "",
		   any_c.len && any_sql.len ? " OR " : "", any_sql.len ? any_sql.data : "");
}

/*
 * Duplicates of a column set in the file: among the rows the C prefilter
 * left (all rows when it cannot run), find duplicated values with a hash
 * aggregate, then list for each of their rows the rows with an equal value.
 */
static void
duplicates(Run *run, List *cols, char **typed, int ord, const char *label, const char *what,
		   const char *filter, bool nulls_distinct)
{
	StringInfoData grp;
	StringInfoData names;
	StringInfoData shown;
	StringInfoData notnull;
	StringInfoData part;
	StringInfoData keys;
	StringInfoData join;
	ListCell   *lc;
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
						 nulls_distinct ?
						 ir_sql_eq(c->typid, psprintf("y.k%d", idx), psprintf("d.k%d", idx)) :
						 psprintf("(%s OR (y.k%d IS NULL AND d.k%d IS NULL))",
								  ir_sql_eq(c->typid, psprintf("y.k%d", idx), psprintf("d.k%d", idx)),
								  idx, idx));
		appendStringInfo(&names, "%s%s", first ? "" : ", ", c->name);
		appendStringInfo(&shown, "%s%s", first ? "" : " || ', ' || ",
						 psprintf("coalesce(%s, 'null')", ir_sql_text(typed[idx])));
		if (nulls_distinct)
			appendStringInfo(&notnull, " AND %s IS NOT NULL", typed[idx]);
	}
	appendStringInfoString(&notnull, filter);
	/* the prefilter never pairs rows with a NULL part */
	cand = nulls_distinct ? ir_duplicate_candidates(run, cols) : NULL;
	if (cand != NULL && cand[0] == '\0')
		return;					/* no two rows hash alike: no duplicates */
	if (cand != NULL)
		appendStringInfo(&notnull, " AND s.row_no IN (SELECT unnest(%s::bigint[]))", cand);
	ir_run_branch(run,
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
		   ord, ir_run_lit(label), what,
		   part.data, shown.data, keys.data, run->stage, notnull.data,
		   grp.data, keys.data, run->stage, notnull.data, grp.data, join.data);
}

/* The key (is_key) or a unique_in_file set: its values unique in the file. */
void
ir_duplicate_check(Run *run, List *cols, char **typed, bool is_key)
{
	StringInfoData names;
	ListCell   *lc;

	initStringInfo(&names);
	foreach(lc, cols)
		appendStringInfo(&names, "%s%s", names.len ? ", " : "", ((IrColumn *) lfirst(lc))->name);
	duplicates(run, cols, typed,
			   is_key ? 0 : (int) ((IrColumn *) linitial(cols) - run->m->cols) + 1,
			   is_key ? psprintf("duplicate key (%s) =", names.data) : names.data,
			   is_key ? "in the file" : "is not unique in the file", "", true);
}

/* A unique index's columns: unique in the file, among the rows filter keeps. */
void
ir_unique_in_file(Run *run, List *cols, char **typed, const char *label, const char *filter,
				  bool nulls_distinct)
{
	duplicates(run, cols, typed, (int) ((IrColumn *) linitial(cols) - run->m->cols) + 1,
			   label, "is already in the file", filter, nulls_distinct);
}

/* SQL: the key of target record alias, "(v1, v2)", for reasons. */
char *
ir_run_key_text(Run *run, const char *alias)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "'(' || ");
	for (int k = 0; k < run->m->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " || ', ' || " : "",
						 ir_sql_text(psprintf("%s.%s", alias, quote_identifier(run->m->key_names[k]))));
	appendStringInfoString(&q, " || ')'");
	return q.data;
}

/* SQL: target record t has the row's key. */
char *
ir_run_key_match(Run *run, char **typed)
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
					run->m->scan, ir_run_key_match(run, typed));
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
void
ir_existence_checks(Run *run, char **typed)
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
		ir_run_branch(run, "SELECT s.row_no, 0, %s || %s || %s"
			   " FROM %s s WHERE s.status IS NULL%s AND %s",
			   ir_run_lit(psprintf("key (%s) = ", keys.data)), key_text_sql(run, typed),
			   ir_run_lit(psprintf(" already exists in %s (mode insert)", m->table)),
			   run->stage, notnull.data, key_exists_sql(run, typed));
	else if (strcmp(run->mode, "update") == 0)
		ir_run_branch(run, "SELECT s.row_no, 0, %s || %s || ' (mode update)'"
			   " FROM %s s WHERE s.status IS NULL%s AND NOT %s",
			   ir_run_lit(psprintf("no record of %s has key (%s) = ", m->table, keys.data)),
			   key_text_sql(run, typed), run->stage, notnull.data,
			   key_exists_sql(run, typed));
	if (missing.len > 0 && strcmp(run->mode, "update") != 0)
		ir_run_branch(run, "SELECT s.row_no, 0, %s FROM %s s WHERE s.status IS NULL%s AND NOT %s",
			   ir_run_lit(psprintf("new record, but NOT NULL column%s %s without default %s not in the file",
							strchr(missing.data, ',') ? "s" : "", missing.data,
							strchr(missing.data, ',') ? "are" : "is")),
			   run->stage, notnull.data, key_exists_sql(run, typed));
}

/*
 * "exclude": rows rejected by hand, {"rows": [17, 42], "reason": "..."},
 * kept with the batch's options (a later validation without it keeps
 * them excluded; {"exclude": null} lifts it).
 */
void
ir_exclude_check(Run *run)
{
	JsonbValue *ex = ir_option(run->options, "exclude");
	JsonbValue *rows;
	JsonbValue *reason;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Datum	   *elems;
	int			n = 0;
	int			max = 16;

	if (ex == NULL || ex->type != jbvBinary)
		return;
	rows = getKeyJsonValueFromContainer(ex->val.binary.data, "rows", 4, NULL);
	reason = getKeyJsonValueFromContainer(ex->val.binary.data, "reason", 6, NULL);
	if (rows == NULL || reason == NULL || reason->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"exclude\" needs \"rows\" and \"reason\""),
				 errhint("Exclude rows as {\"rows\": [17, 42], \"reason\": \"why\"}.")));
	elems = palloc(sizeof(Datum) * max);
	it = JsonbIteratorInit(rows->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int64		row;

		if (tok != WJB_ELEM || !ir_json_count(&v, &row))
			continue;			/* shape checked by options.c */
		if (n == max)
		{
			max *= 2;
			elems = repalloc(elems, sizeof(Datum) * max);
		}
		elems[n++] = Int64GetDatum(row);
	}
	ir_run_branch(run, "SELECT s.row_no, 0, %s FROM %s s WHERE s.status IS NULL AND s.row_no = ANY (%s)",
				  ir_run_lit(psprintf("excluded: %s", pnstrdup(reason->val.string.val, reason->val.string.len))),
				  run->stage,
				  ir_run_param(run, INT8ARRAYOID, ir_int8_array(elems, n)));
}
