/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL major-version difference import_rollback cares about.
 *
 * The rest of the code is written against one PostgreSQL: when an API
 * differs between the supported majors (15, 17, 18), the branch lives here
 * and nowhere else.  Nothing outside this file tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_COMPAT_H
#define IR_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "import_rollback requires PostgreSQL 15 or later"
#endif

#include "fmgr.h"
#include "utils/relcache.h"

/* The varlena macros (VARDATA_ANY, ...) left postgres.h for varatt.h in 16. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* Ownership of a table: pg_class_ownercheck() became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_class.h"
#define ir_table_ownercheck(relid, roleid) object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define ir_table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/* Ownership of a large object: object_ownercheck() since 16 too. */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_largeobject.h"
#define ir_lo_ownercheck(loid, roleid) object_ownercheck(LargeObjectRelationId, (loid), (roleid))
#else
#define ir_lo_ownercheck(loid, roleid) pg_largeobject_ownercheck((loid), (roleid))
#endif

/*
 * Checking text against a type's input function, many values at a time.
 * Calls report(idx, message, arg) for every value that the input function
 * (with typmod) rejects, with PostgreSQL's own message for it, and leaves
 * the typed value of every other one in results[idx].  On 16+ this uses
 * soft-error input (InputFunctionCallSafe): no subtransaction.  On 15 a
 * chunk of values is tried in one subtransaction; a chunk that fails is
 * split in halves until each bad value stands alone, so a clean chunk
 * costs one subtransaction and each bad value a few (compat.c).  Values
 * are allocated in the current memory context.
 */
typedef void (*ir_input_report) (int idx, const char *message, void *arg);

extern void ir_check_inputs(FmgrInfo *flinfo, Oid typioparam, int32 typmod,
							char **values, int nvalues, Datum *results,
							ir_input_report report, void *arg);

/*
 * The primary key index of a table.  PostgreSQL 18 asks whether a
 * deferrable one will do: it will not, as it cannot arbitrate ON CONFLICT.
 */
#if PG_VERSION_NUM >= 180000
#define ir_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define ir_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

#endif							/* IR_COMPAT_H */
