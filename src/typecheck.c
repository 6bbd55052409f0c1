/*-------------------------------------------------------------------------
 *
 * typecheck.c
 *	  The one pass a validation makes in C over a batch's staging table (a
 *	  plain heap scan, no SPI), as the caller; on each row:
 *	    types   every mapped value through its type's input function with
 *	            the column's typmod (compat.h: soft errors on 16+, chunked
 *	            subtransactions with bisection on 15); the reason is
 *	            PostgreSQL's own message
 *	    CHECK   the target's CHECK constraints whose columns are all mapped,
 *	            evaluated from their stored expressions on each row
 *	    foreign keys and reference rules: their distinct values collected
 *	    cells   the per-row checks of one cell's text (cellcheck.c) flag
 *	            the rows rowcheck.c's SQL must look at
 *	    hashes  the duplicate prefilter: rows whose typed values of the key,
 *	            a unique_in_file set or a unique index hash like another
 *	            row's
 *	  The types' input and hash functions and the constraints are user
 *	  code: the caller runs the pass inside ir_guard_begin/end (exec.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "compat.h"
#include "exec.h"
#include "transform.h"
#include "validate.h"


/*
 * One mapped column in the type-check pass: its values for the rows of the
 * current chunk, and what its input function made of them.
 */
typedef struct ChunkCol
{
	int			col;			/* index into m->cols */
	FmgrInfo	input;
	Oid			ioparam;
	IrLookupTable *lookup;		/* its lookup, read once for the pass */
	Datum		constant;		/* a constant's typed value */
	char	  **raw;			/* per chunk row: the file's text, NULL for NULL */
	char	  **text;			/* per chunk row: after its text steps, NULL for NULL */
	Datum	   *value;			/* per chunk row: the typed value */
	bool	   *ok;				/* per chunk row: raw is NULL or converted */
	char	  **in;				/* the non-NULL values, for ir_check_inputs */
	char	  **formatted;		/* their format's ISO texts */
	Datum	   *fvalue;			/* or the format's value itself (direct) */
	bool		direct;			/* the format's value is the column's: no input */
	HTAB	   *memo;			/* texts already formatted (FormatMemo) */
	MemoryContext memocxt;
	int		   *in_row;			/* their chunk rows */
	Datum	   *in_value;
	int			nin;
	bool		text_only;		/* read for its cell checks alone: no value */
} ChunkCol;

/* A CHECK constraint of the target whose columns are all mapped. */
typedef struct CheckCon
{
	char	   *name;
	ExprState  *state;
	int			ncols;
	int		   *cols;			/* indexes into the pass's ChunkCols */
	int			ord;			/* reject ordinal: its first mapped column */
} CheckCon;

/* A formatted text: the input as the key, its date (direct) or ISO text. */
#define FORMAT_MEMO_KEY 64
#define FORMAT_MEMO_MAX 100000
typedef struct FormatMemo
{
	char		text[FORMAT_MEMO_KEY];
	Datum		value;
	char	   *iso;
} FormatMemo;

/* A distinct value of a foreign key's columns (the hash key: first). */
typedef struct FkEntry
{
	Datum	   *values;
} FkEntry;

/* The foreign key whose set dynahash is working on (it passes no argument). */
static FkValues *fk_hashing = NULL;

static uint32
fk_hash(const void *key, Size keysize)
{
	const Datum *v = *(Datum *const *) key;
	uint32		h = 0;

	for (int k = 0; k < fk_hashing->n; k++)
		h = hash_combine(h, DatumGetUInt32(FunctionCall1Coll(&fk_hashing->hash[k],
															 fk_hashing->coll[k], v[k])));
	return h;
}

static int
fk_match(const void *a, const void *b, Size keysize)
{
	const Datum *x = *(Datum *const *) a;
	const Datum *y = *(Datum *const *) b;

	for (int k = 0; k < fk_hashing->n; k++)
		if (!DatumGetBool(FunctionCall2Coll(&fk_hashing->eq[k], fk_hashing->coll[k], x[k], y[k])))
			return 1;
	return 0;
}

