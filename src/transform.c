/*-------------------------------------------------------------------------
 *
 * transform.c
 *	  The text steps of a mapped column, in the contract's order: null_if
 *	  (raw values that mean NULL), the transform steps (trim, lower, upper,
 *	  squeeze, digits), then a date or timestamp format.  One
 *	  implementation serves both places a value is read: the validation's
 *	  C pass calls these functions directly, and every statement the
 *	  extension builds (apply, reports, set-based checks) calls them as
 *	  import_rollback.ir_prepare(), so a value is transformed the same way
 *	  wherever it is read.  Nothing in the options ever becomes SQL text.
 *
 * lower and upper are PostgreSQL's own, with the database's default
 * collation (that of a staging column).  A format reads the value with
 * to_date / to_timestamp and then writes it back with to_char under the
 * same pattern: a value that does not read back exactly (31/02/2025 reads
 * as 3 March) is an error, never a shifted date.  The result is ISO text,
 * which the target type's input function reads under any DateStyle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "transform.h"

PG_FUNCTION_INFO_V1(ir_prepare);

const char *const ir_step_names[] = {
	[IR_STEP_TRIM] = "trim",
	[IR_STEP_LOWER] = "lower",
	[IR_STEP_UPPER] = "upper",
	[IR_STEP_SQUEEZE] = "squeeze",
	[IR_STEP_DIGITS] = "digits",
	NULL
};

bool
ir_step_from_name(const char *name, IrStep *step)
{
	for (int i = 0; ir_step_names[i] != NULL; i++)
		if (strcmp(ir_step_names[i], name) == 0)
		{
			*step = (IrStep) i;
			return true;
		}
	return false;
}

bool
ir_prep_is_empty(const IrPrep *p)
{
	return p->nnull_if == 0 && p->nsteps == 0 && p->date_format == NULL &&
		p->timestamp_format == NULL;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *
trim(char *s)
{
	char	   *end;

	while (is_space(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Runs of whitespace become one space (whitespace is ASCII: no multibyte
 * character of a server encoding contains those bytes). */
static char *
squeeze(char *s)
{
	char	   *out = s;
	char	   *in = s;

	while (*in)
	{
		if (is_space(*in))
		{
			*out++ = ' ';
			while (is_space(*in))
				in++;
		}
		else
			*out++ = *in++;
	}
	*out = '\0';
	return s;
}

static char *
digits(char *s)
{
	char	   *out = s;
	char	   *in = s;

	while (*in)
	{
		int			len = pg_mblen(in);

		if (len == 1 && *in >= '0' && *in <= '9')
			*out++ = *in;
		in += len;
	}
	*out = '\0';
	return s;
}

static char *
case_map(PGFunction fn, const char *s)
{
	return TextDatumGetCString(DirectFunctionCall1Coll(fn, DEFAULT_COLLATION_OID,
													   CStringGetTextDatum(s)));
}

/*
 * null_if and the transform steps: NULL for a NULL raw value or one of
 * null_if (compared with the raw text, before any step).  Never fails.
 * Without steps the result is raw itself (no copy: a million values a
 * column); callers never write into it.
 */
char *
ir_prep_text(const IrPrep *p, const char *raw)
{
	char	   *s;

	if (raw == NULL)
		return NULL;
	for (int i = 0; i < p->nnull_if; i++)
		if (strcmp(raw, p->null_if[i]) == 0)
			return NULL;
	if (p->nsteps == 0)
		return unconstify(char *, raw);
	s = pstrdup(raw);
	for (int i = 0; i < p->nsteps; i++)
	{
		switch (p->steps[i])
		{
			case IR_STEP_TRIM:
				s = trim(s);
				break;
			case IR_STEP_LOWER:
				s = case_map(lower, s);
				break;
			case IR_STEP_UPPER:
				s = case_map(upper, s);
				break;
			case IR_STEP_SQUEEZE:
				s = squeeze(s);
				break;
			case IR_STEP_DIGITS:
				s = digits(s);
				break;
		}
	}
	return s;
}

static char *
to_char_text(PGFunction fn, Datum value, const char *pattern)
{
	return TextDatumGetCString(DirectFunctionCall2Coll(fn, DEFAULT_COLLATION_OID, value,
													   CStringGetTextDatum(pattern)));
}

static void
refuse_readback(const char *value, const char *option, const char *pattern, const char *back)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
			 errmsg("%s: \"%s\" is not a value of the form %s (it reads as %s)",
					option, value, pattern, back)));
}

/*
 * The column's format on a (non-NULL) value, as a datum: a date for a
 * date_format (*typid DATEOID), a timestamptz for a timestamp_format.
 * Errors (to_date's own, or a value that does not read back exactly) are
 * raised: the validation's C pass catches them per value.
 */
