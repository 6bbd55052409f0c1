/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  One validation run, as its parts share it: validate.c runs it and
 *	  decides the hard stops, rules.c reads the rules, typecheck.c makes
 *	  the passes in C over staging, rowcheck.c builds the set-based checks,
 *	  mapcheck.c compares incoming values with live ones.  Private to
 *	  these files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_VALIDATE_H
#define IR_VALIDATE_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "mapping.h"
#include "storage.h"

/* Longest piece of a value quoted in a reason. */
#define VALUE_SHOWN 200

/* Type-check pass: rows per chunk of checks. */
#define TYPE_FETCH 1000

/* Mapping check: values sampled per side, and fewest live values to judge. */
#define SHAPE_SAMPLE 1000
#define SHAPE_MIN_LIVE 20

typedef enum MappingCheck
{
	MC_STOP,
	MC_WARN,
	MC_OFF
} MappingCheck;

/* A column rule: pattern, format, allowed or reference. */
typedef struct ColumnRule
{
	IrColumn   *col;
	char	   *arg;			/* regex, format name, or schema.table.column */
	Datum		values;			/* allowed: text[] */
	Oid			ref_relid;		/* reference: the table, resolved by the caller */
	char	   *ref_column;
	Oid			ref_eqop;		/* reference: how values compare with it */
	bool		collected;		/* reference: checked as a foreign key is (livecheck.c) */
} ColumnRule;

/*
 * A foreign key of the target whose columns are all mapped: the type pass
 * (typecheck.c) collects the batch's distinct complete values of its
 * columns, which livecheck.c then looks up in the referenced table.
 */
typedef struct FkValues
{
	Oid			conoid;
	Oid			confrelid;
	int			n;
	int		   *idx;			/* the mapped columns, in key order */
	char	  **ref_cols;		/* the referenced columns */
	Oid		   *pfeqop;			/* PK = FK operators */
	bool		match_full;
	char	   *name;
	struct ColumnRule *rule;	/* a reference rule checked this way, or NULL */
	/* the distinct values, filled in by the type pass */
	struct HTAB *set;
	FmgrInfo   *hash;
	FmgrInfo   *eq;
	Oid		   *coll;
	int16	   *typlen;
	bool	   *typbyval;
	char	   *typalign;
	Oid		   *types;
	MemoryContext cxt;
} FkValues;

typedef struct Rules
{
	double		max_reject_ratio;
	int64		max_reject_count;	/* -1: none */
	double		max_touch_ratio;	/* < 0: none */
	int64		expect_rows;	/* -1: none */
	MappingCheck mapping_check;
	List	   *required;		/* IrColumn * (mapped) */
	List	   *required_missing;	/* char * (target columns not in file) */
	List	   *unique_sets;	/* List of IrColumn * per set */
	List	   *patterns;		/* ColumnRule * */
	List	   *formats;
	List	   *allowed;
	List	   *references;
} Rules;

/* Everything one validation run builds up. */
typedef struct Run
{
	IrBatch    *batch;
	Jsonb	   *options;		/* the batch's options with this run's corrections */
	IrMapping  *m;
	Rules		rules;
	char	   *mode;
	char	   *stage;			/* qualified staging table */
	/* type errors found in C: row, column ordinal, reason */
	int64	   *err_row;
	int		   *err_ord;
	char	  **err_msg;
	int			nerr;
	int			maxerr;
	/* per mapped column: rows whose value failed its type check */
	int64	  **bad_rows;
	int		   *nbad;
	int		   *maxbad;
	char	   *bad;			/* the cells that failed in C, as a parameter, or NULL */
	/* rows a per-row check failed in C (cellcheck.c), when the type pass made them */
	bool		cells_checked;
	int64	   *flagged;
	int			nflagged;
	int			maxflagged;
	List	   *fk_values;		/* FkValues *, planned before the type pass */
	List	   *dup_sets;		/* the column sets the type pass hashes (typecheck.c) */
	/* SQL under construction */
	StringInfoData sql;
	int			nparams;
	Oid			paramtypes[FUNC_MAX_ARGS];
	Datum		paramvalues[FUNC_MAX_ARGS];
	List	   *stops;			/* char *, in keepcxt */
	List	   *notes;			/* char *, in keepcxt */
	MemoryContext keepcxt;		/* outlives the SPI connection */
} Run;


/* collect.c: what a run collects */
extern void ir_run_stop(Run *run, const char *msg);
extern void ir_run_error(Run *run, int64 row_no, int ord, char *msg);
extern void ir_run_note(Run *run, const char *msg);
extern void ir_run_query(Run *run, const char *query);
extern char *ir_run_param(Run *run, Oid type, Datum value);
extern char *ir_run_lit(const char *s);
extern char *ir_run_shown(const char *expr);
extern char *ir_run_double(double d);
extern char *ir_quote_shown(const char *value);

/* cellcheck.c */
typedef struct IrCellChecks IrCellChecks;
extern IrCellChecks *ir_cell_checks_begin(Run *run);
extern bool ir_cell_checks_on(IrCellChecks *cx, int col);
extern bool ir_cell_fails(IrCellChecks *cx, int col, const char *t);
extern void ir_cell_flag(Run *run, int64 row_no);

/* rules.c */
extern void ir_parse_rules(Run *run, Jsonb *options);

/* typecheck.c */
extern void ir_check_types(Run *run);
extern void ir_plan_duplicates(Run *run, List *cols);
extern char *ir_duplicate_candidates(Run *run, List *cols);
extern Datum *ir_fk_value_arrays(FkValues *fv, int64 *n);

/* rowcheck.c */
extern void ir_run_branch(Run *run, const char *fmt,...) pg_attribute_printf(2, 3);
extern void ir_unique_in_file(Run *run, List *cols, char **typed, const char *label,
							  const char *filter, bool nulls_distinct);
extern char *ir_run_key_text(Run *run, const char *alias);
extern void ir_exclude_check(Run *run);
extern char *ir_bad_cells_param(Run *run);
extern char *ir_typed_or_null(Run *run, int i, const char *bad);
extern char *ir_cell_ok_sql(Run *run, int i);
extern void ir_row_checks(Run *run, char **typed);
extern char *ir_reference_reason(ColumnRule *cr);
extern void ir_duplicate_check(Run *run, List *cols, char **typed, bool is_key);
extern void ir_existence_checks(Run *run, char **typed);
extern char *ir_run_key_match(Run *run, char **typed);

/* livecheck.c */
extern void ir_plan_foreign_keys(Run *run);
extern void ir_plan_unique_indexes(Run *run);
extern void ir_foreign_key_checks(Run *run, char **typed);
extern void ir_unique_checks(Run *run, char **typed, bool key_complete);

/* mapcheck.c */
extern void ir_mapping_check(Run *run, int64 rows_total);

#endif							/* IR_VALIDATE_H */
