/*-------------------------------------------------------------------------
 *
 * guards.c
 *	  Post-apply guards: the runbook's rollback triggers, checked inside
 *	  the apply after every write and before commit (apply.c, and a run's
 *	  apply after its last member's writes):
 *	    blank      {"col": ratio}: share of the records the batch wrote
 *	               whose column is NULL (or '' for text) afterwards
 *	    orphans    [{"child": "schema.table.column", "max_ratio": r}]: share
 *	               of the records the batch wrote that no child row
 *	               references (by the batch's single-column key)
 *	    unchanged  [{"<key>": value, ...}]: sentinel records the batch must
 *	               not write
 *	    check      [{"name": "...", "sql": "SELECT ..."}]: one boolean,
 *	               true while all is well; run as the caller, read-only,
 *	               under the pinned search_path (qualify its names)
 *	  Each is set-based over the batch's change log joined to the target
 *	  by key: cost follows the batch, not the table.  The first guard that
 *	  trips is reported with its measured value and its limit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/varlena.h"

#include "exec.h"
#include "guards.h"
#include "options.h"
#include "sqlgen.h"
#include "storage.h"
#include "target.h"

static void
guard_error(const char *guard, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("guard \"%s\" must be %s", guard, what)));
}

/*
 * The elements of a guard that is an array of objects (what names the
 * shape, for the error): a List of JsonbValue *, each a jbvBinary object.
 */
static List *
guard_objects(JsonbValue *guard, const char *name, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *result = NIL;

	if (guard->type != jbvBinary || !JsonContainerIsArray(guard->val.binary.data))
		guard_error(name, what);
	it = JsonbIteratorInit(guard->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			guard_error(name, what);
		result = lappend(result, memcpy(palloc(sizeof(JsonbValue)), &v, sizeof(JsonbValue)));
	}
	return result;
}

/* "12.3%" of a share, for messages. */
static char *
pct(double share)
{
	char	   *s = psprintf("%.1f", 100.0 * share);
	size_t		n = strlen(s);

	if (n > 2 && strcmp(s + n - 2, ".0") == 0)
		s[n - 2] = '\0';
	return psprintf("%s%%", s);
}

/* SQL: log entries l of the apply, each joined to the record t it wrote. */
static char *
written_sql(const IrGuardTarget *gt)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "%s l JOIN %s t ON ", gt->log, gt->scan);
	for (int k = 0; k < gt->nkeys; k++)
		appendStringInfo(&q, "%s%s", k ? " AND " : "",
						 ir_sql_op(gt->key_eqop[k], psprintf("t.%s", quote_identifier(gt->keys[k])),
								   psprintf("l.n%d", gt->keypos[k] + 1)));
	appendStringInfoString(&q, " WHERE l.action IN ('insert', 'update')");
	return q.data;
}

/* blank: the share of written records whose column is NULL or ''. */
static char *
check_blank(const IrGuardTarget *gt, JsonbValue *blank, bool run)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData counts;
	List	   *names = NIL;
	List	   *limits = NIL;
	char	   *col = NULL;
	int			i = 0;
	bool		isnull;
	int64		written;
	ListCell   *lc;

	if (blank->type != jbvBinary || !JsonContainerIsObject(blank->val.binary.data))
		guard_error("blank", "an object of columns and ratios");
	initStringInfo(&counts);
	it = JsonbIteratorInit(blank->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		AttrNumber	attnum;
		double	   *limit;
		char	   *t;

		if (tok == WJB_KEY)
		{
			col = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		limit = palloc(sizeof(double));
		if (!ir_json_ratio(&v, limit))
			guard_error("blank", psprintf("an object of columns and ratios between 0 and 1 (\"%s\")", col));
		attnum = get_attnum(gt->relid, col);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", col, get_rel_name(gt->relid)),
					 errdetail("Guard \"blank\" names it.")));
		t = psprintf("t.%s", quote_identifier(col));
		appendStringInfo(&counts, ", pg_catalog.count(*) FILTER (WHERE %s IS NULL%s)", t,
						 TypeCategory(get_atttype(gt->relid, attnum)) == TYPCATEGORY_STRING ?
						 psprintf(" OR import_rollback.ir_text(%s) OPERATOR(pg_catalog.=) ''", t) : "");
		names = lappend(names, col);
		limits = lappend(limits, limit);
	}
	if (names == NIL || !run)
		return NULL;
	if (gt->blank_counts)
		written = gt->written;	/* counted as the log was written */
	else
	{
		ir_spi_exec(psprintf("SELECT pg_catalog.count(*)%s FROM %s", counts.data, written_sql(gt)),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		written = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	foreach(lc, names)
	{
		int64		n = gt->blank_counts ? gt->blank_counts[i] :
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 2, &isnull));
		double		share = written > 0 ? (double) n / written : 0;
		double		limit = *(double *) list_nth(limits, i);

		i++;
		if (share > limit)
			return psprintf("guard \"blank\" on \"%s\": %s of written records, limit %s",
							(char *) lfirst(lc), pct(share), pct(limit));
	}
	return NULL;
}

