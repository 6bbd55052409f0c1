/*-------------------------------------------------------------------------
 *
 * sqlgen.c
 *	  SQL fragments whose meaning cannot be changed by anyone's objects:
 *	  comparisons of values of the target's types and the names of the
 *	  tables those statements read and write.
 *
 * Every statement the extension builds runs with search_path pinned to
 * "pg_catalog, pg_temp" (import_rollback.c), so a name it leaves
 * unqualified resolves in pg_catalog, which only superusers can write.
 * That is not enough for values of other schemas' types: "=" between two
 * values of an enum or a domain living in public would resolve, by name,
 * among the operators of the schemas on the path, and a role with CREATE
 * there could plant a better match.  So a comparison of such values never
 * names an operator: it takes the operator from the type cache (the
 * default btree or hash opclass, which only a superuser can create) or
 * from the opfamily of the key's unique index, and writes it as
 * OPERATOR(schema.name) with both operands cast to the operator's own
 * declared input types, so that the one operator with that name and
 * exactly those types in that schema is the one found.  Polymorphic
 * operators (anyenum, anyarray, ...) live in pg_catalog and take no cast.
 *
 * Whether a value is still what a batch wrote is a question about the
 * stored datum, not the type's equality (1.990 = 1.99 as numerics, but a
 * rollback must not overwrite a later write of 1.99): ir_sql_same()
 * compares images, as the change-log trigger does when it logs a write.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/stratnum.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "sqlgen.h"

/* The equality operator of a type's default opclass; InvalidOid if none. */
Oid
ir_type_eq_operator(Oid typid)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);

	return tce->eq_opr;
}

/* One operand of an operator: cast to its declared type unless polymorphic. */
static char *
operand(Oid type, const char *expr)
{
	if (get_typtype(type) == TYPTYPE_PSEUDO)
		return psprintf("(%s)", expr);
	return psprintf("(%s)::%s", expr,
					format_type_extended(type, -1, FORMAT_TYPE_FORCE_QUALIFY));
}

/*
 * An operator as SQL: "OPERATOR(schema.name)" and the types its operands
 * are cast to (NULL: none), or an error when it could be mistaken for
 * another operator of that name.
 */
static char *
operator_sql(Oid opno, Oid *left, Oid *right)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	if (op->oprnamespace != PG_CATALOG_NAMESPACE &&
		(get_typtype(op->oprleft) == TYPTYPE_PSEUDO ||
		 get_typtype(op->oprright) == TYPTYPE_PSEUDO))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operator %s cannot be used safely by import_rollback",
						format_operator(opno)),
				 errdetail("It takes a polymorphic argument and lives outside pg_catalog, "
						   "so it could not be told apart from another operator of that name.")));
	sql = psprintf("OPERATOR(%s.%s)",
				   quote_identifier(get_namespace_name(op->oprnamespace)),
				   NameStr(op->oprname));
	*left = op->oprleft;
	*right = op->oprright;
	ReleaseSysCache(tup);
	return sql;
}

/*
 * SQL: "a <op> b" for the operator opno, found again by exactly its schema,
 * name and input types (see the file header).
 */
char *
ir_sql_op(Oid opno, const char *a, const char *b)
{
	Oid			left;
	Oid			right;
	char	   *op = operator_sql(opno, &left, &right);

	return psprintf("%s %s %s", operand(left, a), op, operand(right, b));
}

/*
 * SQL: "a <op> ANY (SELECT b FROM from)", for a hashed subplan over a
 * column b read once, with the operator found as ir_sql_op() finds it.
 */
char *
ir_sql_op_any(Oid opno, const char *a, const char *b, const char *from)
{
	Oid			left;
	Oid			right;
	char	   *op = operator_sql(opno, &left, &right);

	return psprintf("%s %s ANY (SELECT %s FROM %s)", operand(left, a), op,
					operand(right, b), from);
}

/*
 * The equality operator for comparing a value of type ltype with values of
 * type rtype (a column referenced by a rule): a member of either type's
 * btree opfamily taking exactly these types, else the equality of a type
 * both are binary-coercible to.  Never one that needs a cast function to
 * reach: a cast is created by a type's owner, and would run as the caller.
 * InvalidOid when there is none.
 */
