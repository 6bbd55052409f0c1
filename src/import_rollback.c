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

/*
 * In the PG_CATCH of an internal subtransaction begun in oldcxt under
 * oldowner: take the error, roll the subtransaction back and return to
 * where it began.  The caller re-throws the error or handles it.
 */
ErrorData *
ir_abort_subxact(MemoryContext oldcxt, ResourceOwner oldowner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(oldcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return edata;
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

/*
 * Look up a top-level key of an options object; NULL when absent or JSON
 * null (a null option is as good as an absent one).
 */
JsonbValue *
ir_option(Jsonb *options, const char *key)
{
	JsonbValue *v;

	if (options == NULL || !JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		return NULL;
	v = getKeyJsonValueFromContainer(&options->root, key, strlen(key), NULL);
	if (v != NULL && v->type == jbvNull)
		return NULL;
	return v;
}

/* options (of any function) must be a JSON object. */
void
ir_check_object(Jsonb *options)
{
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
}

/* A string option as a C string, NULL when absent or JSON null. */
char *
ir_option_string(Jsonb *options, const char *key)
{
	JsonbValue *v = ir_option(options, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A JSON number's exact text (numeric_out), or NULL when v is not a number. */
static char *
json_number_text(JsonbValue *v)
{
	if (v == NULL || v->type != jbvNumeric)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

/*
 * A JSON number that is a whole count from 0 to 2^63 - 1 ("5" or "5.0"),
 * in *out; false for anything else (a fraction, a negative, a number too
 * large for bigint, a string): the caller says what was expected.
 */
bool
ir_json_count(JsonbValue *v, int64 *out)
{
	char	   *s = json_number_text(v);
	size_t		digits;
	char	   *end;

	if (s == NULL)
		return false;
	digits = strspn(s, "0123456789");
	if (digits == 0 || (s[digits] != '\0' &&
						(s[digits] != '.' || strspn(s + digits + 1, "0") != strlen(s + digits + 1))))
		return false;
	s[digits] = '\0';
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A JSON number from 0 to 1, in *out; false for anything else. */
bool
ir_json_ratio(JsonbValue *v, double *out)
{
	char	   *s = json_number_text(v);

	if (s == NULL)
		return false;
	*out = strtod(s, NULL);
	return *out >= 0 && *out <= 1;
}

/*
 * The strings of a JSON array, as a List of char * in *out.  False when v
 * is not an array or holds anything but strings; the caller says why.
 */
bool
ir_json_strings(JsonbValue *v, List **out)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	*out = NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			return false;
		*out = lappend(*out, pnstrdup(elem.val.string.val, elem.val.string.len));
	}
	return true;
}

/*
 * Remove from an error's context the line SPI adds for our own statement
 * sql ("SQL statement "...""): pages of generated SQL tell a DBA nothing
 * the message and the lines around it do not (the source row being
 * written, a user trigger's own statement and line).
 */
static char *
strip_statement_context(char *context, const char *sql)
{
	char	   *line = psprintf("SQL statement \"%s\"", sql);
	char	   *at;
	size_t		len = strlen(line);

	if (context == NULL || (at = strstr(context, line)) == NULL)
		return context;
	if (at[len] == '\n')
		len++;
	else if (at > context && at[-1] == '\n')
		at--, len++;
	memmove(at, at + len, strlen(at + len) + 1);
	return context[0] ? context : NULL;
}

/*
 * Run one internal statement through SPI, inside an SPI connection the
 * caller holds.  When plancache is given the plan is prepared once per
 * backend and kept.  The result code must equal expected.  An error keeps
 * its message and context, less the statement's own text.
 */
void
ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
			const Datum *values, const char *nulls,
			int expected, SPIPlanPtr *plancache)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	int			rc = 0;

	PG_TRY();
	{
		if (plancache != NULL)
		{
			if (*plancache == NULL)
			{
				SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

				if (plan == NULL)
					elog(ERROR, "SPI_prepare failed for \"%s\": %s",
						 sql, SPI_result_code_string(SPI_result));
				if (SPI_keepplan(plan) != 0)
					elog(ERROR, "SPI_keepplan failed");
				*plancache = plan;
			}
			rc = SPI_execute_plan(*plancache, (Datum *) values, nulls, false, 0);
		}
		else if (nargs > 0)
			rc = SPI_execute_with_args(sql, nargs, (Oid *) argtypes,
									   (Datum *) values, nulls, false, 0);
		else
			rc = SPI_execute(sql, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = strip_statement_context(edata->context, sql);
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (rc != expected)
		elog(ERROR, "internal statement returned %s, expected %s: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}
