/*-------------------------------------------------------------------------
 *
 * sqlgen.h
 *	  SQL fragments no one's objects can change the meaning of (sqlgen.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_SQLGEN_H
#define IR_SQLGEN_H

extern Oid	ir_type_eq_operator(Oid typid);
extern Oid	ir_compatible_eq_operator(Oid ltype, Oid rtype);
extern char *ir_sql_op(Oid opno, const char *a, const char *b);
extern char *ir_sql_op_any(Oid opno, const char *a, const char *b, const char *from);
extern char *ir_sql_eq(Oid typid, const char *a, const char *b);
extern char *ir_sql_distinct(Oid typid, const char *a, const char *b);
extern char *ir_sql_same(const char *a, const char *b);
extern char *ir_sql_scan(Oid relid);
extern char *ir_sql_text(const char *value);
extern char *ir_sql_json_value(Oid typid, const char *value);
extern char *ir_sql_values_missing(int ncols, const Oid *types, Oid *argtypes, const char *rows,
								   char *(*match) (int c, void *arg), void *arg);

#endif							/* IR_SQLGEN_H */