Oid
ir_compatible_eq_operator(Oid ltype, Oid rtype)
{
	Oid			lbase = getBaseType(ltype);
	Oid			rbase = getBaseType(rtype);
	Oid			sides[2] = {rbase, lbase};

	for (int i = 0; i < 2; i++)
	{
		TypeCacheEntry *tce = lookup_type_cache(sides[i], TYPECACHE_BTREE_OPFAMILY);
		Oid			op;

		if (!OidIsValid(tce->btree_opf))
			continue;
		op = get_opfamily_member(tce->btree_opf, lbase, rbase, BTEqualStrategyNumber);
		if (OidIsValid(op))
			return op;
	}
	for (int i = 0; i < 2; i++)
	{
		TypeCacheEntry *tce = lookup_type_cache(sides[i], TYPECACHE_BTREE_OPFAMILY);
		Oid			common = tce->btree_opintype;

		if (!OidIsValid(tce->btree_opf) || get_typtype(common) == TYPTYPE_PSEUDO)
			continue;
		if (IsBinaryCoercible(lbase, common) && IsBinaryCoercible(rbase, common))
			return get_opfamily_member(tce->btree_opf, common, common, BTEqualStrategyNumber);
	}
	return InvalidOid;
}

/*
 * SQL: a = b under the equality of type typid (both are of that type).
 * Errors when the type has none.
 */
char *
ir_sql_eq(Oid typid, const char *a, const char *b)
{
	Oid			eq = ir_type_eq_operator(typid);

	if (!OidIsValid(eq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(typid))));
	return ir_sql_op(eq, a, b);
}

/*
 * SQL: a IS DISTINCT FROM b under the equality of type typid, NULLs equal
 * to each other only; types without an equality compare their images.
 */
char *
ir_sql_distinct(Oid typid, const char *a, const char *b)
{
	Oid			eq = ir_type_eq_operator(typid);

	if (!OidIsValid(eq))
		return psprintf("NOT %s", ir_sql_same(a, b));
	return psprintf("(NOT COALESCE(%s, (%s) IS NULL AND (%s) IS NULL))",
					ir_sql_op(eq, a, b), a, b);
}

/* SQL: a and b are the same datum (bit for bit), or both NULL. */
char *
ir_sql_same(const char *a, const char *b)
{
	return psprintf("import_rollback.ir_same(%s, %s)", a, b);
}

/*
 * SQL: a relation to read, update or delete from: "ONLY schema.table" for
 * a plain table, so that rows of its inheritance children, which are not
 * the target's, are never read or written; a partitioned table as is
 * (its rows are in its partitions).
 */
char *
ir_sql_scan(Oid relid)
{
	char	   *name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												  get_rel_name(relid));

	if (get_rel_relkind(relid) == RELKIND_RELATION)
		return psprintf("ONLY %s", name);
	return name;
}

/*
 * SQL: value as text, by its type's output function (mapping.c ir_text),
 * never through a cast to text a type's owner could have created.
 */
char *
ir_sql_text(const char *value)
{
	return psprintf("import_rollback.ir_text(%s)", value);
}

/*
 * SQL: value as to_jsonb() and jsonb_build_object() should see it: as is
 * for built-in types (numbers stay numbers), as its output text for any
 * other, for which to_jsonb would look for a cast to json a type's owner
 * could have created.
 */
char *
ir_sql_json_value(Oid typid, const char *value)
{
	Oid			base = getBaseType(typid);

	if (base < FirstNormalObjectId)
		return pstrdup(value);
	return ir_sql_text(value);
}

/*
 * SQL: of the values given as arrays $1..$n of types (one per column,
 * read as k.c1..k.cn), how many and which (count, then one array per
 * column) have no row in rows, a "FROM ... WHERE ..." to which each
 * column's match (match(c), over k.c<c+1>) is added with AND.  The
 * parameters' array types go into argtypes.
 */
char *
ir_sql_values_missing(int ncols, const Oid *types, Oid *argtypes, const char *rows,
					  char *(*match) (int c, void *arg), void *arg)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT pg_catalog.count(*)");
	for (int c = 0; c < ncols; c++)
		appendStringInfo(&q, ", pg_catalog.array_agg(k.c%d)", c + 1);
	appendStringInfoString(&q, " FROM ROWS FROM (");
	for (int c = 0; c < ncols; c++)
	{
		argtypes[c] = get_array_type(types[c]);
		appendStringInfo(&q, "%spg_catalog.unnest($%d)", c ? ", " : "", c + 1);
	}
	appendStringInfoString(&q, ") AS k(");
	for (int c = 0; c < ncols; c++)
		appendStringInfo(&q, "%sc%d", c ? ", " : "", c + 1);
	appendStringInfo(&q, ") WHERE NOT EXISTS (SELECT 1 %s", rows);
	for (int c = 0; c < ncols; c++)
		appendStringInfo(&q, " AND %s", match(c, arg));
	appendStringInfoChar(&q, ')');
	return q.data;
}
