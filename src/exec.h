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

extern void ir_spi_exec(const char *sql, int nargs, const Oid *argtypes,
						const Datum *values, const char *nulls,
						int expected, SPIPlanPtr *plancache);
extern ErrorData *ir_abort_subxact(MemoryContext oldcxt, ResourceOwner oldowner);

#endif							/* IR_EXEC_H */
