/*-------------------------------------------------------------------------
 *
 * collect.c
 *	  What a validation run collects as its parts work: hard stops, reject
 *	  reasons found in C, the parameters of its one statement, and the way
 *	  values are quoted in reasons.  Below every part of the run
 *	  (validate.h), so they call down to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "exec.h"
#include "validate.h"

/* Record a hard stop; it must outlive the SPI connection. */
void
ir_run_stop(Run *run, const char *msg)
{
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

	run->stops = lappend(run->stops, pstrdup(msg));
	MemoryContextSwitchTo(old);
}

/* Record a note for the run's record and its NOTICE. */
void
ir_run_note(Run *run, const char *msg)
{
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

	run->notes = lappend(run->notes, pstrdup(msg));
	MemoryContextSwitchTo(old);
}

/* Record a reject reason found in C (typecheck.c), in the run's context. */
void
ir_run_error(Run *run, int64 row_no, int ord, char *msg)
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

/* Add a parameter to the run's statement; returns its "$n" text. */
char *
ir_run_param(Run *run, Oid type, Datum value)
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

/* SQL text of a string literal. */
char *
ir_run_lit(const char *s)
{
	return quote_literal_cstr(s);
}

/* SQL text of a value quoted (and shortened) for a reason. */
char *
ir_run_shown(const char *expr)
{
	return psprintf("'\"' || CASE WHEN length(%s) > %d THEN left(%s, %d) || '...'"
					" ELSE %s END || '\"'",
					expr, VALUE_SHOWN, expr, VALUE_SHOWN, expr);
}

/*
 * A value quoted (and shortened) for a reason, in C: as ir_run_shown()
 * does, by characters, never cutting one in two.
 */
char *
ir_quote_shown(const char *value)
{
	int			len = strlen(value);

	if (len > VALUE_SHOWN && pg_mbstrlen_with_len(value, len) > VALUE_SHOWN)
		return psprintf("\"%.*s...\"", pg_mbcharcliplen(value, len, VALUE_SHOWN), value);
	return psprintf("\"%s\"", value);
}

/* A number of a rule, for a reason. */
char *
ir_run_double(double d)
{
	return psprintf("%g", d);
}

/*
 * Run query, which may use the run's parameters, inside the run's SPI
 * connection.  The reasons found in C ($1..$3) are not known yet: NULL.
 */
void
ir_run_query(Run *run, const char *query)
{
	char		nulls[FUNC_MAX_ARGS];

	memset(nulls, ' ', sizeof(nulls));
	nulls[0] = nulls[1] = nulls[2] = 'n';
	ir_spi_exec(query, run->nparams, run->paramtypes, run->paramvalues, nulls,
				SPI_OK_SELECT, NULL);
}
