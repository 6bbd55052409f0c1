/*-------------------------------------------------------------------------
 *
 * changelog.h
 *	  The change log a batch's writes go to while it is applied or rolled
 *	  back (changelog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_CHANGELOG_H
#define IR_CHANGELOG_H

#include "nodes/pg_list.h"

/* What a change log recorded while it was active. */
typedef struct IrLogCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
	int64		noop_updates;	/* updates that changed no column */
	int64		next_change_id;
} IrLogCounts;

extern void ir_log_begin(int64 batch_id, Oid relid, bool undo, List *columns,
						 int nkeys, const int *keypos, int64 first_change);
extern void ir_log_count_blanks(int n, const int *positions, const bool *textual, int64 *counts);
extern void ir_log_end(IrLogCounts *counts);
extern bool ir_log_current(int64 *batch_id, int64 *row_no);

#endif							/* IR_CHANGELOG_H */
