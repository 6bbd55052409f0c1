/*-------------------------------------------------------------------------
 *
 * import_rollback.c
 *	  Module entry point and the small helpers every other file uses:
 *	  argument checks, option lookup, running as the extension owner,
 *	  staging table names and SPI execution with kept plans.
 *
 * Privilege model: every C function runs as its caller, so that writes to
 * a target table are checked against the caller's own rights.  Writes to
 * the extension's catalog and staging tables, which ordinary roles cannot
 * touch, happen between ir_become_owner() and ir_restore_user(): the
 * extension owner's identity is taken as a local user-id change with
 * SECURITY_RESTRICTED_OPERATION set and search_path pinned to
 * "pg_catalog, pg_temp", and only schema-qualified internal statements
 * run in between.  ir_become_role() does the same for another role: the
 * rollback's foreign-key cascade check runs as the referencing table's
 * owner, as PostgreSQL's own foreign-key triggers do.  An error raised in
 * between needs no cleanup: transaction and subtransaction abort restore
 * the identity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "import_rollback.h"

PG_MODULE_MAGIC;

/*
 * Raise a clean error for a NULL argument.  Functions are not STRICT on
 * purpose: a NULL batch id must say so, not quietly return NULL.
 */
void
ir_check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}
