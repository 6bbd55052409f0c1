/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  The SQLSTATEs the extension raises, and when: the one list, which
 *	  README's "Errors" table repeats (tools/layers.sh checks that every
 *	  errcode the C files raise is here, and here and README agree).
 *
 *	  22004 null_value_not_allowed          a NULL argument
 *	  22023 invalid_parameter_value         a malformed, unknown or misplaced
 *	                                        option or rule, or one out of range
 *	  2202E array_subscript_error           ir_stage_begin's columns not a
 *	                                        one-dimensional array
 *	  22007 invalid_datetime_format         a date_format or timestamp_format
 *	                                        value that does not read back
 *	  21000 cardinality_violation           the apply meets a lookup value with
 *	                                        several rows (the lookup table
 *	                                        changed since validation)
 *	  23503 foreign_key_violation           the apply meets a lookup value with
 *	                                        no row (the same)
 *	  42804 datatype_mismatch               a lookup's return column of another
 *	                                        type than the target column;
 *	                                        ignore_case on a non-text column
 *	  42501 insufficient_privilege          the caller may not do this on the
 *	                                        target (or read server files), or
 *	                                        row security applies to it there
 *	  42702 ambiguous_column                two file columns match one target
 *	                                        column
 *	  42703 undefined_column                a key, mapping or rule names a
 *	                                        column the table lacks
 *	  42704 undefined_object                an unknown batch or run; the extension not
 *	                                        installed in this database
 *	  42809 wrong_object_type               a target or reference that is not a
 *	                                        (permanent) table; a directory
 *	  42883 undefined_function              no equality to compare two types
 *	                                        (a reference, a key)
 *	  42P01 undefined_table                 an unknown or dropped target
 *	  42P17 invalid_object_definition       the targets of a run's batches
 *	                                        reference each other in a cycle
 *	  42P10 invalid_column_reference        no primary key or unique index for
 *	                                        the key; a column that cannot be
 *	                                        part of one
 *	  54000 program_limit_exceeded          a target too wide for a change log;
 *	                                        too many rule values at once
 *	  54011 too_many_columns                a file wider than a staging table
 *	  55000 object_not_in_prerequisite_state
 *	                                        the batch (or run) is in the wrong
 *	                                        state for the call; the target's
 *	                                        change-log triggers altered; the
 *	                                        extension's SQL objects older than
 *	                                        its library
 *	  09000 triggered_action_exception      a user trigger rewrote a key, or
 *	                                        wrote rows the log cannot account for
 *	  0A000 feature_not_supported           rollback of a batch whose apply
 *	                                        deleted records; an operator that
 *	                                        cannot be told apart by name; a CSV
 *	                                        dialect COPY refuses (COPY's code)
 *	  39P01 e_r_i_e_trigger_protocol_violated
 *	                                        the extension's trigger functions
 *	                                        called other than as its triggers
 *	  58P01 undefined_file (and the other   a server file that cannot be read
 *	        codes of file access)           (errcode_for_file_access)
 *
 *	  The extension's own class, IR (implementation-defined classes start
 *	  with I-Z), for the conditions an application branches on:
 *
 *	  IR001 ir_rollback_conflict            the rollback would overwrite writes
 *	                                        made since the apply (on_conflict
 *	                                        "abort")
 *	  IR002 ir_target_changed               the target changed under the batch:
 *	                                        a logged column dropped, renamed or
 *	                                        retyped, the table truncated, the
 *	                                        key's unique index dropped, records
 *	                                        to update deleted since validation
 *	  IR003 ir_guard_tripped                a post-apply guard tripped
 *	                                        (on_guard "error")
 *	  IR004 ir_stale_batch                  a newer batch wrote the batch's
 *	                                        records after it was validated
 *	  IR005 ir_batch_purged                 the batch's staging table or change
 *	                                        log was dropped by ir_purge()
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_ERRORS_H
#define IR_ERRORS_H

#include "utils/elog.h"

#define ERRCODE_IR_ROLLBACK_CONFLICT	MAKE_SQLSTATE('I','R','0','0','1')
#define ERRCODE_IR_TARGET_CHANGED		MAKE_SQLSTATE('I','R','0','0','2')
#define ERRCODE_IR_GUARD_TRIPPED		MAKE_SQLSTATE('I','R','0','0','3')
#define ERRCODE_IR_STALE_BATCH			MAKE_SQLSTATE('I','R','0','0','4')
#define ERRCODE_IR_BATCH_PURGED			MAKE_SQLSTATE('I','R','0','0','5')

#endif							/* IR_ERRORS_H */
