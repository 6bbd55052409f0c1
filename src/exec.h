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
#include "utils/elog.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

extern void ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
						const Datum *values, const char *nulls,
						int expected, SPIPlanPtr *plancache);
extern ErrorData *ir_abort_subxact(MemoryContext oldcxt, ResourceOwner oldowner);

/* Rows a cursor fetches at a time. */
#define IR_FETCH_ROWS 1000

extern Datum ir_text_array(char **items, int n);
extern char **ir_array_strings(Datum arr, int *n, MemoryContext cxt);
extern void ir_spi_materialize(const char *query, int nargs, const Oid *argtypes,
							   const Datum *values, Tuplestorestate *ts, TupleDesc desc);

#endif							/* IR_EXEC_H */