/* Set up the distinct-value set of a foreign key for the pass. */
static void
fk_set_begin(FkValues *fv, IrMapping *m)
{
	HASHCTL		ctl;

	fv->hash = palloc(sizeof(FmgrInfo) * fv->n);
	fv->eq = palloc(sizeof(FmgrInfo) * fv->n);
	fv->coll = palloc(sizeof(Oid) * fv->n);
	fv->typlen = palloc(sizeof(int16) * fv->n);
	fv->typbyval = palloc(sizeof(bool) * fv->n);
	fv->typalign = palloc(sizeof(char) * fv->n);
	fv->types = palloc(sizeof(Oid) * fv->n);
	fv->cxt = CurrentMemoryContext;
	for (int k = 0; k < fv->n; k++)
	{
		IrColumn   *c = &m->cols[fv->idx[k]];
		TypeCacheEntry *tce = lookup_type_cache(c->typid,
												TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);

		if (!OidIsValid(tce->hash_proc) || !OidIsValid(tce->eq_opr))
		{
			fv->set = NULL;		/* no hash support: livecheck.c reads the values in SQL */
			return;
		}
		fmgr_info_copy(&fv->hash[k], &tce->hash_proc_finfo, CurrentMemoryContext);
		fmgr_info_copy(&fv->eq[k], &tce->eq_opr_finfo, CurrentMemoryContext);
		fv->coll[k] = OidIsValid(tce->typcollation) ? DEFAULT_COLLATION_OID : InvalidOid;
		fv->typlen[k] = tce->typlen;
		fv->typbyval[k] = tce->typbyval;
		fv->typalign[k] = tce->typalign;
		fv->types[k] = c->typid;
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Datum *);
	ctl.entrysize = sizeof(FkEntry);
	ctl.hash = fk_hash;
	ctl.match = fk_match;
	ctl.hcxt = CurrentMemoryContext;
	fv->set = hash_create("import_rollback foreign key values", 256, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* The foreign key's distinct values as one array per column; NULL when none. */
Datum *
ir_fk_value_arrays(FkValues *fv, int64 *n)
{
	HASH_SEQ_STATUS seq;
	FkEntry    *e;
	Datum	  **cols = palloc(sizeof(Datum *) * fv->n);
	Datum	   *arrays = palloc(sizeof(Datum) * fv->n);
	int64		count = hash_get_num_entries(fv->set);
	int64		i = 0;

	*n = count;
	if (count == 0)
		return NULL;
	for (int k = 0; k < fv->n; k++)
		cols[k] = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * count);
	hash_seq_init(&seq, fv->set);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		for (int k = 0; k < fv->n; k++)
			cols[k][i] = e->values[k];
		i++;
	}
	for (int k = 0; k < fv->n; k++)
		arrays[k] = PointerGetDatum(construct_array(cols[k], (int) count, fv->types[k],
													fv->typlen[k], fv->typbyval[k], fv->typalign[k]));
	return arrays;
}

/* Everything the type-check pass keeps across chunks. */
typedef struct TypePass
{
	Run		   *run;
	int			ncols;
	ChunkCol   *cols;
	int			nchecks;
	CheckCon   *checks;
	int64	   *row_no;			/* per chunk row */
	int			nrows;
	EState	   *estate;
	TupleTableSlot *slot;		/* a row of the target, for CHECK constraints */
	ChunkCol   *current;		/* column being checked, for the report */
	int		   *colpos;			/* per mapped column: its ChunkCol, or -1 */
	IrCellChecks *cells;		/* the per-row checks made in C, or NULL */
} TypePass;

/*
 * Duplicate prefilter.  Grouping a million distinct keys costs more than
 * the rest of validation, yet a duplicate is rare.  The type pass hashes
 * each row's typed values of every column set planned with
 * ir_plan_duplicates() (the key, each unique_in_file set, each unique
 * index) with the types' own extended hash functions (those of the hash
 * opclass GROUP BY uses, so equal values hash equally), and keeps the rows
 * whose 64-bit hash is not unique: every true duplicate is among them, and
 * the SQL check groups only those.  It was a heap pass of its own, every
 * value through its input function again: 0.1 s of a million rows.
 */
typedef struct RowHash
{
	uint64		hash;
	int64		row_no;
} RowHash;

typedef struct DupSet
{
	int			n;
	int		   *idx;			/* mapped columns */
	FmgrInfo   *hash;
	Oid		   *coll;
	bool		usable;			/* every type hashes, none collates otherwise */
	char	   *cand;			/* once read: ir_duplicate_candidates()'s result */
	RowHash    *rows;
	int64		nrows;
	int64		maxrows;
} DupSet;

/* sort_row_hash(): a qsort specialized for RowHash, comparing inline */
#define ST_SORT sort_row_hash
#define ST_ELEMENT_TYPE RowHash
#define ST_COMPARE(a, b) ((a)->hash < (b)->hash ? -1 : (a)->hash > (b)->hash ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static DupSet *
find_set(Run *run, List *cols)
{
	ListCell   *lc;

	foreach(lc, run->dup_sets)
	{
		DupSet	   *ds = lfirst(lc);
		int			k = 0;
		ListCell   *c;

		if (ds->n != list_length(cols))
			continue;
		foreach(c, cols)
		{
			if (ds->idx[k] != (int) ((IrColumn *) lfirst(c) - run->m->cols))
				break;
			k++;
		}
		if (k == ds->n)
			return ds;
	}
	return NULL;
}

