/*-------------------------------------------------------------------------
 *
 * transform.h
 *	  What a mapping does to a file's text before the target type reads
 *	  it: null_if, transform steps, date and timestamp formats
 *	  (transform.c), and lookups into another table (lookup.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_TRANSFORM_H
#define IR_TRANSFORM_H

#include "fmgr.h"
#include "utils/hsearch.h"

typedef enum IrStep
{
	IR_STEP_TRIM,				/* leading and trailing whitespace removed */
	IR_STEP_LOWER,
	IR_STEP_UPPER,
	IR_STEP_SQUEEZE,			/* runs of whitespace become one space */
	IR_STEP_DIGITS				/* only 0-9 kept */
} IrStep;

#define IR_MAX_STEPS 16

/* The text steps of one mapped column, in the order they apply. */
typedef struct IrPrep
{
	int			nnull_if;
	char	  **null_if;		/* raw values that mean NULL */
	int			nsteps;
	IrStep		steps[IR_MAX_STEPS];
	char	   *date_format;	/* to_date pattern, or NULL */
	char	   *timestamp_format;	/* to_timestamp pattern, or NULL */
} IrPrep;

extern const char *const ir_step_names[];
extern bool ir_step_from_name(const char *name, IrStep *step);
extern bool ir_prep_is_empty(const IrPrep *p);
extern char *ir_prep_text(const IrPrep *p, const char *raw);
extern char *ir_prep_format(const IrPrep *p, const char *value);
extern Datum ir_prep_format_datum(const IrPrep *p, const char *value, Oid *typid);

/* A lookup table read into memory: match value -> return value. */
typedef struct IrLookupTable
{
	Oid			relid;
	char	   *name;			/* qualified, for messages */
	char	   *match;			/* column names */
	char	   *ret;
	bool		ignore_case;
	Oid			match_type;
	Oid			match_coll;
	FmgrInfo	match_in;
	Oid			match_ioparam;
	Oid			ret_type;
	int16		ret_len;
	bool		ret_byval;
	FmgrInfo	hash;			/* the match type's hash and equality */
	FmgrInfo	eq;
	HTAB	   *rows;
	MemoryContext cxt;
} IrLookupTable;

extern IrLookupTable *ir_lookup_open(Oid relid, const char *match, const char *ret,
									 bool ignore_case, bool fresh, MemoryContext cxt);
extern Datum ir_lookup_key(IrLookupTable *lt, Datum match_value);
extern int	ir_lookup_probe(IrLookupTable *lt, Datum key, Datum *ret, bool *ret_null);

#endif							/* IR_TRANSFORM_H */
