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
} IrGuardTarget;

extern char *ir_guards_check(const IrGuardTarget *gt, Jsonb *options);
extern void ir_guards_verify(Oid relid, List *key_columns, Jsonb *options);
extern void ir_run_guards_verify(Jsonb *options);
extern bool ir_has_guards(Jsonb *options);

#endif							/* IR_GUARDS_H */
