/*-------------------------------------------------------------------------
 *
 * reports.c
 *	  Read-only reports on a batch: ir_rejects and ir_changes.
 *
 * ir_rejects reads the staging table as the extension owner (only text and
 * jsonb_object: no user code runs); ir_changes reads the log and staging
 * as the caller, lent access for the call, because converting the key
 * runs the type's input (a domain's CHECK may be user code).  Both check
 * that the caller may read the batch (SELECT on its target).  Results are materialized in a tuplestore, read
 * from an SPI cursor so that a large reject set never sits in memory whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "exec.h"
#include "mapping.h"
#include "options.h"
#include "ops.h"
#include "sqlgen.h"
#include "storage.h"

/*
 * ir_rejects: every rejected row of the batch, in file order, into ts as
 * (row_no, errors, source).
 */
void
ir_rejects_batch(IrBatch *batch, Tuplestorestate *ts, TupleDesc desc)
{
	ir_batch_require_staging(batch);
	ir_store_read_rejects(batch->batch_id, ts, desc);
}

/*
 * ir_changes: into ts, (change_id, row_no, action, record_key, old_values,
 * new_values) for every write of the batch in order: its apply's, then its
 * rollback's; with record_key, those to that one record.
 * Values are shown as the types' output text, keyed by column; an update
 * shows exactly the changed columns.  row_no is the staging row with the
 * record's key (one-to-one in a valid batch).  A column dropped from the
 * log (DROP TYPE ... CASCADE) is left out.
 */
/* The batch's key columns, "a, b", for messages. */
static char *
key_list(const IrBatch *batch)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, batch->key_columns)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", quote_identifier(lfirst(lc)));
	return buf.data;
}

/*
 * record_key must give every key column of the batch, and nothing else, a
 * string, number or boolean ({"id": 17} or {"id": "17"}, as ir_changes
 * shows keys).  Checked before anything is read.
 */
static void
check_record_key(Jsonb *record_key, const IrBatch *batch)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	ListCell   *lc;

	if (!JB_ROOT_IS_OBJECT(record_key) || JB_ROOT_IS_SCALAR(record_key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record_key must be a JSON object"),
				 errhint("Give the values of the batch's key (%s) by name.", key_list(batch))));
	it = JsonbIteratorInit(&record_key->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		foreach(lc, batch->key_columns)
			known = known || strcmp(lfirst(lc), name) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record_key names \"%s\", which is not a key column of batch " INT64_FORMAT,
							name, batch->batch_id),
					 errhint("The batch's key is (%s).", key_list(batch))));
	}
	foreach(lc, batch->key_columns)
	{
		JsonbValue *kv = getKeyJsonValueFromContainer(&record_key->root, lfirst(lc),
													  strlen(lfirst(lc)), NULL);

		if (kv == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("record_key has no value for key column \"%s\"", (char *) lfirst(lc)),
					 errhint("Give every column of the batch's key (%s).", key_list(batch))));
		if (kv->type != jbvString && kv->type != jbvNumeric && kv->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value of key column \"%s\" in record_key must be a string, number or boolean",
							(char *) lfirst(lc))));
	}
}

/* Error context: which record_key value failed its type's input. */
static void
record_key_context(void *arg)
{
	errcontext("value of key column \"%s\" in record_key", (const char *) arg);
}

/*
 * A (checked) key column's value in record_key, typed by the column's
 * input function as a parameter: {"id": 17} and {"id": "17"} alike.
 */
static Datum
record_key_value(Jsonb *record_key, const IrColumn *col)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&record_key->root, col->name,
												 strlen(col->name), NULL);
	ErrorContextCallback errcallback;
	Oid			infunc;
	Oid			ioparam;
	char	   *text;
	Datum		value;

	if (v->type == jbvString)
		text = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else
		text = pstrdup(v->val.boolean ? "true" : "false");
	getTypeInputInfo(col->typid, &infunc, &ioparam);
	errcallback.callback = record_key_context;
	errcallback.arg = (void *) col->name;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	value = OidInputFunctionCall(infunc, text, ioparam, col->typmod);
	error_context_stack = errcallback.previous;
	return value;
}

/*
 * SQL: the log entry l is a write to the record record_key names, with
 * the key's typed values as parameters $1..$n (*values, *argtypes); the
 * log's index on the key (ir_store_index_log) answers it.
 */
static char *
record_key_filter(Jsonb *record_key, IrMapping *m, char **names, bool *present, int ncols,
				  Datum **values, Oid **argtypes)
{
	StringInfoData q;

	*values = palloc(sizeof(Datum) * m->nkeys);
	*argtypes = palloc(sizeof(Oid) * m->nkeys);
	initStringInfo(&q);
	for (int k = 0; k < m->nkeys; k++)
	{
		const IrColumn *col = &m->cols[m->key_col[k]];
		int			pos = 0;

		for (int i = 0; i < ncols; i++)
			if (strcmp(names[i], m->key_names[k]) == 0 && present[i])
				pos = i + 1;
		(*values)[k] = record_key_value(record_key, col);
		(*argtypes)[k] = col->typid;
		appendStringInfo(&q, " %s %s", k ? "AND" : "WHERE",
						 pos == 0 ? "false" :
						 ir_key_match_sql(m, k, psprintf("coalesce(l.n%d, l.o%d)", pos, pos),
										  psprintf("$%d", k + 1)));
	}
	return q.data;
}

