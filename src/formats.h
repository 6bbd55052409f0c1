/*-------------------------------------------------------------------------
 *
 * formats.h
 *	  The built-in formats of the "format" rule (formats.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_FORMATS_H
#define IR_FORMATS_H

/* The values are ir_format()'s second argument in generated SQL. */
typedef enum IrFormat
{
	IR_FORMAT_EMAIL = 1,
	IR_FORMAT_PHONE = 2,
	IR_FORMAT_URL = 3
} IrFormat;

extern bool ir_format_valid(IrFormat format, const char *s, int len);

#endif							/* IR_FORMATS_H */