/* orphans: the share of written records no row of a child table references. */
static char *
check_orphans(const IrGuardTarget *gt, JsonbValue *orphans, bool run)
{
	const char *shape = "an array of {\"child\": \"schema.table.column\", \"max_ratio\": r}";
	ListCell   *lc;

	foreach(lc, guard_objects(orphans, "orphans", shape))
	{
		JsonbContainer *obj = ((JsonbValue *) lfirst(lc))->val.binary.data;
		JsonbValue *child;
		JsonbValue *ratio;
		char	   *spec;
		List	   *parts;
		Oid			relid;
		AttrNumber	attnum;
		Oid			eqop;
		double		limit;
		bool		isnull;
		int64		written;
		int64		orphaned;

		child = getKeyJsonValueFromContainer(obj, "child", 5, NULL);
		ratio = getKeyJsonValueFromContainer(obj, "max_ratio", 9, NULL);
		if (child == NULL || child->type != jbvString || ratio == NULL || !ir_json_ratio(ratio, &limit))
			guard_error("orphans", shape);
		if (gt->nkeys != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("guard \"orphans\" needs a batch with a single-column key")));
		spec = pnstrdup(child->val.string.val, child->val.string.len);
		if (!SplitIdentifierString(pstrdup(spec), '.', &parts) || list_length(parts) != 3)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("child \"%s\" of guard \"orphans\" must be \"schema.table.column\"", spec)));
		relid = RangeVarGetRelid(makeRangeVar(linitial(parts), lsecond(parts), -1), AccessShareLock, false);
		attnum = get_attnum(relid, lthird(parts));
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							(char *) lthird(parts), get_rel_name(relid)),
					 errdetail("Guard \"orphans\" names it.")));
		if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
			pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", get_rel_name(relid)),
					 errdetail("Guard \"orphans\" reads it.")));
		if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("row security applies to you on table \"%s\"", get_rel_name(relid)),
					 errdetail("Guard \"orphans\" would see only some of its rows.")));
		eqop = ir_compatible_eq_operator(get_atttype(relid, attnum),
										 get_atttype(gt->relid, get_attnum(gt->relid, gt->keys[0])));
		if (!OidIsValid(eqop))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("child \"%s\" of guard \"orphans\" cannot be compared with key column \"%s\"",
							spec, gt->keys[0])));
		if (!run)
			continue;
		/* NOT EXISTS in WHERE, not in a FILTER: an anti join, not a subplan per record */
		ir_spi_exec(psprintf("SELECT (SELECT pg_catalog.count(*) FROM %s l WHERE l.action IN ('insert', 'update')),"
							 " (SELECT pg_catalog.count(*) FROM %s l WHERE l.action IN ('insert', 'update')"
							 "   AND NOT EXISTS (SELECT 1 FROM %s c WHERE %s))",
							 gt->log, gt->log, ir_sql_scan(relid),
							 ir_sql_op(eqop, psprintf("c.%s", quote_identifier(lthird(parts))),
									   psprintf("l.n%d", gt->keypos[0] + 1))),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		written = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		orphaned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (written > 0 && (double) orphaned / written > limit)
			return psprintf("guard \"orphans\" on \"%s\": %s of written records have no child row, limit %s",
							spec, pct((double) orphaned / written), pct(limit));
	}
	return NULL;
}