void
ir_changes_batch(IrBatch *batch, Jsonb *record_key, Tuplestorestate *ts, TupleDesc desc)
{
	char	   *filter = "";
	Datum	   *values = NULL;
	Oid		   *argtypes = NULL;
	IrMapping  *m;
	IrLogInfo	info;
	IrLend		log_acc;
	IrLend stage_acc;
	StringInfoData keynames;
	StringInfoData keyvals;
	StringInfoData olds;
	StringInfoData news;
	StringInfoData match;
	StringInfoData typedkeys;
	Oid			logrelid;
	char	  **names;
	bool	   *present;
	int			ncols;

	if (record_key)
		check_record_key(record_key, batch);
	logrelid = ir_log_table_oid(batch->batch_id);
	if (!OidIsValid(logrelid))
		return;					/* never applied: no writes */
	m = ir_mapping_of_batch(batch);

	/* the log's columns, as the catalog records them */
	ir_store_log_info(batch->batch_id, &info);
	names = info.names;
	ncols = info.ncols;

	/*
	 * A logged column whose type was dropped with CASCADE is gone from the
	 * log too: its values are lost, the others are still shown.
	 */
	present = palloc(sizeof(bool) * Max(ncols, 1));
	initStringInfo(&olds);
	initStringInfo(&news);
	for (int i = 0; i < ncols; i++)
	{
		present[i] = get_attnum(logrelid, psprintf("n%d", i + 1)) != InvalidAttrNumber;
		if (!present[i])
			continue;
		appendStringInfo(&olds, "%s(%s, %s, %d)", olds.len ? ", " : "",
						 quote_literal_cstr(names[i]), ir_sql_text(psprintf("l.o%d", i + 1)), i + 1);
		appendStringInfo(&news, "%s(%s, %s, %d)", news.len ? ", " : "",
						 quote_literal_cstr(names[i]), ir_sql_text(psprintf("l.n%d", i + 1)), i + 1);
	}
	if (olds.len == 0)
	{
		appendStringInfoString(&olds, "(NULL, NULL, NULL)");
		appendStringInfoString(&news, "(NULL, NULL, NULL)");
	}
	initStringInfo(&keynames);
	initStringInfo(&keyvals);
	initStringInfo(&match);
	initStringInfo(&typedkeys);
	for (int k = 0; k < m->nkeys; k++)
	{
		int			pos = 0;

		for (int i = 0; i < ncols; i++)
			if (strcmp(names[i], m->key_names[k]) == 0 && present[i])
				pos = i + 1;
		appendStringInfo(&keynames, "%s%s", k ? ", " : "", quote_literal_cstr(m->key_names[k]));
		if (pos == 0)
		{
			/* the key's column is gone: no key, no source row */
			appendStringInfo(&keyvals, "%sNULL", k ? ", " : "");
			appendStringInfo(&match, "%sfalse", k ? " AND " : "");
			continue;
		}
		appendStringInfo(&keyvals, "%s%s", k ? ", " : "",
						 ir_sql_text(psprintf("coalesce(l.n%d, l.o%d)", pos, pos)));
		appendStringInfo(&typedkeys, ", CASE WHEN s.status IS NULL THEN %s END AS k%d",
						 ir_typed_expr(&m->cols[m->key_col[k]], "s"), k + 1);
		appendStringInfo(&match, "%s%s", k ? " AND " : "",
						 ir_key_match_sql(m, k, psprintf("s.k%d", k + 1),
										  psprintf("coalesce(l.n%d, l.o%d)", pos, pos)));
	}

	if (record_key)
		filter = record_key_filter(record_key, m, names, present, ncols, &values, &argtypes);

	/*
	 * The log and the staging table are read as the caller, lent for the
	 * call: the key's typed conversion may run user code (a domain's CHECK),
	 * which must never run as the owner.
	 */
	ir_lend_log(&log_acc, batch->batch_id);
	ir_lend_stage(&stage_acc, batch->batch_id, false);
	SPI_connect();
	ir_spi_materialize(psprintf("SELECT l.change_id, s.row_no, l.action,"
							   " jsonb_object(ARRAY[%s]::text[], ARRAY[%s]::text[]),"
							   " CASE WHEN l.action NOT IN ('insert', 'undo_delete') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END,"
							   " CASE WHEN l.action NOT IN ('delete', 'undo_insert') THEN"
							   "  (SELECT jsonb_object_agg(c.name, c.v) FROM (VALUES %s) c(name, v, pos)"
							   "    WHERE c.name IS NOT NULL AND (l.changed IS NULL OR c.pos = ANY (l.changed))) END"
							   " FROM %s l"
							   " LEFT JOIN (SELECT s.row_no%s FROM %s s) s ON %s"
							   "%s ORDER BY l.change_id",
							   keynames.data, keyvals.data, olds.data, news.data,
							   ir_log_table(batch->batch_id), typedkeys.data,
							   ir_stage_table(batch->batch_id), match.data, filter),
					   record_key ? m->nkeys : 0, argtypes, values, ts, desc);
	SPI_finish();
	ir_lend_end(&stage_acc);
	ir_lend_end(&log_acc);
}
