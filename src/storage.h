/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  The extension's own tables: the batch catalog, the per-batch staging
 *	  and change-log tables (their names and layouts), the change-log
 *	  triggers on targets, and the only code that runs as the extension
 *	  owner (storage.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_STORAGE_H
#define IR_STORAGE_H

#include "access/htup_details.h"
#include "nodes/pg_list.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "exec.h"
#include "state.h"

/* Name of the internal schema; every internal reference is qualified. */
#define IR_SCHEMA "import_rollback"

/*
 * A staging table, import_rollback.stage_<batch>: row_no, status,
 * errors, extra, then the file's fields c1..cN by position (headers are
 * data, never identifiers).  Attribute numbers, 1-based.
 */
#define IR_STAGE_ROW_NO		1
#define IR_STAGE_STATUS		2
#define IR_STAGE_ERRORS		3
#define IR_STAGE_EXTRA		4
#define IR_STAGE_FIXED_COLS 4
#define IR_STAGE_FIELD(src) (IR_STAGE_FIXED_COLS + (src))	/* c<src> */
#define IR_STAGE_MAX_COLS	(MaxHeapAttributeNumber - IR_STAGE_FIXED_COLS)

/*
 * A change log, import_rollback.changes_<batch>: change_id, action,
 * changed, then o1..oN and n1..nN typed like the target's logged columns.
 */
#define IR_LOG_FIXED_COLS	3
#define IR_MAX_LOGGED_COLUMNS ((MaxHeapAttributeNumber - IR_LOG_FIXED_COLS) / 2)

/* The triggers every tracked target carries. */
#define IR_CHANGELOG_TRIGGER "import_rollback_changelog"
#define IR_TRUNCATE_TRIGGER "import_rollback_truncate"

/* How the file reached the server. */
typedef enum IrLoadMethod
{
	IR_LOAD_DATA,				/* ir_stage: CSV text argument */
	IR_LOAD_FILE,				/* ir_stage_file: server-side file */
	IR_LOAD_CLIENT,				/* ir_stage_begin/finish: COPY FROM STDIN */
	IR_LOAD_LARGE_OBJECT		/* ir_stage_large_object */
} IrLoadMethod;

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
	char	   *purged_at;		/* when ir_purge() dropped its tables, or NULL */
	int64		run_id;			/* the run it is a member of, or 0 */
	int64		rollback_leftovers; /* records a "skip" rollback left */
} IrBatch;

/* How a catalog row is read. */
typedef enum IrRowLock
{
	IR_ROW_READ,
	IR_ROW_SHARE,
	IR_ROW_UPDATE
} IrRowLock;

/* A run row, as read (and locked) from import_rollback.run. */
typedef struct IrRun
{
	int64		run_id;
	char	   *name;
	IrRunState	state;
	char	   *started_by;
	Jsonb	   *options;
	List	   *members;		/* int64 *, in apply order, then batch id order */
} IrRun;

/* What an applied batch's change log covers, as the catalog records it. */
typedef struct IrLogInfo
{
	int			ncols;
	char	  **names;			/* log_columns */
	char	  **types;			/* log_types, qualified with typmod */
	int			nkeys;
	char	  **keys;			/* key_columns */
	int64		change_count;	/* writes logged so far */
	int64		inserted;		/* insert entries of the apply */
	int64		updated;		/* update entries of the apply */
	bool		truncated;		/* target truncated since the apply */
} IrLogInfo;

/* A later applied batch on the same target. */
typedef struct IrLaterBatch
{
	int64		batch_id;
	int			ncols;
	char	  **names;			/* its log_columns */
	int			nkeys;
	char	  **keys;			/* its key columns */
} IrLaterBatch;

/* A foreign key referencing a target with a cascading action. */
typedef struct IrCascadeKey
{
	char	   *name;
	char	   *referencing;	/* the referencing table, for messages */
	Oid			referencing_relid;
	Oid			referencing_owner;
	char		on_delete;		/* confdeltype */
	char		on_update;		/* confupdtype */
	int			ncols;
	char	  **target_cols;	/* the referenced columns of the target */
	char	  **fk_cols;		/* the referencing columns */
	Oid		   *pfeqop;			/* their PK = FK operators */
} IrCascadeKey;

/* A batch ir_purge() takes, and its state when it was locked. */
typedef struct IrPurgeCandidate
{
	int64		batch_id;
	IrState		state;
} IrPurgeCandidate;

/* Access to a per-batch table lent to the caller for one operation. */
typedef struct IrLend
{
	char	   *table;			/* qualified table lent */
	char	   *grantee;		/* the role lent to, NULL when none needed it */
	int			guc_nestlevel;
} IrLend;

/* the owner, the caller, the installed version */
extern void ir_require_installed_version(void);
extern char *ir_current_role_name(void);

