/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  Version-specific implementations declared in compat.h.
 *
 * ir_check_inputs: exact type checks of text values through the type's
 * input function.  16+: soft errors.  15: chunked subtransactions with
 * bisection, catching only data errors (SQLSTATE classes 22 and 23); any
 * other error (cancel, out of memory) is re-thrown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "compat.h"
#include "exec.h"

#if PG_VERSION_NUM >= 160000

#include "nodes/miscnodes.h"

void
ir_check_inputs(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
				char **values, int nvalues, Datum *results,
				ir_input_report report, void *arg)
{
	for (int i = 0; i < nvalues; i++)
	{
		ErrorSaveContext escontext = {T_ErrorSaveContext};

		escontext.details_wanted = true;
		if (!InputFunctionCallSafe(flinfo, values[i], typioparam, typmod,
								   (Node *) &escontext, &results[i]))
			report(i, escontext.error_data->message, arg);
	}
}

#else							/* PostgreSQL 15 */

/* Is this an error about the value, as opposed to the server's state? */
static bool
is_data_error(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
}

/*
 * Run the input function over values[lo, hi) in one subtransaction.
 * Returns NULL when all are valid, else the first error.
 */
static ErrorData *
try_inputs(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
		   char **values, Datum *results, int lo, int hi)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		for (int i = lo; i < hi; i++)
			results[i] = InputFunctionCall(flinfo, values[i], typioparam, typmod);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		edata = ir_abort_subxact(oldcxt, oldowner);
		if (!is_data_error(edata->sqlerrcode))
			ReThrowError(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return edata;
}

static void
check_range(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
			char **values, Datum *results, int lo, int hi,
			ir_input_report report, void *arg)
{
	ErrorData  *edata;

	if (lo >= hi)
		return;
	edata = try_inputs(flinfo, typioparam, typmod, values, results, lo, hi);
	if (edata == NULL)
		return;
	if (hi - lo == 1)
		report(lo, edata->message, arg);
	else
	{
		int			mid = lo + (hi - lo) / 2;

		check_range(flinfo, typioparam, typmod, values, results, lo, mid, report, arg);
		check_range(flinfo, typioparam, typmod, values, results, mid, hi, report, arg);
	}
	FreeErrorData(edata);
}

void
ir_check_inputs(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
				char **values, int nvalues, Datum *results,
				ir_input_report report, void *arg)
{
	check_range(flinfo, typioparam, typmod, values, results, 0, nvalues, report, arg);
}

#endif
