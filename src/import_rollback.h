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
#include "sqlgen.h"
#include "storage.h"

/* What a caller must be allowed to do on a batch's target. */
typedef enum IrAccess
{
	IR_ACCESS_READ,				/* SELECT on the target, no row security */
	IR_ACCESS_LOAD				/* INSERT or UPDATE on the target */
} IrAccess;

/* Result of checking a target table at staging time. */
typedef struct IrTarget
{
	Oid			relid;
	char	   *schema;
	char	   *table;
	List	   *key_columns;	/* List of char * (target column names) */
} IrTarget;

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
extern void ir_report_duplicate_file(const IrBatch *batch);

/* mapping.c */
extern IrMapping *ir_mapping_resolve(const IrBatch *batch, Jsonb *options,
									 List *key_columns);
extern IrColumn *ir_mapping_column(IrMapping *m, const char *name);
extern List *ir_unmapped_required(IrMapping *m);
extern char *ir_typed_expr(const IrColumn *c, const char *alias);
extern char *ir_distinct_sql(const IrColumn *c, const char *a, const char *b);
extern char *ir_key_match_sql(const IrMapping *m, int k, const char *a, const char *b);
extern IrMapping *ir_mapping_of_batch(const IrBatch *batch);

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

/* stage.c */

#endif							/* IMPORT_ROLLBACK_H */