/* Before the type pass: hash the values of cols (IrColumn *) in it. */
void
ir_plan_duplicates(Run *run, List *cols)
{
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);
	DupSet	   *ds;
	ListCell   *lc;
	int			k = 0;
	bool		has_file_column = false;

	if (cols == NIL || find_set(run, cols) != NULL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	ds = palloc0(sizeof(DupSet));
	ds->n = list_length(cols);
	ds->idx = palloc(sizeof(int) * ds->n);
	ds->hash = palloc0(sizeof(FmgrInfo) * ds->n);
	ds->coll = palloc0(sizeof(Oid) * ds->n);
	ds->usable = true;
	foreach(lc, cols)
	{
		IrColumn   *c = lfirst(lc);
		TypeCacheEntry *tce;

		ds->idx[k] = (int) (c - run->m->cols);
		has_file_column |= (c->src > 0);
		/* the looked-up values are known only to the SQL */
		if (c->lookup)
			ds->usable = false;
		tce = lookup_type_cache(c->checked ? c->typid : TEXTOID,
								TYPECACHE_HASH_EXTENDED_PROC_FINFO);
		if (!OidIsValid(tce->hash_extended_proc))
			ds->usable = false;
		/* the SQL compares under the staging text's collation, the default */
		else if (OidIsValid(tce->typcollation) && tce->typcollation != DEFAULT_COLLATION_OID)
			ds->usable = false;
		else
		{
			ds->coll[k] = OidIsValid(tce->typcollation) ? DEFAULT_COLLATION_OID : InvalidOid;
			fmgr_info_copy(&ds->hash[k], &tce->hash_extended_proc_finfo, run->keepcxt);
		}
		k++;
	}
	/* constants alone: every row is equal, nothing to filter */
	ds->usable = ds->usable && has_file_column;
	if (ds->usable)
	{
		ds->maxrows = 1024;
		ds->rows = MemoryContextAllocHuge(run->keepcxt, sizeof(RowHash) * ds->maxrows);
	}
	run->dup_sets = lappend(run->dup_sets, ds);
	MemoryContextSwitchTo(old);
}

/* The type pass: hash chunk row r's values of each set (no part NULL or bad). */
static void
hash_row(TypePass *tp, int r)
{
	ListCell   *lc;

	foreach(lc, tp->run->dup_sets)
	{
		DupSet	   *ds = lfirst(lc);
		uint64		h = 0;
		int			k;

		if (!ds->usable)
			continue;
		for (k = 0; k < ds->n; k++)
		{
			ChunkCol   *cc;

			if (tp->run->m->cols[ds->idx[k]].src == 0)
				continue;		/* a constant: the same in every row */
			cc = &tp->cols[tp->colpos[ds->idx[k]]];
			if (cc->text[r] == NULL || !cc->ok[r])
				break;			/* a NULL part never pairs; a bad one is NULL to the SQL */
			h = hash_combine64(h, DatumGetUInt64(FunctionCall2Coll(&ds->hash[k], ds->coll[k],
																   cc->value[r],
																   UInt64GetDatum(0))));
		}
		if (k < ds->n)
			continue;
		if (ds->nrows == ds->maxrows)
		{
			ds->maxrows *= 2;
			ds->rows = repalloc_huge(ds->rows, sizeof(RowHash) * ds->maxrows);
		}
		ds->rows[ds->nrows].hash = h;
		ds->rows[ds->nrows].row_no = tp->row_no[r];
		ds->nrows++;
	}
}

static uint64 *
palloc0_huge_bitmap(int bits)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, ((Size) 1 << bits) / 8,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/*
 * Keep, sorted by hash, only the rows whose hash may be another row's;
 * returns how many.  Two bitmaps of about 8 slots a row (a slot seen, a
 * slot seen again) leave the rows of slots seen twice, about one in eight,
 * and only those are sorted: sorting all of a million took 0.1 s, this
 * takes 0.02 (5,000,000: 0.6 s and 0.11).
 */
static int64
shared_hashes(RowHash *rows, int64 n)
{
	int			bits = 10;
	uint64	   *seen;
	uint64	   *twice;
	int64		m = 0;

	while (bits < 40 && ((uint64) 1 << bits) < (uint64) n * 8)
		bits++;
	seen = palloc0_huge_bitmap(bits);
	twice = palloc0_huge_bitmap(bits);
	for (int64 i = 0; i < n; i++)
	{
		uint64		slot = rows[i].hash >> (64 - bits);
		uint64		bit = UINT64CONST(1) << (slot & 63);

		if (seen[slot >> 6] & bit)
			twice[slot >> 6] |= bit;
		else
			seen[slot >> 6] |= bit;
	}
	for (int64 i = 0; i < n; i++)
	{
		uint64		slot = rows[i].hash >> (64 - bits);

		if (twice[slot >> 6] & (UINT64CONST(1) << (slot & 63)))
			rows[m++] = rows[i];
	}
	pfree(seen);
	pfree(twice);
	sort_row_hash(rows, m);
	return m;
}

