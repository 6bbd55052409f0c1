/*-------------------------------------------------------------------------
 *
 * target.h
 *	  Import targets and their keys (target.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_TARGET_H
#define IR_TARGET_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "storage.h"

/* A table checked as an import target, with its key. */
typedef struct IrTarget
{
	Oid			relid;
	char	   *schema;
	char	   *table;
	List	   *key_columns;	/* List of char * (target column names) */
} IrTarget;

extern void ir_check_target(Oid relid, Jsonb *options, IrLoadMethod method,
							IrTarget *target);
extern void ir_refuse_row_security(Oid relid, const char *what);
extern void ir_key_eq_operators(Oid relid, int nkeys, char **keys, Oid *ops);
extern void ir_require_key_index(Oid relid, int nkeys, char **keys);

#endif							/* IR_TARGET_H */
