/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The options and rules of the SQL functions, and readers of their
 *	  values (options.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_OPTIONS_H
#define IR_OPTIONS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Where an option is given: bits for ir_check_options(). */
#define IR_IN_STAGE_DATA	0x01	/* ir_stage (CSV passed as text) */
#define IR_IN_STAGE_FILE	0x02	/* ir_stage_file */
#define IR_IN_STAGE_CLIENT	0x04	/* ir_stage_begin */
#define IR_IN_VALIDATE		0x08	/* ir_validate's corrections */
#define IR_IN_APPLY			0x10	/* ir_apply */
#define IR_IN_ROLLBACK		0x20	/* ir_rollback */
#define IR_IN_RULES			0x40	/* the keys of a "rules" object */
#define IR_IN_STAGE_LO		0x80	/* ir_stage_large_object */
#define IR_IN_PURGE			0x100	/* ir_purge */
#define IR_IN_MAPPING_ENTRY	0x200	/* the keys of a mapping value that is an object */
#define IR_IN_LOOKUP		0x400	/* the keys of a mapping's "lookup" */
#define IR_IN_EXCLUDE		0x800	/* the keys of "exclude" */
#define IR_IN_GUARDS		0x1000	/* the keys of "guards" */
#define IR_IN_RUN_CREATE	0x2000	/* ir_run_create */
#define IR_IN_RUN_APPLY		0x4000	/* ir_run_apply */
#define IR_IN_RUN_ROLLBACK	0x8000	/* ir_run_rollback */

extern void ir_check_options(Jsonb *options, int where, const char *fn);
extern void ir_check_option_values(JsonbContainer *obj, int where, const char *fn);
extern void ir_check_object(Jsonb *options);

extern Jsonb *ir_empty_options(void);
extern Jsonb *ir_json_with_key(Jsonb *options, const char *key, JsonbValue *value);
extern JsonbValue *ir_option(Jsonb *options, const char *key);
extern char *ir_option_string(Jsonb *options, const char *key);
extern bool ir_option_bool(Jsonb *options, const char *key, bool dflt);
extern bool ir_json_strings(JsonbValue *v, List **out);
extern bool ir_json_count(JsonbValue *v, int64 *out);
extern bool ir_json_ratio(JsonbValue *v, double *out);

#endif							/* IR_OPTIONS_H */