/*
 * Rows that may share a value of cols, as a bigint[] parameter; "" when
 * none can; NULL when the type pass did not hash them (some type has no
 * hash support or collates other than the staging text does, or a lookup
 * gives a value: then every row is grouped).
 */
char *
ir_duplicate_candidates(Run *run, List *cols)
{
	DupSet	   *ds = find_set(run, cols);
	Datum	   *cand;
	int64		ncand = 0;
	int64		n;
	RowHash    *rows;

	if (ds == NULL || !ds->usable)
		return NULL;
	if (ds->cand != NULL)
		return ds->cand;
	rows = ds->rows;
	n = shared_hashes(rows, ds->nrows);
	cand = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Datum) * Max(n, 1));
	for (int64 r = 0; r < n; r++)
		if ((r > 0 && rows[r - 1].hash == rows[r].hash) ||
			(r + 1 < n && rows[r + 1].hash == rows[r].hash))
			cand[ncand++] = Int64GetDatum(rows[r].row_no);
	pfree(ds->rows);
	ds->rows = NULL;
	if (ncand == 0)
		ds->cand = "";
	else
		ds->cand = ir_run_param(run, INT8ARRAYOID, ir_int8_array(cand, ncand));
	pfree(cand);
	return ds->cand;
}

/* Add chunk row r's values of each foreign key, when all are there and good. */
static void
collect_fk_values(TypePass *tp, int r)
{
	ListCell   *lc;

	foreach(lc, tp->run->fk_values)
	{
		FkValues   *fv = lfirst(lc);
		Datum	   *v = palloc(sizeof(Datum) * fv->n);
		bool		found;

		if (fv->set == NULL)
			continue;
		for (int k = 0; k < fv->n; k++)
		{
			ChunkCol   *cc = &tp->cols[tp->colpos[fv->idx[k]]];

			if (!cc->ok[r] || cc->text[r] == NULL)
				goto next;		/* a bad or NULL part: not looked up */
			v[k] = cc->value[r];
		}
		fk_hashing = fv;
		(void) hash_search(fv->set, &v, HASH_FIND, &found);
		if (!found)
		{
			MemoryContext old = MemoryContextSwitchTo(fv->cxt);
			Datum	   *copy = palloc(sizeof(Datum) * fv->n);
			FkEntry    *e;

			for (int k = 0; k < fv->n; k++)
				copy[k] = datumCopy(v[k], fv->typbyval[k], fv->typlen[k]);
			e = hash_search(fv->set, &copy, HASH_ENTER, NULL);
			e->values = copy;
			MemoryContextSwitchTo(old);
		}
next:
		pfree(v);
	}
}

/*
 * Chunk row r's value of column cc is refused, by step ("" for its type's
 * input, else "lookup: ", "date_format: "...) with message.
 */
static void
reject_cell(TypePass *tp, ChunkCol *cc, int r, const char *step, const char *message,
			bool says_value)
{
	Run		   *run = tp->run;
	IrColumn   *c = &run->m->cols[cc->col];
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);
	char	   *shown = ir_quote_shown(cc->text[r]);
	char	   *reason;

	cc->ok[r] = false;
	/* PostgreSQL's own message; add the value where it does not say it */
	if (says_value || strstr(message, shown) != NULL)
		reason = psprintf("%s: %s%s", c->name, step, message);
	else
		reason = psprintf("%s: %s%s: %s", c->name, step, message, shown);
	ir_run_error(run, tp->row_no[r], cc->col + 1, reason);

	if (run->nbad[cc->col] == run->maxbad[cc->col])
	{
		run->maxbad[cc->col] = Max(64, run->maxbad[cc->col] * 2);
		run->bad_rows[cc->col] = repalloc_huge(run->bad_rows[cc->col],
											   sizeof(int64) * run->maxbad[cc->col]);
	}
	run->bad_rows[cc->col][run->nbad[cc->col]++] = tp->row_no[r];
	MemoryContextSwitchTo(old);
}

/* ir_check_inputs' report: the value at idx of the current column is bad. */
static void
report_type_error(int idx, const char *message, void *arg)
{
	TypePass   *tp = (TypePass *) arg;

	reject_cell(tp, tp->current, tp->current->in_row[idx], "", message, false);
}

/* The same for the lookup's match type. */
static void
report_lookup_input(int idx, const char *message, void *arg)
{
	TypePass   *tp = (TypePass *) arg;

	reject_cell(tp, tp->current, tp->current->in_row[idx], "lookup: ", message, false);
}

