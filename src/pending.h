/*-------------------------------------------------------------------------
 *
 * pending.h
 *	  Rows a run's earlier members will write, for validating a later one
 *	  (pending.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_PENDING_H
#define IR_PENDING_H

#include "nodes/pg_list.h"

/* One earlier member: its target and its valid rows' typed values. */
typedef struct IrPending
{
	int64		batch_id;
	Oid			relid;			/* the table it writes */
	char	   *stage;			/* its staging table, qualified */
	int			ncols;
	char	  **cols;			/* target columns it maps */
	char	  **exprs;			/* their typed values, over alias s */
	char	   *key;			/* its key column when it has one, else NULL */
} IrPending;

extern void ir_pending_set(List *pending);
extern List *ir_pending_for(Oid relid);
extern const char *ir_pending_expr(const IrPending *p, const char *col);
extern char *ir_pending_rows_sql(const IrPending *p);
extern Datum *ir_pending_filter(Oid relid, int ncols, char **ref_cols, const Oid *types,
								const Oid *pfeqop, Datum *arrays, int64 *nmissing);

#endif							/* IR_PENDING_H */
