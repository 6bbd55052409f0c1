/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  While a member of a run is validated, the rows its run's earlier
 *	  members (in apply order: parents first) will write count as present:
 *	  a lookup, a reference rule or a foreign-key check into a table such
 *	  a member writes resolves against the live rows plus that member's
 *	  valid rows.  validate.c sets the list for the validation (and clears
 *	  it, error or not); lookup.c, rowcheck.c and livecheck.c read it.
 *	  The members' staging tables are lent to the caller for the time.
 *
 * A pending row gives the values its member maps; a value it does not
 * map (an identity its insert will generate) is known only at apply,
 * when the member has written it: a lookup that finds such a row accepts
 * the value and writes NULL for it in validation, and the apply, which
 * runs after that member's write, reads the real one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "exec.h"
#include "pending.h"
#include "sqlgen.h"

static List *pending_now = NIL;
static int	pending_level = 0;	/* the transaction nest level that set it */

/* An error that aborts the (sub)transaction that set the list clears it. */
static void
pending_xact_callback(XactEvent event, void *arg)
{
	pending_now = NIL;
}

static void
pending_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && GetCurrentTransactionNestLevel() <= pending_level)
		pending_now = NIL;
}

/*
 * Set (or with NIL clear) the earlier members' rows, for a validation or
 * a report of a member; the list lives in the caller's memory.
 */
void
ir_pending_set(List *pending)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(pending_xact_callback, NULL);
		RegisterSubXactCallback(pending_subxact_callback, NULL);
		registered = true;
	}
	pending_now = pending;
	pending_level = GetCurrentTransactionNestLevel();
}

/* The earlier members that write relid. */
List *
ir_pending_for(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, pending_now)
		if (((IrPending *) lfirst(lc))->relid == relid)
			result = lappend(result, lfirst(lc));
	return result;
}

/* The typed value of target column col in a member's rows, or NULL. */
const char *
ir_pending_expr(const IrPending *p, const char *col)
{
	for (int i = 0; i < p->ncols; i++)
		if (strcmp(p->cols[i], col) == 0)
			return p->exprs[i];
	return NULL;
}

/* SQL: FROM ... of a member's rows that will be written (alias s). */
char *
ir_pending_rows_sql(const IrPending *p)
{
	return psprintf("%s s WHERE s.status IS NULL", p->stage);
}

typedef struct PendingMatch
{
	const IrPending *p;
	char	  **ref_cols;
	const Oid  *pfeqop;
} PendingMatch;

/* The member's value of referenced column c equals k.c<c+1>. */
static char *
pending_match(int c, void *arg)
{
	PendingMatch *mc = arg;

	return ir_sql_op(mc->pfeqop[c], ir_pending_expr(mc->p, mc->ref_cols[c]), psprintf("k.c%d", c + 1));
}

/*
 * Of the values missing from relid (arrays of types, one per column of
 * ref_cols, compared by pfeqop as a foreign key compares them), those no
 * earlier member will write either; NULL when none are left.  As the
 * caller, who has the members' staging tables lent.
 */
Datum *
ir_pending_filter(Oid relid, int ncols, char **ref_cols, const Oid *types,
				  const Oid *pfeqop, Datum *arrays, int64 *nmissing)
{
	ListCell   *lc;

	foreach(lc, ir_pending_for(relid))
	{
		IrPending  *p = lfirst(lc);
		PendingMatch mc;
		char	   *sql;
		Oid		   *argtypes = palloc(sizeof(Oid) * ncols);
		bool		complete = true;
		bool		isnull;

		for (int c = 0; c < ncols; c++)
			complete = complete && ir_pending_expr(p, ref_cols[c]) != NULL;
		if (!complete || *nmissing == 0)
			continue;
		mc.p = p;
		mc.ref_cols = ref_cols;
		mc.pfeqop = pfeqop;
		sql = ir_sql_values_missing(ncols, types, argtypes, psprintf("FROM %s", ir_pending_rows_sql(p)),
									pending_match, &mc);
		SPI_connect();
		ir_spi_exec(sql, ncols, argtypes, arrays, NULL, SPI_OK_SELECT, NULL);
		*nmissing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		for (int c = 0; c < ncols && *nmissing > 0; c++)
			arrays[c] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														c + 2, &isnull),
										  false, -1);
		SPI_finish();
	}
	return *nmissing > 0 ? arrays : NULL;
}