/* The format of the current column, on its idx-th value (ir_try_each). */
static void
format_one(int idx, void *arg)
{
	TypePass   *tp = (TypePass *) arg;
	ChunkCol   *cc = tp->current;
	IrColumn   *c = &tp->run->m->cols[cc->col];
	FormatMemo *memo;
	bool		found = false;
	bool		memoable = strlen(cc->in[idx]) < FORMAT_MEMO_KEY;

	/* a file repeats its dates: each text is formatted once (up to a limit) */
	if (memoable)
	{
		memo = hash_search(cc->memo, cc->in[idx], HASH_FIND, &found);
		if (found)
		{
			if (cc->direct)
				cc->fvalue[idx] = memo->value;
			else
				cc->formatted[idx] = memo->iso;
			return;
		}
	}
	if (cc->direct)
	{
		Oid			typid;

		cc->fvalue[idx] = ir_prep_format_datum(&c->prep, cc->in[idx], &typid);
		if (c->typid == TIMESTAMPOID)
			cc->fvalue[idx] = DirectFunctionCall1(timestamptz_timestamp, cc->fvalue[idx]);
	}
	else
		cc->formatted[idx] = ir_prep_format(&c->prep, cc->in[idx]);
	/* only values that formatted: an error never gets here */
	if (!memoable || hash_get_num_entries(cc->memo) >= FORMAT_MEMO_MAX)
		return;
	memo = hash_search(cc->memo, cc->in[idx], HASH_ENTER, NULL);
	if (cc->direct)
		memo->value = cc->fvalue[idx];	/* a date or timestamp: by value */
	else
		memo->iso = MemoryContextStrdup(cc->memocxt, cc->formatted[idx]);
}

static void
report_format_error(int idx, const char *message, void *arg)
{
	TypePass   *tp = (TypePass *) arg;
	IrColumn   *c = &tp->run->m->cols[tp->current->col];
	const char *step = c->prep.date_format ? "date_format: " : "timestamp_format: ";

	/* ir_prep_format's own messages name the step already */
	if (strncmp(message, step, strlen(step)) == 0)
		step = "";
	reject_cell(tp, tp->current, tp->current->in_row[idx], step, message, false);
}

/* Keep in cc's list of values to convert only those still ok. */
static void
drop_refused(ChunkCol *cc)
{
	int			n = 0;

	for (int i = 0; i < cc->nin; i++)
	{
		if (!cc->ok[cc->in_row[i]])
			continue;
		cc->in[n] = cc->in[i];
		cc->in_row[n] = cc->in_row[i];
		n++;
	}
	cc->nin = n;
}

/*
 * The lookup of the current column: each value read as the match column's
 * type, then found in the lookup table: exactly one row, or refused.
 */
static void
lookup_chunk(TypePass *tp, ChunkCol *cc)
{
	IrLookupTable *lt = cc->lookup;

	ir_check_inputs(&lt->match_in, lt->match_ioparam, -1, cc->in, cc->nin, cc->in_value,
					report_lookup_input, tp);
	for (int i = 0; i < cc->nin; i++)
	{
		int			r = cc->in_row[i];
		Datum		ret;
		bool		ret_null;
		int			n;

		if (!cc->ok[r])
			continue;
		n = ir_lookup_probe(lt, ir_lookup_key(lt, cc->in_value[i]), &ret, &ret_null);
		if (n != 1)
		{
			MemoryContext old = MemoryContextSwitchTo(tp->run->keepcxt);

			reject_cell(tp, cc, r, "lookup: ",
						psprintf("%s \"%s\" row%s with %s = %s", n == 0 ? "no" : "several", lt->name,
								 n == 0 ? "" : "s", quote_identifier(lt->match),
								 quote_literal_cstr(cc->in[i])), true);
			MemoryContextSwitchTo(old);
			continue;
		}
		if (ret_null)
			cc->text[r] = NULL;	/* a NULL is written */
		else
			cc->value[r] = ret;
	}
}

/*
 * The target's CHECK constraints whose columns are all mapped, prepared
 * for evaluation from their stored expressions (never deparsed and parsed
 * again: no name in them is looked up anew), with the mapped columns they
 * need added to tp->cols.
 */
