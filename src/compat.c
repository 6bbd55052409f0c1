/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  Version-specific implementations declared in compat.h.
 *
 * ir_check_inputs: exact type checks of text values through the type's
 * input function.  16+: soft errors.  15: ir_try_each() (exec.c), chunked
 * subtransactions with bisection.
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

/* One value through the input function, for ir_try_each(). */
typedef struct InputCalls
{
	FmgrInfo   *flinfo;
	Oid			typioparam;
	int32		typmod;
	char	  **values;
	Datum	   *results;
	ir_input_report report;
	void	   *arg;
} InputCalls;

static void
input_call(int idx, void *arg)
{
	InputCalls *ic = (InputCalls *) arg;

	ic->results[idx] = InputFunctionCall(ic->flinfo, ic->values[idx], ic->typioparam, ic->typmod);
}

static void
input_report(int idx, const char *message, void *arg)
{
	InputCalls *ic = (InputCalls *) arg;

	ic->report(idx, message, ic->arg);
}

void
ir_check_inputs(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
				char **values, int nvalues, Datum *results,
				ir_input_report report, void *arg)
{
	InputCalls	ic = {flinfo, typioparam, typmod, values, results, report, arg};

	ir_try_each(nvalues, input_call, input_report, &ic);
}

#endif
