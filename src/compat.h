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

#include "utils/relcache.h"

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