static void
prepare_checks(TypePass *tp, Relation rel, int *colpos)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	IrMapping  *m = tp->run->m;

	if (constr == NULL || constr->num_check == 0)
		return;
	tp->checks = palloc0(sizeof(CheckCon) * constr->num_check);
	for (int i = 0; i < constr->num_check; i++)
	{
		ConstrCheck *cc = &constr->check[i];
		Node	   *expr = stringToNode(cc->ccbin);
		Bitmapset  *attnos = NULL;
		CheckCon   *con = &tp->checks[tp->nchecks];
		bool		all_mapped = true;
		int			a = -1;

		pull_varattnos(expr, 1, &attnos);
		con->cols = palloc(sizeof(int) * Max(bms_num_members(attnos), 1));
		con->ord = -1;
		while ((a = bms_next_member(attnos, a)) >= 0)
		{
			AttrNumber	attno = a + FirstLowInvalidHeapAttributeNumber;
			int			idx = -1;

			for (int c = 0; c < m->ncols; c++)
				if (m->cols[c].attnum == attno)
					idx = c;
			if (idx < 0)
			{
				all_mapped = false;
				break;
			}
			if (colpos[idx] < 0)
			{
				colpos[idx] = tp->ncols;
				tp->cols[tp->ncols++].col = idx;
			}
			con->cols[con->ncols++] = colpos[idx];
			if (con->ord < 0 || idx < con->ord)
				con->ord = idx;
		}
		if (!all_mapped || con->ncols == 0)
			continue;
		con->name = pstrdup(cc->ccname);
		con->state = ExecPrepareCheck(list_make1(expr), tp->estate);
		con->ord++;
		tp->nchecks++;
	}
}

/* A row failed CHECK constraint con: say which values, as the file gave them. */
static void
report_check(TypePass *tp, CheckCon *con, int r)
{
	Run		   *run = tp->run;
	MemoryContext old = MemoryContextSwitchTo(run->keepcxt);
	StringInfoData reason;

	initStringInfo(&reason);
	for (int k = 0; k < con->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[con->cols[k]];

		appendStringInfo(&reason, "%s%s = %s", k ? ", " : "", run->m->cols[cc->col].name,
						 cc->text[r] ? ir_quote_shown(cc->text[r]) : "NULL");
	}
	appendStringInfo(&reason, " violates check constraint \"%s\" of \"%s\"",
					 con->name, run->m->table);
	ir_run_error(run, tp->row_no[r], con->ord, reason.data);
	MemoryContextSwitchTo(old);
}

/*
 * Check the rows of one chunk: every value through its type's input
 * function, then the CHECK constraints on each row whose values all
 * converted, as the INSERT would (a NULL result passes).
 */
static void
check_chunk(TypePass *tp)
{
	IrMapping  *m = tp->run->m;
	ExprContext *econtext = GetPerTupleExprContext(tp->estate);

	for (int k = 0; k < tp->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[k];
		IrColumn   *c = &m->cols[cc->col];

		if (!c->checked)
			continue;
		tp->current = cc;
		if (c->prep.date_format || c->prep.timestamp_format)
		{
			ir_try_each(cc->nin, format_one, report_format_error, tp);
			for (int i = 0; i < cc->nin && !cc->direct; i++)
				if (cc->ok[cc->in_row[i]])
					cc->in[i] = cc->formatted[i];
			if (cc->direct)
			{
				/* the value is the format's own: no input function */
				for (int i = 0; i < cc->nin; i++)
					if (cc->ok[cc->in_row[i]])
						cc->value[cc->in_row[i]] = cc->fvalue[i];
				continue;
			}
			drop_refused(cc);
		}
		if (cc->lookup)
		{
			lookup_chunk(tp, cc);
			continue;
		}
		ir_check_inputs(&cc->input, cc->ioparam, c->typmod, cc->in, cc->nin,
						cc->in_value, report_type_error, tp);
		for (int i = 0; i < cc->nin; i++)
			if (cc->ok[cc->in_row[i]])
				cc->value[cc->in_row[i]] = cc->in_value[i];
	}
	if (tp->run->fk_values != NIL)
		for (int r = 0; r < tp->nrows; r++)
			collect_fk_values(tp, r);
	if (tp->run->dup_sets != NIL)
		for (int r = 0; r < tp->nrows; r++)
			hash_row(tp, r);
	if (tp->nchecks == 0)
		return;
	for (int r = 0; r < tp->nrows; r++)
	{
		for (int i = 0; i < tp->nchecks; i++)
		{
			CheckCon   *con = &tp->checks[i];
			TupleTableSlot *slot = tp->slot;
			bool		usable = true;

			for (int k = 0; k < con->ncols && usable; k++)
				usable = tp->cols[con->cols[k]].ok[r];
			if (!usable)
				continue;		/* a bad value already rejects the row */
			ExecClearTuple(slot);
			memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
			for (int k = 0; k < con->ncols; k++)
			{
				ChunkCol   *cc = &tp->cols[con->cols[k]];
				int			a = m->cols[cc->col].attnum - 1;

				slot->tts_isnull[a] = (cc->text[r] == NULL);
				slot->tts_values[a] = cc->text[r] ? cc->value[r] : (Datum) 0;
			}
			ExecStoreVirtualTuple(slot);
			econtext->ecxt_scantuple = slot;
			if (!ExecCheck(con->state, econtext))
				report_check(tp, con, r);
			ResetExprContext(econtext);
		}
	}
}

