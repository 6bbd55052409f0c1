/*-------------------------------------------------------------------------
 *
 * exec.c
 *	  Running the extension's own SQL through SPI: statements with kept
 *	  plans and checked result codes, errors that do not carry pages of
 *	  generated SQL, and the clean end of a failed internal subtransaction.
 *
 * Who runs a statement (the caller, the extension owner) is decided by the
 * caller of these functions (storage.c).  Every statement runs under its
 * own search_path pinned to IR_SEARCH_PATH, set just before it is parsed
 * or its plan revalidated, and every setting changed while it runs (by user
 * code: a trigger, a CHECK constraint's function, a cast) is undone when it
 * ends, as PostgreSQL's maintenance commands do: user code can neither
 * redirect the names of this statement nor of the next one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "nodes/params.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "exec.h"

/*
 * In the PG_CATCH of an internal subtransaction begun in oldcxt under
 * oldowner: take the error, roll the subtransaction back and return to
 * where it began.  The caller re-throws the error or handles it.
 */
ErrorData *
ir_abort_subxact(MemoryContext oldcxt, ResourceOwner oldowner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(oldcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return edata;
}

/* Is this an error about a value, as opposed to the server's state? */
static bool
is_data_error(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
}

/* fn over [lo, hi) in one subtransaction: NULL when none failed, else the error. */
static ErrorData *
try_range(int lo, int hi, ir_try_fn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		for (int i = lo; i < hi; i++)
			fn(i, arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		edata = ir_abort_subxact(oldcxt, oldowner);
		if (!is_data_error(edata->sqlerrcode))
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

static void
try_bisect(int lo, int hi, ir_try_fn fn, ir_try_report report, void *arg)
{
	ErrorData  *edata;

	if (lo >= hi)
		return;
	edata = try_range(lo, hi, fn, arg);
	if (edata == NULL)
		return;
	if (hi - lo == 1)
		report(lo, edata->message, arg);
	else
	{
		int			mid = lo + (hi - lo) / 2;

		try_bisect(lo, mid, fn, report, arg);
		try_bisect(mid, hi, fn, report, arg);
	}
	FreeErrorData(edata);
}

/*
 * Call fn(i) for every i in [0, n), where fn may raise an error about its
 * value (SQLSTATE classes 22 and 23): report(i, message) for each i that
 * does.  The whole range runs in one subtransaction; a range that fails
 * is split in halves until each bad value stands alone, so a clean range
 * costs one subtransaction and each bad value a few.  Work fn did for a
 * value of a failed range is done again.  Any other error (cancel, out of
 * memory) is re-thrown.
 */
void
ir_try_each(int n, ir_try_fn fn, ir_try_report report, void *arg)
{
	try_bisect(0, n, fn, report, arg);
}

/*
 * Start a statement's (or a C pass over user code's) own GUC level with
 * search_path pinned; ir_guard_end() undoes every setting made since (an
 * error undoes them anyway), a SET ROLE by user code included.
 */
int
ir_guard_begin(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", IR_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return level;
}

/* Inside a guard: set a planner or executor setting until ir_guard_end(). */
void
ir_guard_set(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
ir_guard_end(int level)
{
	AtEOXact_GUC(false, level);
}

/*
 * Remove from an error's context the line SPI adds for our own statement
 * sql ("SQL statement "...""): pages of generated SQL tell a DBA nothing
 * the message and the lines around it do not (the source row being
 * written, a user trigger's own statement and line).
 */
static char *
strip_statement_context(char *context, const char *sql)
{
	char	   *line = psprintf("SQL statement \"%s\"", sql);
	char	   *at;
	size_t		len = strlen(line);

	if (context == NULL || (at = strstr(context, line)) == NULL)
		return context;
	if (at[len] == '\n')
		len++;
	else if (at > context && at[-1] == '\n')
		at--, len++;
	memmove(at, at + len, strlen(at + len) + 1);
	return context[0] ? context : NULL;
}

/* How run_guarded() runs a statement. */
typedef struct Statement
{
	const char *sql;
	int			nargs;
	const Oid  *argtypes;
	const Datum *values;
	const char *nulls;			/* ' ' / 'n' per parameter, or NULL */
	SPIPlanPtr *plancache;		/* prepared once per backend and kept, or NULL */
	DestReceiver *dest;			/* where the rows go, or NULL: SPI_tuptable */
} Statement;

/* A statement's parameters as a ParamListInfo, for SPI_execute_plan_extended(). */
static ParamListInfo
param_list(const Statement *st)
{
	ParamListInfo params = makeParamList(st->nargs);

	for (int i = 0; i < st->nargs; i++)
	{
		params->params[i].value = st->values[i];
		params->params[i].isnull = st->nulls != NULL && st->nulls[i] == 'n';
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = st->argtypes[i];
	}
	return params;
}

/*
 * Run one statement through SPI, inside an SPI connection the caller
 * holds, under its own pinned search_path and GUC level.  Returns SPI's
 * result code.  An error keeps its message and context, less the
 * statement's own text.
 */
static int
run_guarded(const Statement *st)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	int			rc = 0;
	int			level = ir_guard_begin();

	PG_TRY();
	{
		SPIPlanPtr	plan = st->plancache ? *st->plancache : NULL;
		SPIExecuteOptions options;

		if (plan == NULL)
		{
			plan = SPI_prepare(st->sql, st->nargs, (Oid *) st->argtypes);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed for \"%s\": %s",
					 st->sql, SPI_result_code_string(SPI_result));
			if (st->plancache)
			{
				if (SPI_keepplan(plan) != 0)
					elog(ERROR, "SPI_keepplan failed");
				*st->plancache = plan;
			}
		}
		memset(&options, 0, sizeof(options));
		options.params = st->nargs > 0 ? param_list(st) : NULL;
		options.dest = st->dest;
		rc = SPI_execute_plan_extended(plan, &options);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = strip_statement_context(edata->context, st->sql);
		ReThrowError(edata);
	}
	PG_END_TRY();
	ir_guard_end(level);
	return rc;
}

/*
 * Run one internal statement through SPI, inside an SPI connection the
 * caller holds.  When plancache is given the plan is prepared once per
 * backend and kept.  The result code must equal expected.
 */
void
ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
			const Datum *values, const char *nulls,
			int expected, SPIPlanPtr *plancache)
{
	Statement	st = {sql, nargs, argtypes, values, nulls, plancache, NULL};
	int			rc = run_guarded(&st);

	if (rc != expected)
		elog(ERROR, "internal statement returned %s, expected %s: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}

/*
 * Run query (with nargs parameters) and put every row it returns into ts,
 * whose row type desc the query's must match: the executor hands each row
 * to the tuplestore as it is made (tstoreReceiver.c), which spills to disk
 * past work_mem, so a large result never sits in memory whole.
 */
void
ir_spi_materialize(const char *query, int nargs, const Oid *argtypes, const Datum *values,
				   Tuplestorestate *ts, TupleDesc desc)
{
	DestReceiver *dest = CreateTuplestoreDestReceiver();

	SetTuplestoreDestReceiverParams(dest, ts, CurrentMemoryContext, false, desc,
									"the report's query does not match its result type");
	ir_spi_run_into(query, nargs, argtypes, values, dest);
	dest->rDestroy(dest);
}

/* Run query (with nargs parameters), handing every row it returns to dest. */
void
ir_spi_run_into(const char *query, int nargs, const Oid *argtypes, const Datum *values,
				DestReceiver *dest)
{
	Statement	st = {query, nargs, argtypes, values, NULL, NULL, dest};

	(void) run_guarded(&st);
}

/* ---------------------------------------------------------------------
 * Arrays of text, for parameters and results
 * ---------------------------------------------------------------------
 */

/* A text[] datum from C strings (NULL entries become NULL). */
Datum
ir_text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = items[i] == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(items[i]);
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/* A bigint[] datum of n int8 Datums (pass-by-value only where int8 is). */
Datum
ir_int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/* The strings of a text[] (or name[] cast to text[]) datum, in cxt. */
char **
ir_array_strings(Datum arr, int *n, MemoryContext cxt)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = MemoryContextAlloc(cxt, sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = MemoryContextStrdup(cxt, TextDatumGetCString(elems[i]));
	return out;
}