/*
 * unchanged: sentinel records the batch must not have written.  All of
 * them are looked for in one statement: the sentinels' keys as one array
 * per key column, unnested and semi-joined to the change log (one scan of
 * the log, hashed when the key's equality can hash), not one scan of the
 * log per sentinel.
 */
static char *
check_unchanged(const IrGuardTarget *gt, JsonbValue *unchanged, bool run)
{
	List	   *sentinels = guard_objects(unchanged, "unchanged",
										  "an array of record keys, such as [{\"id\": 17}]");
	int			n = list_length(sentinels);
	Datum	  **values = palloc(sizeof(Datum *) * gt->nkeys);
	char	  **shown = palloc(sizeof(char *) * Max(n, 1));
	Oid		   *types = palloc(sizeof(Oid) * gt->nkeys);
	Oid		   *arrtypes = palloc(sizeof(Oid) * gt->nkeys);
	FmgrInfo   *infuncs = palloc(sizeof(FmgrInfo) * gt->nkeys);
	Oid		   *ioparams = palloc(sizeof(Oid) * gt->nkeys);
	Datum	   *arrays = palloc(sizeof(Datum) * gt->nkeys);
	StringInfoData q;
	StringInfoData cols;
	StringInfoData names;
	bool		isnull;
	Datum		found;
	Oid			infunc;
	int			i = 0;
	ListCell   *lc;

	initStringInfo(&names);
	for (int k = 0; k < gt->nkeys; k++)
	{
		types[k] = get_atttype(gt->relid, get_attnum(gt->relid, gt->keys[k]));
		arrtypes[k] = get_array_type(types[k]);
		if (!OidIsValid(arrtypes[k]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("guard \"unchanged\" needs an array type of key column \"%s\"",
							gt->keys[k])));
		getTypeInputInfo(types[k], &infunc, &ioparams[k]);
		fmgr_info(infunc, &infuncs[k]);
		values[k] = palloc(sizeof(Datum) * Max(n, 1));
		appendStringInfo(&names, "%s%s", k ? ", " : "", quote_identifier(gt->keys[k]));
	}
	foreach(lc, sentinels)
	{
		JsonbContainer *obj = ((JsonbValue *) lfirst(lc))->val.binary.data;
		StringInfoData str;

		initStringInfo(&str);
		for (int k = 0; k < gt->nkeys; k++)
		{
			JsonbValue *kv = getKeyJsonValueFromContainer(obj, gt->keys[k],
														  strlen(gt->keys[k]), NULL);
			char	   *v;

			if (kv == NULL || (kv->type != jbvString && kv->type != jbvNumeric))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a record of guard \"unchanged\" has no value for key column \"%s\"",
								gt->keys[k])));
			v = kv->type == jbvString ? pnstrdup(kv->val.string.val, kv->val.string.len) :
				DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(kv->val.numeric)));
			values[k][i] = InputFunctionCall(&infuncs[k], v, ioparams[k], -1);
			appendStringInfo(&str, "%s%s", k ? ", " : "", v);
		}
		shown[i++] = str.data;
	}
	if (!run || n == 0)
		return NULL;

	initStringInfo(&q);
	initStringInfo(&cols);
	for (int k = 0; k < gt->nkeys; k++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(types[k], &typlen, &typbyval, &typalign);
		arrays[k] = PointerGetDatum(construct_array(values[k], n, types[k], typlen, typbyval, typalign));
		appendStringInfo(&cols, "%spg_catalog.unnest($%d)", k ? ", " : "", k + 1);
	}
	appendStringInfo(&q, "SELECT pg_catalog.min(s.i) FROM ROWS FROM (%s) WITH ORDINALITY s(", cols.data);
	for (int k = 0; k < gt->nkeys; k++)
		appendStringInfo(&q, "k%d, ", k + 1);
	appendStringInfo(&q, "i) WHERE EXISTS (SELECT 1 FROM %s l WHERE l.action IN ('insert', 'update')",
					 gt->log);
	for (int k = 0; k < gt->nkeys; k++)
		appendStringInfo(&q, " AND %s", ir_sql_op(gt->key_eqop[k],
												  psprintf("coalesce(l.n%d, l.o%d)", gt->keypos[k] + 1,
														   gt->keypos[k] + 1),
												  psprintf("s.k%d", k + 1)));
	appendStringInfoChar(&q, ')');
	ir_spi_exec(q.data, gt->nkeys, arrtypes, arrays, NULL, SPI_OK_SELECT, NULL);
	found = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		return psprintf("guard \"unchanged\": the batch wrote sentinel record (%s)=(%s)",
						names.data, shown[DatumGetInt64(found) - 1]);
	return NULL;
}