/*
 * A heap scan (no SPI) of the staging rows that parsed at staging, under a
 * snapshot that sees this transaction's own writes so far; each row comes
 * with its attributes deformed up to maxatt.
 */
typedef struct StageScan
{
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			maxatt;
} StageScan;

static void
stage_scan_begin(StageScan *ss, Run *run, int maxatt)
{
	ss->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ss->rel = table_open(ir_stage_table_oid(run->batch->batch_id), AccessShareLock);
	ss->slot = table_slot_create(ss->rel, NULL);
	ss->scan = table_beginscan(ss->rel, ss->snapshot, 0, NULL);
	ss->maxatt = maxatt;
}

/* The next row in ss->slot and its row_no; false at the end. */
static bool
stage_scan_next(StageScan *ss, int64 *row_no)
{
	while (table_scan_getnextslot(ss->scan, ForwardScanDirection, ss->slot))
	{
		slot_getsomeattrs(ss->slot, ss->maxatt);
		if (!ss->slot->tts_isnull[IR_STAGE_STATUS - 1])
			continue;			/* malformed at staging */
		*row_no = DatumGetInt64(ss->slot->tts_values[0]);
		return true;
	}
	return false;
}

static void
stage_scan_end(StageScan *ss)
{
	table_endscan(ss->scan);
	ExecDropSingleTupleTableSlot(ss->slot);
	table_close(ss->rel, AccessShareLock);
	UnregisterSnapshot(ss->snapshot);
}

/*
 * Take row r of the chunk from the staging slot, and flag it when one of
 * its cells fails a per-row check (cellcheck.c).
 */
static void
load_row(TypePass *tp, TupleTableSlot *slot, int64 row_no)
{
	int			r = tp->nrows++;
	bool		flag = false;

	tp->row_no[r] = row_no;
	for (int k = 0; k < tp->ncols; k++)
	{
		ChunkCol   *cc = &tp->cols[k];
		IrColumn   *c = &tp->run->m->cols[cc->col];
		int			a = IR_STAGE_FIELD(c->src) - 1;

		cc->ok[r] = true;
		if (c->src == 0)
		{
			/* a constant: checked once, when the mapping was read */
			cc->raw[r] = cc->text[r] = c->constant;
			cc->value[r] = cc->constant;
		}
		else
		{
			cc->raw[r] = slot->tts_isnull[a] ? NULL : TextDatumGetCString(slot->tts_values[a]);
			cc->text[r] = ir_prep_text(&c->prep, cc->raw[r]);
			if (cc->text[r] == NULL || cc->text_only)
				;
			else if (c->checked)
			{
				cc->in[cc->nin] = cc->text[r];
				cc->in_row[cc->nin++] = r;
			}
			else
				cc->value[r] = PointerGetDatum(cstring_to_text(cc->text[r]));	/* text as is */
		}
		if (!flag && ir_cell_checks_on(tp->cells, cc->col))
			flag = ir_cell_fails(tp->cells, cc->col, cc->text[r]);
	}
	if (flag)
		ir_cell_flag(tp->run, row_no);
}

/*
 * One pass over the staging table (a plain heap scan, no SPI): every
 * non-NULL value of every mapped column that needs it goes through its
 * type's input function, and every row through the CHECK constraints of
 * the target whose columns are all mapped, a chunk of rows at a time, and
 * through the per-row checks of cellcheck.c.  Runs as the caller, as the
 * INSERT would.
 */
