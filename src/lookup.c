/*-------------------------------------------------------------------------
 *
 * lookup.c
 *	  Lookups: a mapped value must match exactly one row of another table
 *	  by its "match" column, and that row's "return" column is what is
 *	  written.  The lookup table is read once per statement (as the caller:
 *	  its privileges apply; mapping.c refuses tables under row security for
 *	  the caller) into a hash table keyed by the match column's values, and
 *	  every value is then found in it: one read of the table for the whole
 *	  batch, as a hash join would, whatever the statement (the validation's
 *	  C pass, the apply, the reports: import_rollback.ir_lookup()).
 *
 * Values compare as the match column's type, with its type's own hash and
 * equality (the type cache: no operator is looked up by name) under the
 * column's collation; with ignore_case (text only) both sides go through
 * lower() first.  NULL matches nothing.  While a member of a run is
 * validated, the rows the run's earlier members will write count too
 * (pending.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "exec.h"
#include "pending.h"
#include "transform.h"

PG_FUNCTION_INFO_V1(ir_lookup);

/* One match value of the lookup table. */
typedef struct LookupEntry
{
	Datum		key;			/* the hash key: must be first */
	Datum		ret;
	bool		ret_null;
	int			count;			/* rows with this match value (2 means several) */
} LookupEntry;

/* The table whose hash functions dynahash is running (it passes no argument). */
static IrLookupTable *hashing = NULL;

static uint32
entry_hash(const void *key, Size keysize)
{
	return DatumGetUInt32(FunctionCall1Coll(&hashing->hash, hashing->match_coll,
											*(const Datum *) key));
}

static int
entry_match(const void *a, const void *b, Size keysize)
{
	return DatumGetBool(FunctionCall2Coll(&hashing->eq, hashing->match_coll,
										  *(const Datum *) a, *(const Datum *) b)) ? 0 : 1;
}

/* The hash key of a value of the match column's type. */
Datum
ir_lookup_key(IrLookupTable *lt, Datum match_value)
{
	if (lt->ignore_case)
		return DirectFunctionCall1Coll(lower, lt->match_coll, match_value);
	return match_value;
}

/*
 * While a run's member is validated: the rows the run's earlier members
 * will write to the lookup table (pending.c).  A row whose match value a
 * member gives as its key is the same record as a live row with that
 * value (its upsert will update it); any other repeat makes the value
 * ambiguous.  A return value the member does not map is known only once
 * it is written: NULL until then.
 */
static void
add_pending(IrLookupTable *lt, TypeCacheEntry *tce)
{
	ListCell   *lc;

	foreach(lc, ir_pending_for(lt->relid))
	{
		IrPending  *p = lfirst(lc);
		const char *mexpr = ir_pending_expr(p, lt->match);
		const char *rexpr = ir_pending_expr(p, lt->ret);
		bool		same_record = p->key && strcmp(p->key, lt->match) == 0;

		if (mexpr == NULL)
			continue;
		SPI_connect();
		ir_spi_exec(psprintf("SELECT %s, %s FROM %s", mexpr, rexpr ? rexpr : "NULL",
							 ir_pending_rows_sql(p)),
					0, NULL, NULL, NULL, SPI_OK_SELECT, NULL);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			bool		rnull;
			Datum		m = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			Datum		r = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &rnull);
			MemoryContext old;
			Datum		key;
			LookupEntry *e;
			bool		found;

			if (isnull)
				continue;
			old = MemoryContextSwitchTo(lt->cxt);
			key = datumCopy(ir_lookup_key(lt, m), tce->typbyval, tce->typlen);
			hashing = lt;
			e = hash_search(lt->rows, &key, HASH_ENTER, &found);
			if (found && !same_record)
				e->count = 2;
			else if (!found || rexpr)
			{
				/* new, or the same record with the value the member writes */
				if (!found)
					e->count = 1;
				e->ret_null = rnull || rexpr == NULL;
				e->ret = e->ret_null ? (Datum) 0 : datumCopy(r, lt->ret_byval, lt->ret_len);
			}
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
}

/*
 * Read relid's match and return columns into a lookup table, in a context
 * under cxt.  The caller has checked the columns and the caller's rights.
 * Fresh (outside any statement: validation's type pass) reads the table as
 * it is now, writes earlier in the transaction included (a run's earlier
 * members); otherwise it is read with the calling statement's snapshot.
 */
