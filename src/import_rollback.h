/*-------------------------------------------------------------------------
 *
 * import_rollback.h
 *	  Declarations shared by the import_rollback C files.
 *
 * Who owns what:
 *	  import_rollback.c  module entry, argument and option helpers, the
 *	                     switch to the extension owner, SPI helpers
 *	  catalog.c          batch catalog, the state machine, events, NOTIFY,
 *	                     target checks, ir_cancel
 *	  stage.c            raw staging through COPY's parser, client path
 *	  reports.c          read-only reports (ir_rejects)
 *
 * SQLSTATEs raised for user errors (documented in README.md):
 *	  22004 null_value_not_allowed           a NULL argument
 *	  22023 invalid_parameter_value          a malformed option
 *	  42704 undefined_object                 an unknown batch
 *	  42P01 undefined_table                  an unknown target
 *	  42809 wrong_object_type                target is not a permanent table
 *	  42703 undefined_column                 key names a missing column
 *	  42P10 invalid_column_reference         no unique index on the key
 *	  42501 insufficient_privilege           caller lacks rights on target
 *	  55000 object_not_in_prerequisite_state batch in the wrong state
 *
 *-------------------------------------------------------------------------
 */
#ifndef IMPORT_ROLLBACK_H
#define IMPORT_ROLLBACK_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "executor/spi.h"

#include "compat.h"
#include "exec.h"
#include "state.h"
#include "options.h"

/* Name of the internal schema; every internal reference is qualified. */
#define IR_SCHEMA "import_rollback"

/*
 * The search_path every statement the extension builds runs under, as
 * the caller or as the owner: names left unqualified resolve in pg_catalog
 * only (functions and operators are never looked up in pg_temp).
 */
#define IR_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * Widest target: its change log holds change_id, action and changed, then
 * an old and a new value of every column (apply.c).
 */
#define IR_MAX_LOGGED_COLUMNS ((MaxHeapAttributeNumber - 3) / 2)

/* How the file reached the server. */
typedef enum IrLoadMethod
{
	IR_LOAD_DATA,				/* ir_stage: CSV text argument */
	IR_LOAD_FILE,				/* ir_stage_file: server-side file */
	IR_LOAD_CLIENT				/* ir_stage_begin/finish: COPY FROM STDIN */
} IrLoadMethod;

/* What a caller must be allowed to do on a batch's target. */
typedef enum IrAccess
{
	IR_ACCESS_READ,				/* SELECT on the target, no row security */
	IR_ACCESS_LOAD				/* INSERT or UPDATE on the target */
} IrAccess;

/* A batch row, as read (and locked) from import_rollback.batch. */
typedef struct IrBatch
{
	int64		batch_id;
	char	   *target_schema;
	char	   *target_table;
	Oid			target_relid;	/* InvalidOid if the target no longer exists */
	char	   *source_name;
	IrLoadMethod load_method;
	IrState		state;
	char	   *started_by;
	bool		staging_complete;	/* the whole file reached staging */
	bool		validated;		/* validated at least once */
	Jsonb	   *options;
	List	   *key_columns;	/* char *, the key it was validated with */
	int64		rows_total;
	int64		rows_rejected;
	int64		rows_malformed; /* rejected at staging: wrong field count */
} IrBatch;

/* Result of checking a target table at staging time. */
typedef struct IrTarget
{
	Oid			relid;
	char	   *schema;
	char	   *table;
	List	   *key_columns;	/* List of char * (target column names) */
} IrTarget;

/* Saved identity while running as the extension owner. */
typedef struct IrOwnerSave
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;
} IrOwnerSave;

/* What ir_apply did. */
typedef struct IrApplyResult
{
	int64		batch_id;
	int64		inserted;
	int64		updated;
	int64		unchanged;
	int64		rejected;
} IrApplyResult;

/* How ir_rollback treats conflicts, and what it did. */
typedef enum IrOnConflict
{
	IR_ON_CONFLICT_ABORT,
	IR_ON_CONFLICT_SKIP,
	IR_ON_CONFLICT_FORCE
} IrOnConflict;

typedef struct IrRollbackResult
{
	int64		batch_id;
	int64		deleted;
	int64		restored;
	int64		conflicts;
} IrRollbackResult;

/* One mapped column: file column c<src> goes to target column attnum. */
typedef struct IrColumn
{
	int			src;			/* staging column c<src>, 1-based */
	char	   *src_key;		/* the file's name for it */
	AttrNumber	attnum;			/* target column */
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *sqltype;		/* qualified type with typmod, for SQL text */
	bool		checked;		/* needs a type check (not plain text) */
	bool		notnull;
	bool		is_key;
} IrColumn;

