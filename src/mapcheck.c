/*-------------------------------------------------------------------------
 *
 * mapcheck.c
 *	  The mapping check: does each mapped column's incoming data look like
 *	  the column's live data?  It compares shapes (character classes,
 *	  structure, length) of a spread sample of incoming values with a sample
 *	  of live ones, never the values: n3001@example.net looks like
 *	  u1@example.com, names in an email column do not.  Incoming values
 *	  are taken as their transform steps leave them (what will be
 *	  written); looked-up columns (their values become ids) and constants
 *	  are not compared.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "utils/builtins.h"

#include "exec.h"
#include "sqlgen.h"
#include "validate.h"

/* Shape of a sample of values: shares of character classes and structure. */
typedef struct Shape
{
	int			n;
	double		at;				/* share of values containing '@' */
	double		digits;			/* mean share of digits among characters */
	double		letters;		/* mean share of letters */
	double		words;			/* mean number of whitespace-separated words */
	double		length;			/* median length in characters */
	char	   *example;
} Shape;

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/* Shape of the non-empty values of column col (1-based) of tt's n rows. */
static Shape
shape_of(SPITupleTable *tt, uint64 n, int col)
{
	Shape		s;
	int		   *lengths = palloc(sizeof(int) * Max(n, 1));

	memset(&s, 0, sizeof(s));
	for (uint64 r = 0; r < n; r++)
	{
		char	   *v = SPI_getvalue(tt->vals[r], tt->tupdesc, col);
		int			len = 0,
					digits = 0,
					letters = 0,
					words = 0;
		bool		inword = false;
		int			i = s.n;

		if (v == NULL || v[0] == '\0')
			continue;
		s.n++;
		if (i == 0)
			s.example = v;
		for (const unsigned char *p = (unsigned char *) v; *p; p++)
		{
			/* count characters, not bytes: skip UTF-8 continuation bytes */
			if ((*p & 0xC0) == 0x80)
				continue;
			len++;
			if (*p >= '0' && *p <= '9')
				digits++;
			else if (isalpha(*p) || *p >= 0x80)
				letters++;
			if (*p == '@')
				s.at += 1;
			if (isspace(*p))
				inword = false;
			else if (!inword)
			{
				inword = true;
				words++;
			}
		}
		lengths[i] = len;
		if (len > 0)
		{
			s.digits += (double) digits / len;
			s.letters += (double) letters / len;
		}
		s.words += words;
	}
	if (s.n > 0)
	{
		s.at /= s.n;
		s.digits /= s.n;
		s.letters /= s.n;
		s.words /= s.n;
		qsort(lengths, s.n, sizeof(int), cmp_int);
		s.length = lengths[s.n / 2];
	}
	return s;
}

/*
 * Column c's incoming values look nothing like its live ones (why): a hard
 * stop, or a WARNING under mapping_check "warn".
 */
static void
report_mismatch(Run *run, IrColumn *c, const char *why, const Shape *in, const Shape *live)
{
	char	   *msg = psprintf("column \"%s\" (from file column \"%s\"): incoming values look nothing like its live values: %s; e.g. incoming %s, live %s",
							   c->name, c->src_key, why,
							   ir_quote_shown(in->example), ir_quote_shown(live->example));

	if (run->rules.mapping_check == MC_STOP)
		ir_run_stop(run, psprintf("mapping check: %s", msg));
	else
		ereport(WARNING,
				(errmsg("mapping check: %s", msg),
				 errhint("Check the mapping; the batch is not stopped because mapping_check is \"warn\".")));
}

static char *
pct(double share)
{
	return psprintf("%d%%", (int) rint(share * 100));
}

/*
 * Compare the shape of each mapped column's incoming values with a sample
 * of its live values.  A column whose character classes differ by half or
 * more ('@' share, digit share, letter share), or whose values have 3x as
 * many words (and 2 more) or are 4x as long (and 10 characters more),
 * looks like something else.
 */
void
ir_mapping_check(Run *run, int64 rows_total)
{
	IrMapping  *m = run->m;
	int64		step = Max(1, rows_total / SHAPE_SAMPLE);

	StringInfoData skipped;
	StringInfoData cols;
	SPITupleTable *incoming;
	uint64		nincoming;

	if (run->rules.mapping_check == MC_OFF)
		return;
	initStringInfo(&skipped);

	/* the incoming sample: rows spread over the file, all columns at once */
	initStringInfo(&cols);
	for (int i = 0; i < m->ncols; i++)
		appendStringInfo(&cols, "%s%s", i ? ", " : "", ir_text_expr(&m->cols[i], "s"));
	ir_spi_exec(psprintf("SELECT %s FROM %s s WHERE s.status IS NULL"
						 " AND s.row_no %% " INT64_FORMAT " = 0 ORDER BY s.row_no LIMIT %d",
						 cols.data, run->stage, step, SHAPE_SAMPLE),
				0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
	incoming = SPI_tuptable;
	nincoming = SPI_processed;

	for (int i = 0; i < m->ncols; i++)
	{
		IrColumn   *c = &m->cols[i];
		Shape		live;
		Shape		in;
		StringInfoData why;
		double		wr;
		double		lr;

		/* a lookup writes an id, and a constant is the user's own value */
		if (c->lookup || c->src == 0)
			continue;
		ir_spi_exec(psprintf("SELECT %s FROM %s t WHERE t.%s IS NOT NULL LIMIT %d",
							 ir_sql_text(psprintf("t.%s", quote_identifier(c->name))), m->scan,
							 quote_identifier(c->name), SHAPE_SAMPLE),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		live = shape_of(SPI_tuptable, SPI_processed, 1);
		if (live.n < SHAPE_MIN_LIVE)
		{
			appendStringInfo(&skipped, "%s\"%s\" (%d)", skipped.len ? ", " : "",
							 c->name, live.n);
			continue;
		}
		in = shape_of(incoming, nincoming, i + 1);
		if (in.n == 0)
			continue;

		initStringInfo(&why);
		if (fabs(in.at - live.at) >= 0.5)
			appendStringInfo(&why, "%s contain \"@\" (live %s)", pct(in.at), pct(live.at));
		if (fabs(in.digits - live.digits) >= 0.5)
			appendStringInfo(&why, "%s%s of characters are digits (live %s)",
							 why.len ? ", " : "", pct(in.digits), pct(live.digits));
		if (fabs(in.letters - live.letters) >= 0.5)
			appendStringInfo(&why, "%s%s of characters are letters (live %s)",
							 why.len ? ", " : "", pct(in.letters), pct(live.letters));
		wr = Max(in.words, live.words) / Max(Min(in.words, live.words), 0.01);
		if (wr >= 3 && fabs(in.words - live.words) >= 2)
			appendStringInfo(&why, "%s%.1f words per value (live %.1f)",
							 why.len ? ", " : "", in.words, live.words);
		lr = Max(in.length, live.length) / Max(Min(in.length, live.length), 1);
		if (lr >= 4 && fabs(in.length - live.length) >= 10)
			appendStringInfo(&why, "%smedian length %d (live %d)",
							 why.len ? ", " : "", (int) in.length, (int) live.length);
		if (why.len > 0)
			report_mismatch(run, c, why.data, &in, &live);
	}
	if (skipped.len > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

		run->notes = lappend(run->notes,
							 psprintf("mapping check skipped columns with fewer than %d live values: %s",
									  SHAPE_MIN_LIVE, skipped.data));
		MemoryContextSwitchTo(old);
	}
}
