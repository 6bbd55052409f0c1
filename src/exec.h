/*-------------------------------------------------------------------------
 *
 * exec.h
 *	  Running internal SQL through SPI (exec.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_EXEC_H
#define IR_EXEC_H

#include "executor/spi.h"
#include "tcop/dest.h"
#include "utils/elog.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

/*
 * The search_path every statement the extension builds runs under, as
 * the caller or as the owner: names left unqualified resolve in pg_catalog
 * only (functions and operators are never looked up in pg_temp).
 */
#define IR_SEARCH_PATH "pg_catalog, pg_temp"

extern int	ir_guard_begin(void);
extern void ir_guard_set(const char *name, const char *value);
extern void ir_guard_end(int level);
extern void ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
						const Datum *values, const char *nulls,
						int expected, SPIPlanPtr *plancache);
extern ErrorData *ir_abort_subxact(MemoryContext oldcxt, ResourceOwner oldowner);

typedef void (*ir_try_fn) (int idx, void *arg);
typedef void (*ir_try_report) (int idx, const char *message, void *arg);
extern void ir_try_each(int n, ir_try_fn fn, ir_try_report report, void *arg);

extern Datum ir_text_array(char **items, int n);
extern Datum ir_int8_array(Datum *elems, int n);
extern char **ir_array_strings(Datum arr, int *n, MemoryContext cxt);
extern void ir_spi_materialize(const char *query, int nargs, const Oid *argtypes,
							   const Datum *values, Tuplestorestate *ts, TupleDesc desc);
extern void ir_spi_run_into(const char *query, int nargs, const Oid *argtypes,
							const Datum *values, DestReceiver *dest);

#endif							/* IR_EXEC_H */