/* A batch's resolved mapping onto its target. */
typedef struct IrMapping
{
	Oid			relid;
	char	   *table;			/* unqualified name, for messages */
	char	   *qualified;		/* quoted schema.table, for SQL text */
	int			ncols;
	IrColumn   *cols;
	int			nkeys;
	char	  **key_names;
	int		   *key_col;		/* index into cols, -1 when not mapped */
	Oid		   *key_eqop;		/* equality operator per key column (sqlgen.c) */
	char	   *scan;			/* the target to read or write, for SQL text (ONLY ...) */
	int			nsource;		/* columns in the file */
	char	  **source_keys;
} IrMapping;

/* The caller's temporary access to a staging table (mapping.c). */
typedef struct IrStagingAccess
{
	char	   *table;			/* qualified table lent */
	bool		granted;
	int			guc_nestlevel;
} IrStagingAccess;

/* What a change log recorded while it was active (changelog.c). */
typedef struct IrLogCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
	int64		noop_updates;	/* updates that changed no column */
	int64		next_change_id;
} IrLogCounts;

/* import_rollback.c */
extern void ir_check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname);
extern void ir_require_installed_version(void);
extern void ir_become_owner(IrOwnerSave *save);
extern void ir_become_role(Oid role, int sec_flags, IrOwnerSave *save);
extern void ir_restore_user(const IrOwnerSave *save);
extern char *ir_staging_table_name(int64 batch_id);
extern char *ir_staging_table_qualified(int64 batch_id);
extern char *ir_current_role_name(void);

/* catalog.c */
extern const char *ir_state_name(IrState state);
extern void ir_key_eq_operators(Oid relid, int nkeys, char **keys, Oid *ops);
extern IrState ir_state_from_name(const char *name);
extern void ir_check_target(Oid relid, Jsonb *options, IrLoadMethod method,
							IrTarget *target);
extern int64 ir_batch_create(const IrTarget *target, const char *source_name,
							 IrLoadMethod method, Jsonb *options,
							 int64 source_bytes, const uint8 *sha256);
extern IrBatch *ir_batch_fetch(int64 batch_id, bool for_update, IrAccess access);
extern void ir_batch_require_target(const IrBatch *batch);
extern void ir_batch_transition(IrBatch *batch, IrState to, const char *detail);
extern void ir_batch_set_staging_result(int64 batch_id, int64 rows_total,
										int64 rows_rejected, int64 source_bytes,
										const uint8 *sha256);
extern void ir_report_duplicate_file(const IrBatch *batch);
extern void ir_batch_set_apply_result(int64 batch_id, const IrApplyResult *res,
									  int64 change_count);

/* mapping.c */
extern IrMapping *ir_mapping_resolve(const IrBatch *batch, Jsonb *options,
									 List *key_columns);
extern IrColumn *ir_mapping_column(IrMapping *m, const char *name);
extern List *ir_unmapped_required(IrMapping *m);
extern char *ir_typed_expr(const IrColumn *c, const char *alias);
extern char *ir_distinct_sql(const IrColumn *c, const char *a, const char *b);
extern char *ir_key_match_sql(const IrMapping *m, int k, const char *a, const char *b);
extern IrMapping *ir_mapping_of_batch(const IrBatch *batch);
extern void ir_staging_open(IrStagingAccess *acc, const IrBatch *batch, bool write);
extern void ir_changes_open(IrStagingAccess *acc, const IrBatch *batch, int64 log_batch_id);
extern void ir_staging_close(IrStagingAccess *acc);

/* validate.c */
typedef struct IrValidation
{
	int64		rows_total;
	int64		rows_valid;
	int64		rows_rejected;
	char	   *stop_reason;	/* NULL: validated */
} IrValidation;

extern void ir_validate_batch(IrBatch *batch, Jsonb *given, IrValidation *res);

/* apply.c */
extern void ir_apply_batch(IrBatch *batch, IrApplyResult *res);

/* rollback.c */
extern void ir_rollback_batch(IrBatch *batch, IrOnConflict policy, IrRollbackResult *res);

/* changelog.c */
extern void ir_log_begin(int64 batch_id, Oid relid, bool undo, List *columns,
						 int nkeys, const int *keypos, int64 first_change);
extern void ir_log_end(IrLogCounts *counts);
extern bool ir_log_current(int64 *batch_id, int64 *row_no);
extern void ir_track_target(Oid relid);

/* sqlgen.c */
extern Oid	ir_type_eq_operator(Oid typid);
extern char *ir_sql_op(Oid opno, const char *a, const char *b);
extern char *ir_sql_op_any(Oid opno, const char *a, const char *b, const char *from);
extern Oid	ir_compatible_eq_operator(Oid ltype, Oid rtype);
extern char *ir_sql_eq(Oid typid, const char *a, const char *b);
extern char *ir_sql_distinct(Oid typid, const char *a, const char *b);
extern char *ir_sql_same(const char *a, const char *b);
extern char *ir_sql_scan(Oid relid);

/* stage.c */
extern void ir_stage_close_client(const IrBatch *batch);

#endif							/* IMPORT_ROLLBACK_H */
