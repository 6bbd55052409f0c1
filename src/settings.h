/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The extension's configuration parameters (import_rollback.*).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_SETTINGS_H
#define IR_SETTINGS_H

extern double ir_default_max_reject_ratio;
extern char *ir_tablespace;
extern bool ir_unlogged_staging;

extern void ir_define_settings(void);

#endif							/* IR_SETTINGS_H */
