/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The configuration parameters, all under the reserved prefix
 *	  "import_rollback.":
 *
 *	  max_reject_ratio   the share of rejected rows that stops a validation
 *	                     when its rules give none (user-settable; 0.05)
 *	  tablespace         where staging tables and change logs are created
 *	                     (superuser-only: the extension owner writes there;
 *	                     empty: the database's default tablespace)
 *	  unlogged_staging   create staging tables UNLOGGED: no WAL for the raw
 *	                     rows, which a crash then empties; the batch fails
 *	                     at its next validation or apply (user-settable)
 *
 * Change logs are always logged: a rollback depends on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "settings.h"

double		ir_default_max_reject_ratio = 0.05;
char	   *ir_tablespace = NULL;
bool		ir_unlogged_staging = false;

/* The tablespace must exist, when that can be checked (as default_tablespace). */
static bool
check_tablespace(char **newval, void **extra, GucSource source)
{
	if (**newval == '\0' || !IsTransactionState() || !OidIsValid(MyDatabaseId))
		return true;
	if (!OidIsValid(get_tablespace_oid(*newval, true)))
	{
		/* ALTER DATABASE/ROLE SET may name a tablespace created later */
		if (source == PGC_S_TEST)
		{
			ereport(NOTICE,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("tablespace \"%s\" does not exist", *newval)));
			return true;
		}
		GUC_check_errdetail("Tablespace \"%s\" does not exist.", *newval);
		return false;
	}
	return true;
}

void
ir_define_settings(void)
{
	DefineCustomRealVariable("import_rollback.max_reject_ratio",
							 "Share of rejected rows that stops a validation whose rules give no max_reject_ratio.",
							 NULL,
							 &ir_default_max_reject_ratio,
							 0.05, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("import_rollback.tablespace",
							   "Tablespace of new staging tables and change logs.",
							   "Empty means the database's default tablespace.",
							   &ir_tablespace,
							   "",
							   PGC_SUSET, 0,
							   check_tablespace, NULL, NULL);
	DefineCustomBoolVariable("import_rollback.unlogged_staging",
							 "Creates new staging tables UNLOGGED.",
							 "Staging writes no WAL; a crash empties the staging tables "
							 "of batches not yet applied, which then fail.",
							 &ir_unlogged_staging,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("import_rollback");
}
