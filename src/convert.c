/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  The two value conversions the generated SQL calls, one row at a time:
 *	  ir_cast(text, anyelement), a file's text to the target column's type,
 *	  and ir_text(anyelement), a value as reports show it.
 *
 * Both go through the type's own input or output function (with the
 * column's typmod on input), exactly as an INSERT of the text or a COPY
 * TO would, never through a cast: an explicit cast silently truncates
 * varchar(n) and rounds numeric(p,s), and a cast may have been created by
 * the type's owner.  The function lookup is cached in fn_extra for the
 * query.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ir_cast);
PG_FUNCTION_INFO_V1(ir_text);

/* Per-call cache of ir_cast's input function. */
typedef struct CastCache
{
	Oid			typid;
	int32		typmod;
	Oid			typioparam;
	FmgrInfo	input;
} CastCache;

/*
 * ir_cast(value text, target anyelement) RETURNS anyelement
 *
 * Converts value with the input function of target's type and typmod
 * (target is normally NULL::sometype(typmod)).  NULL in, NULL out.
 */
Datum
ir_cast(PG_FUNCTION_ARGS)
{
	CastCache  *cache = (CastCache *) fcinfo->flinfo->fn_extra;
	char	   *str;

	if (cache == NULL)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 1);
		int32		typmod = -1;
		Oid			infunc;
		Node	   *expr = fcinfo->flinfo->fn_expr;

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the target type of ir_cast");
		if (expr && IsA(expr, FuncExpr) && list_length(((FuncExpr *) expr)->args) == 2)
			typmod = exprTypmod(lsecond(((FuncExpr *) expr)->args));
		cache = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(CastCache));
		cache->typid = typid;
		cache->typmod = typmod;
		getTypeInputInfo(typid, &infunc, &cache->typioparam);
		fmgr_info_cxt(infunc, &cache->input, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = cache;
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	return InputFunctionCall(&cache->input, str, cache->typioparam, cache->typmod);
}

/*
 * ir_text(value anyelement) RETURNS text
 *
 * The value as its type's output function writes it, as a report shows
 * it: never through a cast, which a type's owner could have created.
 */
Datum
ir_text(PG_FUNCTION_ARGS)
{
	FmgrInfo   *out = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	if (out == NULL)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
		Oid			outfunc;
		bool		varlena;

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the argument type of ir_text");
		getTypeOutputInfo(typid, &outfunc, &varlena);
		out = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(outfunc, out, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = out;
	}
	PG_RETURN_TEXT_P(cstring_to_text(OutputFunctionCall(out, PG_GETARG_DATUM(0))));
}
