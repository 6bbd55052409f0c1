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

/*
 * Run one internal statement through SPI, inside an SPI connection the
 * caller holds.  When plancache is given the plan is prepared once per
 * backend and kept.  The result code must equal expected.  An error keeps
 * its message and context, less the statement's own text.
 */
void
ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
			const Datum *values, const char *nulls,
			int expected, SPIPlanPtr *plancache)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	int			rc = 0;
	int			level = ir_guard_begin();

	PG_TRY();
	{
		if (plancache != NULL)
		{
			if (*plancache == NULL)
			{
				SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

				if (plan == NULL)
					elog(ERROR, "SPI_prepare failed for \"%s\": %s",
						 sql, SPI_result_code_string(SPI_result));
				if (SPI_keepplan(plan) != 0)
					elog(ERROR, "SPI_keepplan failed");
				*plancache = plan;
			}
			rc = SPI_execute_plan(*plancache, (Datum *) values, nulls, false, 0);
		}
		else if (nargs > 0)
			rc = SPI_execute_with_args(sql, nargs, (Oid *) argtypes,
									   (Datum *) values, nulls, false, 0);
		else
			rc = SPI_execute(sql, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = strip_statement_context(edata->context, sql);
		ReThrowError(edata);
	}
	PG_END_TRY();
	ir_guard_end(level);

	if (rc != expected)
		elog(ERROR, "internal statement returned %s, expected %s: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}

/*
 * Run query (with nargs parameters) through a cursor, a batch of rows at a
 * time, and put every row into ts: a large result never sits in SPI's
 * memory whole.  desc is the tuplestore's row type.
 */
void
ir_spi_materialize(const char *query, int nargs, const Oid *argtypes, const Datum *values,
				   Tuplestorestate *ts, TupleDesc desc)
{
	SPIPlanPtr	plan;
	Portal		portal;
	Datum	   *vals = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	int			level = ir_guard_begin();

	plan = SPI_prepare(query, nargs, (Oid *) argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", query, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, (Datum *) values, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, IR_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			for (int c = 0; c < desc->natts; c++)
				vals[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										c + 1, &nulls[c]);
			tuplestore_putvalues(ts, desc, vals, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	ir_guard_end(level);
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
