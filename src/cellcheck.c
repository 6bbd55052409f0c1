/*-------------------------------------------------------------------------
 *
 * cellcheck.c
 *	  The per-row checks of a validation that need one cell's text only
 *	  (key present, required, NOT NULL, pattern, format, allowed), made in
 *	  C on the text the type pass (typecheck.c) reads anyway.  They only
 *	  find the rows that fail one: rowcheck.c's SQL still decides each
 *	  reason, for those rows alone, so a row with no failing cell costs no
 *	  SQL at all.  A check here may flag a row the SQL then passes, never
 *	  the other way round.
 *
 * A pattern is PostgreSQL's regex engine, called as the !~ operator calls
 * it (same flags, the database's collation).  A pattern that is one
 * bracket expression repeated over the whole value, "^[0-9+() .-]+$", is
 * matched by a table of ASCII bytes instead: exact for an ASCII value, and
 * any other value goes to the engine.  It was a quarter of a COPY of a
 * million-row file; the table makes it nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "regex/regex.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "formats.h"
#include "validate.h"

typedef enum CellKind
{
	CELL_MISSING,				/* NULL, empty or spaces only */
	CELL_NULL,
	CELL_PATTERN,
	CELL_FORMAT,
	CELL_ALLOWED
} CellKind;

typedef struct CellCheck
{
	CellKind	kind;
	IrFormat	format;
	text	   *pattern;
	/* a pattern "^[set]{min,max}$" over ASCII: set as a table, or !simple */
	bool		simple;
	bool		in_set[128];
	int			min;
	int			max;			/* -1: no limit */
	char	  **allowed;		/* sorted by strcmp */
	int			nallowed;
	struct CellCheck *next;
} CellCheck;

struct IrCellChecks
{
	CellCheck **col;			/* per mapped column: its checks, or NULL */
};

static void
add(IrCellChecks *cx, int col, CellCheck *ck)
{
	ck->next = cx->col[col];
	cx->col[col] = ck;
}

static CellCheck *
new_check(CellKind kind)
{
	CellCheck  *ck = palloc0(sizeof(CellCheck));

	ck->kind = kind;
	return ck;
}

/* A bound of a quantifier: 0 to 255 digits-only, advancing *p; -1 for anything else. */
static int
bound(const char **p)
{
	int			v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9' && v <= 255)
		v = v * 10 + (*s++ - '0');
	if (v > 255)
		return -1;
	*p = s;
	return v;
}

/*
 * Read "^[set]$", "^[set]+$", "^[set]*$", "^[set]{m}$", "^[set]{m,}$" or
 * "^[set]{m,n}$" into ck's table; false for anything else (the engine then
 * matches it).  The set holds printable ASCII characters and
 * ranges of them; "-" first or last is itself.  A backslash, "[" (classes
 * such as [:digit:]) or "]" inside, a range from or to "-", a "-" right
 * after a range, or a bound over 255 (the engine's limit) is left to the
 * engine.
 */
static bool
parse_simple(CellCheck *ck, const char *p)
{
	bool		negate = false;
	bool		set[128] = {false};
	const char *s;
	int			n = 0;

	if (p[0] != '^' || p[1] != '[')
		return false;
	s = p + 2;
	if (*s == '^')
	{
		negate = true;
		s++;
	}
	if (*s == ']')
		return false;
	while (*s != ']')
	{
		unsigned char a = (unsigned char) *s;

		if (a < 0x20 || a >= 0x7f || a == '\\' || a == '[')
			return false;
		if (s[1] == '-' && s[2] != ']' && s[2] != '\0')
		{
			unsigned char b = (unsigned char) s[2];

			if (a == '-' || b == '-' || b < 0x20 || b >= 0x7f || b == '\\' || b == '[' ||
				b == ']' || b < a || s[3] == '-')
				return false;
			for (int c = a; c <= b; c++)
				set[c] = true;
			s += 3;
		}
		else
		{
			set[a] = true;
			s++;
		}
		n++;
	}
	if (n == 0)
		return false;
	s++;
	if (s[0] == '+' && s[1] == '$' && s[2] == '\0')
		ck->min = 1, ck->max = -1;
	else if (s[0] == '*' && s[1] == '$' && s[2] == '\0')
		ck->min = 0, ck->max = -1;
	else if (s[0] == '$' && s[1] == '\0')
		ck->min = 1, ck->max = 1;
	else if (s[0] == '{')
	{
		const char *d = s + 1;
		int			lo = bound(&d);
		int			hi = lo;

		if (lo < 0)
			return false;
		if (*d == ',')
		{
			d++;
			hi = *d == '}' ? -1 : bound(&d);
			if (hi == -1 ? *d != '}' : hi < lo)
				return false;
		}
		if (d[0] != '}' || d[1] != '$' || d[2] != '\0')
			return false;
		ck->min = lo;
		ck->max = hi;
	}
	else
		return false;
	for (int c = 0; c < 128; c++)
		ck->in_set[c] = negate ? !set[c] : set[c];
	ck->simple = true;
	return true;
}