static void
check_error_callback(void *arg)
{
	errcontext("guard check \"%s\"", (const char *) arg);
}

/* check: each statement must return one true, run read-only as the caller. */
static char *
check_statements(JsonbValue *checks, bool run)
{
	const char *shape = "an array of {\"name\": \"...\", \"sql\": \"SELECT ...\"}";
	ListCell   *lc;

	foreach(lc, guard_objects(checks, "check", shape))
	{
		JsonbContainer *obj = ((JsonbValue *) lfirst(lc))->val.binary.data;
		JsonbValue *name;
		JsonbValue *sql;
		char	   *nm;
		ErrorContextCallback errcallback;
		SPIPlanPtr	plan;
		bool		was_read_only;
		int			guard;
		int			rc;
		bool		ok = false;
		bool		isnull = true;

		name = getKeyJsonValueFromContainer(obj, "name", 4, NULL);
		sql = getKeyJsonValueFromContainer(obj, "sql", 3, NULL);
		if (name == NULL || name->type != jbvString || sql == NULL || sql->type != jbvString)
			guard_error("check", shape);
		nm = pnstrdup(name->val.string.val, name->val.string.len);
		if (!run)
			continue;
		/*
		 * The user's statement: read-only, the pinned search_path, as the
		 * caller.  Read-only is the transaction's own flag (a setting of
		 * transaction_read_only cannot be made for one statement): the
		 * guards run in the apply's subtransaction, whose end (commit or
		 * abort) restores it, and it is restored here when all went well.
		 */
		if (!IsSubTransaction())
			elog(ERROR, "guard checks must run in the apply's subtransaction");
		guard = ir_guard_begin();
		was_read_only = XactReadOnly;
		XactReadOnly = true;
		errcallback.callback = check_error_callback;
		errcallback.arg = nm;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		/*
		 * One statement, and not SPI's read_only: that would run it on a
		 * snapshot without the batch's writes.
		 */
		plan = SPI_prepare(pnstrdup(sql->val.string.val, sql->val.string.len), 0, NULL);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (list_length(SPI_plan_get_plan_sources(plan)) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the statement of guard check \"%s\" must be one statement", nm)));
		rc = SPI_execute_plan(plan, NULL, NULL, false, 2);
		if (rc != SPI_OK_SELECT || SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 1 ||
			SPI_gettypeid(SPI_tuptable->tupdesc, 1) != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the statement of guard check \"%s\" must return one boolean", nm),
					 errhint("Write it as SELECT <condition>, true while all is well.")));
		ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		error_context_stack = errcallback.previous;
		XactReadOnly = was_read_only;
		ir_guard_end(guard);
		if (isnull || !ok)
			return psprintf("guard check \"%s\" returned %s", nm, isnull ? "null" : "false");
	}
	return NULL;
}

static void
guard_error_callback(void *arg)
{
	errcontext("guard \"%s\"", (const char *) arg);
}

/* One guard of the guards object, under an error context naming it. */
static char *
guard_one(const IrGuardTarget *gt, JsonbValue *guards, const char *name, bool run)
{
	JsonbValue *v = getKeyJsonValueFromContainer(guards->val.binary.data, name, strlen(name), NULL);
	ErrorContextCallback errcallback;
	char	   *why;

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (strcmp(name, "check") == 0)
		return check_statements(v, run);	/* names each statement itself */
	errcallback.callback = guard_error_callback;
	errcallback.arg = (void *) name;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	if (strcmp(name, "unchanged") == 0)
		why = check_unchanged(gt, v, run);
	else if (strcmp(name, "blank") == 0)
		why = check_blank(gt, v, run);
	else
		why = check_orphans(gt, v, run);
	error_context_stack = errcallback.previous;
	return why;
}

