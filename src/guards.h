/*-------------------------------------------------------------------------
 *
 * guards.h
 *	  Post-apply guards over a batch's writes (guards.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_GUARDS_H
#define IR_GUARDS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* What the guards read: the batch's change log and its target, by key. */
typedef struct IrGuardTarget
{
	int64		batch_id;		/* whose change log */
	Oid			relid;
	char	   *scan;			/* the target for SQL text (ONLY ...) */
	char	   *log;			/* the batch's change log, qualified */
	int			nkeys;
	char	  **keys;
	const int  *keypos;			/* 0-based positions of the keys in the log */
	const Oid  *key_eqop;
	/* guard "blank" counted while the log was written, or NULL: from SQL */
	const int64 *blank_counts;	/* per column of ir_guards_blank_columns() */
	int64		written;		/* records the log holds as inserted or updated */
} IrGuardTarget;

extern char *ir_guards_check(const IrGuardTarget *gt, Jsonb *options);
extern void ir_guards_verify(Oid relid, List *key_columns, Jsonb *options);
extern void ir_run_guards_verify(Jsonb *options);
extern bool ir_has_guards(Jsonb *options);
extern List *ir_guards_blank_columns(Jsonb *options);

#endif							/* IR_GUARDS_H */