IrLookupTable *
ir_lookup_open(Oid relid, const char *match, const char *ret, bool ignore_case,
			   bool fresh, MemoryContext cxt)
{
	IrLookupTable *lt;
	MemoryContext old;
	AttrNumber	match_att = get_attnum(relid, match);
	AttrNumber	ret_att = get_attnum(relid, ret);
	int32		typmod;
	Oid			keytype;
	TypeCacheEntry *tce;
	HASHCTL		ctl;
	Oid			infunc;
	SPIPlanPtr	plan;
	Portal		portal;
	int			guard;

	if (match_att == InvalidAttrNumber || ret_att == InvalidAttrNumber)
		elog(ERROR, "lookup columns of relation %u are gone", relid);
	cxt = AllocSetContextCreate(cxt, "import_rollback lookup", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	lt = palloc0(sizeof(IrLookupTable));
	lt->cxt = cxt;
	lt->relid = relid;
	lt->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	lt->match = pstrdup(match);
	lt->ret = pstrdup(ret);
	lt->ignore_case = ignore_case;
	get_atttypetypmodcoll(relid, match_att, &lt->match_type, &typmod, &lt->match_coll);
	lt->ret_type = get_atttype(relid, ret_att);
	get_typlenbyval(lt->ret_type, &lt->ret_len, &lt->ret_byval);
	getTypeInputInfo(lt->match_type, &infunc, &lt->match_ioparam);
	fmgr_info_cxt(infunc, &lt->match_in, cxt);

	keytype = ignore_case ? TEXTOID : lt->match_type;
	tce = lookup_type_cache(keytype, TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);
	if (!OidIsValid(tce->hash_proc) || !OidIsValid(tce->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("type %s has no hash function and equality to look values up with",
						format_type_be(keytype)),
				 errdetail("Lookup column \"%s\" of %s has that type.", match, lt->name)));
	fmgr_info_copy(&lt->hash, &tce->hash_proc_finfo, cxt);
	fmgr_info_copy(&lt->eq, &tce->eq_opr_finfo, cxt);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Datum);
	ctl.entrysize = sizeof(LookupEntry);
	ctl.hash = entry_hash;
	ctl.match = entry_match;
	ctl.hcxt = cxt;
	lt->rows = hash_create("import_rollback lookup", 1024, &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	MemoryContextSwitchTo(old);

	/* the rows, through a cursor, as the caller */
	SPI_connect();
	guard = ir_guard_begin();
	plan = SPI_prepare(psprintf("SELECT l.%s, l.%s FROM %s l", quote_identifier(match),
								quote_identifier(ret), lt->name),
					   0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for a lookup: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, !fresh);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		m = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
			Datum		r;
			bool		rnull;
			Datum		key;
			LookupEntry *e;
			bool		found;

			if (isnull)
				continue;
			r = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &rnull);
			old = MemoryContextSwitchTo(cxt);
			key = datumCopy(ir_lookup_key(lt, m), tce->typbyval, tce->typlen);
			hashing = lt;
			e = hash_search(lt->rows, &key, HASH_ENTER, &found);
			if (found)
				e->count = 2;
			else
			{
				e->count = 1;
				e->ret_null = rnull;
				e->ret = rnull ? (Datum) 0 : datumCopy(r, lt->ret_byval, lt->ret_len);
			}
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	ir_guard_end(guard);
	SPI_finish();
	add_pending(lt, tce);
	return lt;
}

/*
 * How many rows have this key (0, 1, or 2 for several); with exactly one,
 * its return value in *ret / *ret_null (NULL when only a run's earlier
 * member will write it, and the value is known only then).
 */
int
ir_lookup_probe(IrLookupTable *lt, Datum key, Datum *ret, bool *ret_null)
{
	LookupEntry *e;

	hashing = lt;
	e = hash_search(lt->rows, &key, HASH_FIND, NULL);
	if (e == NULL)
		return 0;
	if (e->count == 1)
	{
		*ret = e->ret;
		*ret_null = e->ret_null;
	}
	return e->count;
}

/*
 * ir_lookup(value text, lookup oid, match name, ret name, ignore_case
 *			 boolean, target anyelement) RETURNS anyelement
 *
 * The return column of the one row of the lookup table whose match column
 * equals value (read as that column's type); NULL for NULL.  No row, or
 * several, is an error: the statements that call it run on validated rows,
 * so it means the lookup table changed since the validation.
 */
Datum
ir_lookup(PG_FUNCTION_ARGS)
{
	IrLookupTable *lt = (IrLookupTable *) fcinfo->flinfo->fn_extra;
	char	   *value;
	Datum		ret;
	bool		ret_null;
	int			n;

	if (lt == NULL)
	{
		if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
			elog(ERROR, "ir_lookup needs its lookup");
		for (int i = 1; i <= 4; i++)
			if (!get_fn_expr_arg_stable(fcinfo->flinfo, i))
				elog(ERROR, "ir_lookup's lookup must be constant");
		lt = ir_lookup_open(PG_GETARG_OID(1), NameStr(*PG_GETARG_NAME(2)),
							NameStr(*PG_GETARG_NAME(3)), PG_GETARG_BOOL(4), false,
							fcinfo->flinfo->fn_mcxt);
		if (get_fn_expr_argtype(fcinfo->flinfo, 5) != lt->ret_type)
			elog(ERROR, "ir_lookup's target type is not the return column's");
		fcinfo->flinfo->fn_extra = lt;
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	n = ir_lookup_probe(lt, ir_lookup_key(lt, InputFunctionCall(&lt->match_in, value,
																lt->match_ioparam, -1)),
						&ret, &ret_null);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("no \"%s\" row with %s = %s", lt->name, quote_identifier(lt->match),
						quote_literal_cstr(value)),
				 errdetail("The lookup table changed since the batch was validated."),
				 errhint("Validate the batch again.")));
	if (n > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("several \"%s\" rows with %s = %s", lt->name, quote_identifier(lt->match),
						quote_literal_cstr(value)),
				 errdetail("The lookup table changed since the batch was validated."),
				 errhint("Validate the batch again.")));
	if (ret_null)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(ret, lt->ret_byval, lt->ret_len));
}
