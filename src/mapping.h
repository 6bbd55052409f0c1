/*-------------------------------------------------------------------------
 *
 * mapping.h
 *	  How a batch's file columns map onto its target, and their typed
 *	  values as SQL text (mapping.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_MAPPING_H
#define IR_MAPPING_H

#include "storage.h"
#include "transform.h"

/* A mapped column's lookup: its value is found in another table. */
typedef struct IrColumnLookup
{
	Oid			relid;
	char	   *table;			/* quoted schema.table */
	char	   *match;
	char	   *ret;
	bool		ignore_case;
} IrColumnLookup;

/*
 * One mapped column: file column c<src> (or a constant, src 0) goes to
 * target column attnum, through its text steps and lookup, if any.
 */
typedef struct IrColumn
{
	int			src;			/* staging column c<src>, 1-based; 0: a constant */
	char	   *src_key;		/* the file's name for it */
	char	   *constant;		/* "constants": the value as text (NULL: SQL NULL) */
	IrPrep		prep;			/* null_if, transform steps, format */
	IrColumnLookup *lookup;		/* or NULL */
	AttrNumber	attnum;			/* target column */
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *sqltype;		/* qualified type with typmod, for SQL text */
	bool		checked;		/* needs a check: a type, a format or a lookup can refuse */
	bool		notnull;
	bool		is_key;
} IrColumn;

/* A batch's resolved mapping onto its target. */
typedef struct IrMapping
{
	Oid			relid;
	char	   *table;			/* unqualified name, for messages */
	char	   *qualified;		/* quoted schema.table, for SQL text */
	char	   *scan;			/* the target to read or write, for SQL text (ONLY ...) */
	int			ncols;
	IrColumn   *cols;
	int			nkeys;
	char	  **key_names;
	int		   *key_col;		/* index into cols, -1 when not mapped */
	Oid		   *key_eqop;		/* equality operator per key column (sqlgen.c) */
	int			nsource;		/* columns in the file */
	char	  **source_keys;
} IrMapping;

extern IrMapping *ir_mapping_resolve(const IrBatch *batch, Jsonb *options,
									 List *key_columns);
extern IrMapping *ir_mapping_of_batch(const IrBatch *batch);
extern IrColumn *ir_mapping_column(IrMapping *m, const char *name);
extern List *ir_unmapped_required(IrMapping *m);
extern char *ir_text_expr(const IrColumn *c, const char *alias);
extern char *ir_typed_expr(const IrColumn *c, const char *alias);
extern char *ir_key_list(const IrMapping *m);
extern char *ir_key_text_sql(const IrMapping *m, const char *alias);
extern char *ir_distinct_sql(const IrColumn *c, const char *a, const char *b);
extern char *ir_key_match_sql(const IrMapping *m, int k, const char *a, const char *b);

#endif							/* IR_MAPPING_H */