/* The checks of each mapped column the type pass reads; NULL when there are none. */
IrCellChecks *
ir_cell_checks_begin(Run *run)
{
	IrMapping  *m = run->m;
	Rules	   *r = &run->rules;
	IrCellChecks *cx = palloc0(sizeof(IrCellChecks));
	bool		any = false;
	ListCell   *lc;

	cx->col = palloc0(sizeof(CellCheck *) * Max(m->ncols, 1));
	for (int i = 0; i < m->ncols; i++)
	{
		IrColumn   *c = &m->cols[i];

		if (c->is_key || list_member_ptr(r->required, c))
			add(cx, i, new_check(CELL_MISSING));
		else if (c->notnull)
			add(cx, i, new_check(CELL_NULL));
	}
	foreach(lc, r->patterns)
	{
		ColumnRule *cr = lfirst(lc);
		CellCheck  *ck = new_check(CELL_PATTERN);

		ck->pattern = cstring_to_text(cr->arg);
		/* compiled once here: a bad pattern fails before any row is read */
		(void) RE_compile_and_cache(ck->pattern, REG_ADVANCED, DEFAULT_COLLATION_OID);
		(void) parse_simple(ck, cr->arg);
		add(cx, (int) (cr->col - m->cols), ck);
	}
	foreach(lc, r->formats)
	{
		ColumnRule *cr = lfirst(lc);
		CellCheck  *ck = new_check(CELL_FORMAT);

		ck->format = strcmp(cr->arg, "email") == 0 ? IR_FORMAT_EMAIL :
			strcmp(cr->arg, "phone") == 0 ? IR_FORMAT_PHONE : IR_FORMAT_URL;
		add(cx, (int) (cr->col - m->cols), ck);
	}
	foreach(lc, r->allowed)
	{
		ColumnRule *cr = lfirst(lc);
		CellCheck  *ck = new_check(CELL_ALLOWED);
		Datum	   *elems;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(cr->values), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &n);
		ck->allowed = palloc(sizeof(char *) * Max(n, 1));
		for (int k = 0; k < n; k++)
			ck->allowed[k] = TextDatumGetCString(elems[k]);
		qsort(ck->allowed, n, sizeof(char *), pg_qsort_strcmp);
		ck->nallowed = n;
		add(cx, (int) (cr->col - m->cols), ck);
	}
	for (int i = 0; i < m->ncols; i++)
		any |= (cx->col[i] != NULL);
	return any ? cx : NULL;
}

/* Whether mapped column col has checks here (the type pass must read it). */
bool
ir_cell_checks_on(IrCellChecks *cx, int col)
{
	return cx != NULL && cx->col[col] != NULL;
}

static bool
pattern_matches(CellCheck *ck, const char *s, int len)
{
	if (ck->simple)
	{
		bool		ascii = true;
		int			i;

		for (i = 0; i < len; i++)
		{
			unsigned char b = (unsigned char) s[i];

			if (b >= 0x80)
			{
				ascii = false;
				break;
			}
			if (!ck->in_set[b])
				return false;
		}
		if (ascii)
			return len >= ck->min && (ck->max < 0 || len <= ck->max);
	}
	return RE_compile_and_execute(ck->pattern, (char *) s, len, REG_ADVANCED,
								  DEFAULT_COLLATION_OID, 0, NULL);
}

static int
cmp_allowed(const void *key, const void *elem)
{
	return strcmp((const char *) key, *(char *const *) elem);
}

/* Whether text t (after its text steps; NULL for NULL) of mapped column col fails a check. */
bool
ir_cell_fails(IrCellChecks *cx, int col, const char *t)
{
	for (CellCheck *ck = cx->col[col]; ck != NULL; ck = ck->next)
	{
		switch (ck->kind)
		{
			case CELL_MISSING:
				if (t == NULL || t[strspn(t, " ")] == '\0')
					return true;
				break;
			case CELL_NULL:
				if (t == NULL)
					return true;
				break;
			case CELL_PATTERN:
				if (t != NULL && t[0] != '\0' && !pattern_matches(ck, t, strlen(t)))
					return true;
				break;
			case CELL_FORMAT:
				if (t != NULL && t[0] != '\0' && !ir_format_valid(ck->format, t, strlen(t)))
					return true;
				break;
			case CELL_ALLOWED:
				if (t != NULL && bsearch(t, ck->allowed, ck->nallowed, sizeof(char *),
										 cmp_allowed) == NULL)
					return true;
				break;
		}
	}
	return false;
}

/* Record that row row_no fails some check here (rows come in order, once each). */
void
ir_cell_flag(Run *run, int64 row_no)
{
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);

	if (run->nflagged == run->maxflagged)
	{
		run->maxflagged = Max(64, run->maxflagged * 2);
		run->flagged = run->flagged ? repalloc_huge(run->flagged, sizeof(int64) * run->maxflagged)
			: palloc(sizeof(int64) * run->maxflagged);
	}
	run->flagged[run->nflagged++] = row_no;
	MemoryContextSwitchTo(old);
}