Datum
ir_prep_format_datum(const IrPrep *p, const char *value, Oid *typid)
{
	Datum		in = CStringGetTextDatum(value);

	if (p->date_format)
	{
		Datum		fmt = CStringGetTextDatum(p->date_format);
		Datum		d = DirectFunctionCall2Coll(to_date, DEFAULT_COLLATION_OID, in, fmt);
		char	   *back = to_char_text(timestamp_to_char, DirectFunctionCall1(date_timestamp, d),
										p->date_format);

		if (strcmp(back, value) != 0)
			refuse_readback(value, "date_format", p->date_format, back);
		*typid = DATEOID;
		return d;
	}
	else
	{
		Datum		fmt = CStringGetTextDatum(p->timestamp_format);
		Datum		tz = DirectFunctionCall2Coll(to_timestamp, DEFAULT_COLLATION_OID, in, fmt);
		char	   *back = to_char_text(timestamptz_to_char, tz, p->timestamp_format);

		if (strcmp(back, value) != 0)
			refuse_readback(value, "timestamp_format", p->timestamp_format, back);
		*typid = TIMESTAMPTZOID;
		return tz;
	}
}

/*
 * ISO text of timestamp with time zone d, which reads back as d: to_char's
 * OF drops the seconds of an offset (local mean time, as in Asia/Kolkata
 * before 1906, is +05:21:10), which would move the value by them, so an
 * offset with seconds is written out in full.
 */
static char *
iso_timestamptz(Datum d)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	int			off;

	if (timestamp2tm(DatumGetTimestampTz(d), &tz, &tm, &fsec, NULL, NULL) != 0 || tz % 60 == 0)
		return to_char_text(timestamptz_to_char, d, "YYYY-MM-DD HH24:MI:SS.USOF BC");
	off = -tz;					/* tz is seconds west of Greenwich */
	return psprintf("%s%c%02d:%02d:%02d%s",
					to_char_text(timestamptz_to_char, d, "YYYY-MM-DD HH24:MI:SS.US"),
					off < 0 ? '-' : '+', abs(off) / 3600, abs(off) / 60 % 60, abs(off) % 60,
					to_char_text(timestamptz_to_char, d, " BC"));
}

/* The column's format, if any, on a (non-NULL) value: its ISO text. */
char *
ir_prep_format(const IrPrep *p, const char *value)
{
	Oid			typid;
	Datum		d;

	if (!p->date_format && !p->timestamp_format)
		return pstrdup(value);
	d = ir_prep_format_datum(p, value, &typid);
	if (typid == DATEOID)
		return to_char_text(timestamp_to_char, DirectFunctionCall1(date_timestamp, d),
							"YYYY-MM-DD BC");
	return iso_timestamptz(d);
}

/* A text[] argument as C strings. */
static char **
string_array(Datum arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

/* The steps of an ir_prepare() call, from its arguments 1-4. */
static IrPrep *
prep_from_args(FunctionCallInfo fcinfo)
{
	IrPrep	   *p = palloc0(sizeof(IrPrep));

	if (!PG_ARGISNULL(1))
	{
		char	  **v = string_array(PG_GETARG_DATUM(1), &p->nnull_if);

		p->null_if = v;
		for (int i = 0; i < p->nnull_if; i++)
			if (v[i] == NULL)
				elog(ERROR, "ir_prepare: null_if holds a NULL");
	}
	if (!PG_ARGISNULL(2))
	{
		int			n;
		char	  **names = string_array(PG_GETARG_DATUM(2), &n);

		if (n > IR_MAX_STEPS)
			elog(ERROR, "ir_prepare: too many steps");
		for (int i = 0; i < n; i++)
			if (names[i] == NULL || !ir_step_from_name(names[i], &p->steps[p->nsteps++]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown transform \"%s\"", names[i] ? names[i] : "")));
	}
	if (!PG_ARGISNULL(3))
		p->date_format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
		p->timestamp_format = text_to_cstring(PG_GETARG_TEXT_PP(4));
	return p;
}

/*
 * ir_prepare(value text, null_if text[], steps text[], date_format text,
 *			  timestamp_format text) RETURNS text
 *
 * The column's text steps on value, as the validation applied them.  The
 * steps are read once per call site when they are constants (they always
 * are in the extension's own statements).
 */
Datum
ir_prepare(PG_FUNCTION_ARGS)
{
	IrPrep	   *p = (IrPrep *) fcinfo->flinfo->fn_extra;
	char	   *s;

	if (p == NULL)
	{
		bool		constant = true;

		for (int i = 1; i <= 4; i++)
			constant = constant && get_fn_expr_arg_stable(fcinfo->flinfo, i);
		if (constant)
		{
			MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

			p = prep_from_args(fcinfo);
			MemoryContextSwitchTo(old);
			fcinfo->flinfo->fn_extra = p;
		}
		else
			p = prep_from_args(fcinfo);
	}
	s = ir_prep_text(p, PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (s == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ir_prep_format(p, s)));
}