/* per-batch tables: names and layouts */
extern char *ir_stage_table(int64 batch_id);
extern Oid	ir_stage_table_oid(int64 batch_id);
extern char *ir_log_table(int64 batch_id);
extern Oid	ir_log_table_oid(int64 batch_id);
extern char *ir_stage_fields_sql(int ncols, const char *type, const char *prefix);

/* staging */
extern Oid	ir_store_create_stage(int64 batch_id, int ncols, bool client);
extern void ir_store_add_stage_fields(int64 batch_id, char **headers, char **keys, int ncols);
extern char **ir_store_source_keys(int64 batch_id, int *n);
extern void ir_store_close_client(int64 batch_id);
extern int64 ir_store_finish_client(int64 batch_id);
extern void ir_store_read_rejects(int64 batch_id, Tuplestorestate *ts, TupleDesc desc);
extern bool ir_store_staging_lost(int64 batch_id, int64 rows_total);
extern bool ir_store_lock_batch_tables(int64 batch_id, bool log);

/* the batch catalog */
extern int64 ir_store_batch_insert(Oid relid, const char *schema, const char *table,
								   const char *source_name,
								   IrLoadMethod method, Jsonb *options, List *key_columns,
								   int64 source_bytes, const uint8 *sha256);
extern IrBatch *ir_store_batch_read(int64 batch_id, bool for_update);
extern void ir_store_batch_state(int64 batch_id, IrState from, IrState to, const char *detail);
extern void ir_store_staging_result(int64 batch_id, int64 rows_total, int64 rows_rejected,
									int64 source_bytes, const uint8 *sha256);
extern bool ir_store_duplicate_file(int64 batch_id, int64 *first_id, char **first_source,
									char **sha256_hex, char **applied_ids);
extern void ir_store_validation_run(int64 batch_id, Jsonb *options, int nkeys, char **keys,
									int64 rows_total, int64 rows_valid, int64 rows_rejected,
									const char *stop_reason, const char *notes);
extern void ir_store_apply_result(int64 batch_id, int64 inserted, int64 updated,
								  int64 unchanged, int64 change_count);
extern void ir_store_rollback_result(int64 batch_id, int64 change_count, int64 leftovers);

/* change logs */
extern List *ir_store_create_log(int64 batch_id, Oid relid, int nkeys, char **keys,
								 int **keypos);
extern void ir_store_log_info(int64 batch_id, IrLogInfo *info);
extern List *ir_store_later_batches(int64 batch_id);
extern List *ir_store_newer_batches(int64 batch_id);

/* One step of a cascade rollback (cascade.c), as the catalog lists it. */
typedef struct IrPlanStep
{
	int64		batch_id;
	char	   *source_name;
	TimestampTz applied_at;
	int64		records;		/* records it wrote: inserted + updated */
	int64		run_id;			/* or 0 */
} IrPlanStep;

extern List *ir_store_plan_steps(List *ids);

/* runs */
extern int64 ir_store_run_insert(const char *name, Jsonb *options);
extern IrRun *ir_store_run_read(int64 run_id, IrRowLock lock);
extern void ir_store_run_state(int64 run_id, IrRunState from, IrRunState to, const char *detail);
extern Jsonb *ir_store_batch_options(int64 batch_id, Jsonb *options);
extern void ir_store_analyze_log(int64 batch_id);
extern void ir_store_index_log(int64 batch_id, Oid relid, int nkeys, char **keys,
							   const int *keypos);

/* retention */
extern List *ir_store_purge_candidates(Interval *older_than, bool applied, bool lock);
extern int64 ir_store_batch_tables_bytes(int64 batch_id);
extern void ir_store_purge_batch(int64 batch_id);

/* lending a per-batch table to the caller, with the pinned search_path */
extern void ir_lend_stage(IrLend *lend, int64 batch_id, bool write);
extern void ir_lend_log(IrLend *lend, int64 log_batch_id);
extern void ir_lend_end(IrLend *lend);

/* targets: their change-log triggers, TRUNCATEs, cascading foreign keys */
extern void ir_store_track_target(Oid relid);
extern int64 ir_store_untrack_target(Oid relid);
extern void ir_store_note_truncate(Oid relid);
extern void ir_store_forget_dropped(void);
extern List *ir_store_cascading_keys(Oid relid);
extern bool ir_store_key_referenced(const IrCascadeKey *key, const Oid *argtypes,
									const Datum *values, const char *nulls);
extern Datum *ir_store_missing_references(Oid relid, int ncols, char **ref_cols, const Oid *types,
										  const Oid *pfeqop, const Datum *arrays, bool as_owner,
										  int64 *nmissing);

#endif							/* IR_STORAGE_H */