/* Each guard of options in turn; the first that trips, or NULL. */
static char *
guards_run(const IrGuardTarget *gt, Jsonb *options, bool run)
{
	JsonbValue *guards = ir_option(options, "guards");
	char	   *why;
	IrLend		acc;

	if (guards == NULL || guards->type != jbvBinary)
		return NULL;
	if (gt == NULL)				/* a run's own guards: checks only */
		return guard_one(NULL, guards, "check", run);
	if (run)
	{
		JsonbContainer *g = guards->val.binary.data;

		/* blank and orphans join the whole log: let the planner know its size */
		if (JsonContainerIsObject(g) &&
			((getKeyJsonValueFromContainer(g, "blank", 5, NULL) && gt->blank_counts == NULL) ||
			 getKeyJsonValueFromContainer(g, "orphans", 7, NULL)))
			ir_store_analyze_log(gt->batch_id);
		ir_lend_log(&acc, gt->batch_id);
	}
	why = guard_one(gt, guards, "unchanged", run);
	if (!why)
		why = guard_one(gt, guards, "blank", run);
	if (!why)
		why = guard_one(gt, guards, "orphans", run);
	if (run)
		ir_lend_end(&acc);
	if (!why)
		why = guard_one(gt, guards, "check", run);
	return why;
}

/*
 * The guards of options (its "guards" object) over the writes the batch's
 * change log records: NULL when they hold, else the first that tripped,
 * as "guard ...: measured value, limit".  Runs inside the caller's SPI
 * connection, as the caller.  Without gt (a run's own guards) only the
 * checks run.
 */
char *
ir_guards_check(const IrGuardTarget *gt, Jsonb *options)
{
	return guards_run(gt, options, true);
}

/*
 * Check the guards of options against the target and its key without
 * running them (at staging, validation and apply): shapes, columns,
 * children, sentinel keys.
 */
void
ir_guards_verify(Oid relid, List *key_columns, Jsonb *options)
{
	IrGuardTarget gt;
	ListCell   *lc;
	int			k = 0;

	if (!ir_has_guards(options))
		return;
	memset(&gt, 0, sizeof(gt));
	gt.relid = relid;
	gt.nkeys = list_length(key_columns);
	gt.keys = palloc(sizeof(char *) * Max(gt.nkeys, 1));
	foreach(lc, key_columns)
		gt.keys[k++] = lfirst(lc);
	(void) guards_run(&gt, options, false);
}

/*
 * The columns guard "blank" of options names, in the order check_blank()
 * reads them (NIL: no such guard, or not an object: check_blank says so).
 */
List *
ir_guards_blank_columns(Jsonb *options)
{
	JsonbValue *guards = ir_option(options, "guards");
	JsonbValue *blank;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *names = NIL;

	if (guards == NULL || guards->type != jbvBinary || !JsonContainerIsObject(guards->val.binary.data))
		return NIL;
	blank = getKeyJsonValueFromContainer(guards->val.binary.data, "blank", 5, NULL);
	if (blank == NULL || blank->type != jbvBinary || !JsonContainerIsObject(blank->val.binary.data))
		return NIL;
	it = JsonbIteratorInit(blank->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			names = lappend(names, pnstrdup(v.val.string.val, v.val.string.len));
	return names;
}

/* Are there guards in options? */
bool
ir_has_guards(Jsonb *options)
{
	JsonbValue *guards = ir_option(options, "guards");

	return guards != NULL && guards->type == jbvBinary;
}

/*
 * Check a run's own guards (ir_run_create): checks only, since the others
 * need a target; they belong to its members.
 */
void
ir_run_guards_verify(Jsonb *options)
{
	JsonbValue *guards = ir_option(options, "guards");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (guards == NULL || guards->type != jbvBinary)
		return;
	it = JsonbIteratorInit(guards->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY && !(v.val.string.len == 5 && strncmp(v.val.string.val, "check", 5) == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("guard \"%.*s\" of a run must be given to its members",
							v.val.string.len, v.val.string.val),
					 errdetail("A run's own guards are checks; the others are about one target's records."),
					 errhint("Give it in the options of the member batch that writes the target.")));
	}
	(void) guards_run(NULL, options, false);
}