void
ir_check_types(Run *run)
{
	IrMapping  *m = run->m;
	TypePass	tp;
	int		   *colpos = palloc(sizeof(int) * Max(m->ncols, 1));
	int			maxatt = 0;
	StageScan	ss;
	int64		row_no;
	MemoryContext chunkcxt;
	MemoryContext oldcxt;
	Relation	rel;
	ListCell   *lc;

	memset(&tp, 0, sizeof(tp));
	tp.run = run;
	tp.cols = palloc0(sizeof(ChunkCol) * Max(m->ncols, 1));
	run->bad_rows = palloc0(sizeof(int64 *) * m->ncols);
	run->nbad = palloc0(sizeof(int) * m->ncols);
	run->maxbad = palloc0(sizeof(int) * m->ncols);
	for (int i = 0; i < m->ncols; i++)
	{
		colpos[i] = -1;
		run->bad_rows[i] = palloc(sizeof(int64));
		run->maxbad[i] = 1;
		if (!m->cols[i].checked)
			continue;
		colpos[i] = tp.ncols;
		tp.cols[tp.ncols++].col = i;
	}
	tp.colpos = colpos;
	tp.estate = CreateExecutorState();
	rel = relation_open(m->relid, AccessShareLock);
	prepare_checks(&tp, rel, colpos);
	/* the columns of the foreign keys, whose distinct values are collected */
	foreach(lc, run->fk_values)
	{
		FkValues   *fv = lfirst(lc);

		for (int k = 0; k < fv->n; k++)
			if (colpos[fv->idx[k]] < 0)
			{
				colpos[fv->idx[k]] = tp.ncols;
				tp.cols[tp.ncols++].col = fv->idx[k];
			}
		fk_set_begin(fv, m);
	}
	/* the columns whose values the duplicate prefilter hashes */
	foreach(lc, run->dup_sets)
	{
		DupSet	   *ds = lfirst(lc);

		for (int k = 0; k < ds->n && ds->usable; k++)
			if (colpos[ds->idx[k]] < 0 && m->cols[ds->idx[k]].src > 0)
			{
				colpos[ds->idx[k]] = tp.ncols;
				tp.cols[tp.ncols++].col = ds->idx[k];
			}
	}
	/* the columns of the per-row checks made in C, as text */
	tp.cells = ir_cell_checks_begin(run);
	for (int i = 0; i < m->ncols; i++)
		if (colpos[i] < 0 && ir_cell_checks_on(tp.cells, i))
		{
			colpos[i] = tp.ncols;
			tp.cols[tp.ncols].text_only = true;
			tp.cols[tp.ncols++].col = i;
		}
	run->cells_checked = true;
	if (tp.ncols == 0)
	{
		relation_close(rel, NoLock);
		FreeExecutorState(tp.estate);
		return;
	}
	tp.slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	tp.row_no = palloc(sizeof(int64) * TYPE_FETCH);
	for (int k = 0; k < tp.ncols; k++)
	{
		ChunkCol   *cc = &tp.cols[k];
		IrColumn   *c = &m->cols[cc->col];

		if (c->checked || c->src == 0)
		{
			Oid			infunc;

			getTypeInputInfo(c->typid, &infunc, &cc->ioparam);
			fmgr_info(infunc, &cc->input);
		}
		if (c->src == 0 && c->constant)
			cc->constant = InputFunctionCall(&cc->input, c->constant, cc->ioparam, c->typmod);
		if (c->lookup)
			cc->lookup = ir_lookup_open(c->lookup->relid, c->lookup->match, c->lookup->ret,
										c->lookup->ignore_case, true, CurrentMemoryContext);
		cc->raw = palloc(sizeof(char *) * TYPE_FETCH);
		cc->text = palloc(sizeof(char *) * TYPE_FETCH);
		cc->value = palloc(sizeof(Datum) * TYPE_FETCH);
		cc->ok = palloc(sizeof(bool) * TYPE_FETCH);
		cc->in = palloc(sizeof(char *) * TYPE_FETCH);
		cc->formatted = palloc(sizeof(char *) * TYPE_FETCH);
		cc->fvalue = palloc(sizeof(Datum) * TYPE_FETCH);
		if (c->prep.date_format || c->prep.timestamp_format)
		{
			HASHCTL		ctl;

			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = FORMAT_MEMO_KEY;
			ctl.entrysize = sizeof(FormatMemo);
			ctl.hcxt = cc->memocxt = CurrentMemoryContext;
			cc->memo = hash_create("import_rollback formats", 1024, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		}
		/* a date read by date_format into a date column, and so on (typmods need the input) */
		cc->direct = !c->lookup && c->typmod < 0 &&
			((c->prep.date_format && c->typid == DATEOID) ||
			 (c->prep.timestamp_format && (c->typid == TIMESTAMPTZOID || c->typid == TIMESTAMPOID)));
		cc->in_row = palloc(sizeof(int) * TYPE_FETCH);
		cc->in_value = palloc(sizeof(Datum) * TYPE_FETCH);
		if (c->src > 0)
			maxatt = Max(maxatt, IR_STAGE_FIELD(c->src));
	}
	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "import_rollback type checks",
									 ALLOCSET_DEFAULT_SIZES);

	stage_scan_begin(&ss, run, Max(maxatt, IR_STAGE_FIXED_COLS));
	while (stage_scan_next(&ss, &row_no))
	{
		bool		full;

		oldcxt = MemoryContextSwitchTo(chunkcxt);
		load_row(&tp, ss.slot, row_no);
		full = (tp.nrows == TYPE_FETCH);
		if (full)
			check_chunk(&tp);
		MemoryContextSwitchTo(oldcxt);
		if (full)
		{
			MemoryContextReset(chunkcxt);
			tp.nrows = 0;
			for (int k = 0; k < tp.ncols; k++)
				tp.cols[k].nin = 0;
		}
	}
	oldcxt = MemoryContextSwitchTo(chunkcxt);
	check_chunk(&tp);
	MemoryContextSwitchTo(oldcxt);
	stage_scan_end(&ss);
	MemoryContextDelete(chunkcxt);
	ExecDropSingleTupleTableSlot(tp.slot);
	FreeExecutorState(tp.estate);
	relation_close(rel, NoLock);
}
