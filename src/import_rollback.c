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

/* Owner of the installed extension, read from pg_extension. */
static Oid
ir_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("import_rollback"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"import_rollback\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION import_rollback.")));
	owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * Entry points refuse to run while the installed SQL objects are not those
 * of this library's version: after a new library is installed and before
 * ALTER EXTENSION import_rollback UPDATE, the SQL it builds would name
 * objects that do not exist yet.  (The change-log triggers keep working:
 * application writes must never depend on it.)
 */
void
ir_require_installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *installed = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("import_rollback"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		/* not heap_getattr: 17.12 headers inline a call 17.10 servers lack */
		Datum		values[Natts_pg_extension];
		bool		nulls[Natts_pg_extension];

		heap_deform_tuple(tup, RelationGetDescr(rel), values, nulls);
		if (!nulls[Anum_pg_extension_extversion - 1])
			installed = text_to_cstring(DatumGetTextPP(values[Anum_pg_extension_extversion - 1]));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (installed != NULL && strcmp(installed, IR_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"import_rollback\" is installed at version %s, but its library is version %s",
						installed, IR_EXTVERSION),
				 errdetail("The library was upgraded; the extension's SQL objects were not."),
				 errhint("Run ALTER EXTENSION import_rollback UPDATE.")));
}

/* Start running as the extension owner; see the file header. */
void
ir_become_owner(IrOwnerSave *save)
{
	ir_become_role(ir_extension_owner(), 0, save);
}

/*
 * Start running as role, in a restricted operation with search_path
 * pinned, plus sec_flags (e.g. SECURITY_NOFORCE_RLS); ir_restore_user()
 * goes back.
 */
void
ir_become_role(Oid role, int sec_flags, IrOwnerSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(role,
						   save->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION |
						   sec_flags);

	/* Pin search_path, as a SECURITY DEFINER function's SET clause would. */
	save->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", IR_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* Go back to the identity saved by ir_become_owner(). */
void
ir_restore_user(const IrOwnerSave *save)
{
	AtEOXact_GUC(true, save->guc_nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/* Name of the calling role, for the catalog's "who" columns. */
char *
ir_current_role_name(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/* Unqualified name of a batch's staging table. */
char *
ir_staging_table_name(int64 batch_id)
{
	return psprintf("stage_" INT64_FORMAT, batch_id);
}

/* Schema-qualified, quoted name of a batch's staging table, for SQL text. */
char *
ir_staging_table_qualified(int64 batch_id)
{
	return psprintf("%s.%s", IR_SCHEMA,
					quote_identifier(ir_staging_table_name(batch_id)));
}
