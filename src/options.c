/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Every option and rule the SQL functions take, described once as data
 *	  (file_fdw's model): its name, the shape of its value, and where it
 *	  may be given.  One walker checks an options object against the table
 *	  for the place it was given in, with PostgreSQL's own style of message
 *	  and a closest-match hint for a misspelt name; readers give the
 *	  values to the code that uses them.
 *
 * What a value means (a mapping's columns, a rule's columns, a pattern's
 * syntax) is checked by the code that uses it; here only its shape.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "options.h"

typedef enum OptionShape
{
	SHAPE_BOOLEAN,
	SHAPE_STRING,
	SHAPE_CHOICE,				/* one of choices */
	SHAPE_COUNT,				/* a whole number from 0 to 2^63 - 1 */
	SHAPE_RATIO,				/* a number from 0 to 1 */
	SHAPE_RULES,				/* an object of rules */
	SHAPE_MAPPING,				/* an object of target column names or mapping objects */
	SHAPE_OBJECT,				/* an object of keys of its own place (where_of) */
	SHAPE_STRINGS,				/* an array of strings */
	SHAPE_COUNTS,				/* a non-empty array of whole numbers */
	SHAPE_SCALARS,				/* an object of strings, numbers or booleans */
	SHAPE_COLUMNS,				/* a non-empty array of strings */
	SHAPE_SHA256,				/* 64 hexadecimal digits */
	SHAPE_ENCODING,				/* an encoding name */
	SHAPE_ANY					/* read and checked by its user */
} OptionShape;

typedef struct OptionDef
{
	const char *name;
	OptionShape shape;
	int			where;			/* IR_IN_* bits */
	const char *const *choices;	/* SHAPE_CHOICE, NULL-terminated */
	int			inner;			/* SHAPE_OBJECT: where its keys belong */
} OptionDef;

static const char *const modes[] = {"upsert", "insert", "update", NULL};
static const char *const on_conflicts[] = {"abort", "skip", "force", NULL};
static const char *const mapping_checks[] = {"stop", "warn", "off", NULL};
static const char *const on_guards[] = {"fail", "error", NULL};

#define IR_IN_STAGE (IR_IN_STAGE_DATA | IR_IN_STAGE_FILE | IR_IN_STAGE_CLIENT | IR_IN_STAGE_LO)

static const OptionDef option_defs[] = {
	/* the CSV dialect: COPY's own options, fixed when the file is staged */
	{"header", SHAPE_BOOLEAN, IR_IN_STAGE},
	{"delimiter", SHAPE_STRING, IR_IN_STAGE},
	{"quote", SHAPE_STRING, IR_IN_STAGE},
	{"escape", SHAPE_STRING, IR_IN_STAGE},
	{"null", SHAPE_STRING, IR_IN_STAGE},
	{"encoding", SHAPE_ENCODING, IR_IN_STAGE_FILE | IR_IN_STAGE_CLIENT | IR_IN_STAGE_LO},
	/* how the file maps onto the target: kept with the batch, correctable */
	{"mapping", SHAPE_MAPPING, IR_IN_STAGE | IR_IN_VALIDATE},
	{"key", SHAPE_COLUMNS, IR_IN_STAGE | IR_IN_VALIDATE},
	{"mode", SHAPE_CHOICE, IR_IN_STAGE | IR_IN_VALIDATE, modes},
	{"rules", SHAPE_RULES, IR_IN_STAGE | IR_IN_VALIDATE},
	{"expect_rows", SHAPE_COUNT, IR_IN_STAGE | IR_IN_VALIDATE},
	{"constants", SHAPE_SCALARS, IR_IN_STAGE | IR_IN_VALIDATE},
	/* a mapping value that is an object: the column and its steps */
	{"column", SHAPE_STRING, IR_IN_MAPPING_ENTRY},
	{"transform", SHAPE_STRINGS, IR_IN_MAPPING_ENTRY},
	{"null_if", SHAPE_STRINGS, IR_IN_MAPPING_ENTRY},
	{"date_format", SHAPE_STRING, IR_IN_MAPPING_ENTRY},
	{"timestamp_format", SHAPE_STRING, IR_IN_MAPPING_ENTRY},
	{"lookup", SHAPE_OBJECT, IR_IN_MAPPING_ENTRY, NULL, IR_IN_LOOKUP},
	{"table", SHAPE_STRING, IR_IN_LOOKUP},
	{"match", SHAPE_STRING, IR_IN_LOOKUP},
	{"return", SHAPE_STRING, IR_IN_LOOKUP},
	{"ignore_case", SHAPE_BOOLEAN, IR_IN_LOOKUP},
	/* ir_validate: rows rejected by hand */
	{"exclude", SHAPE_OBJECT, IR_IN_STAGE | IR_IN_VALIDATE, NULL, IR_IN_EXCLUDE},
	{"rows", SHAPE_COUNTS, IR_IN_EXCLUDE},
	{"reason", SHAPE_STRING, IR_IN_EXCLUDE},
	/* what the client says of the file it sends */
	{"bytes", SHAPE_COUNT, IR_IN_STAGE_CLIENT},
	{"sha256", SHAPE_SHA256, IR_IN_STAGE_CLIENT},
	/* ir_stage_large_object: remove the large object once it is staged */
	{"unlink", SHAPE_BOOLEAN, IR_IN_STAGE_LO},
	/* ir_rollback */
	{"on_conflict", SHAPE_CHOICE, IR_IN_ROLLBACK | IR_IN_RUN_ROLLBACK, on_conflicts},
	{"cascade", SHAPE_BOOLEAN, IR_IN_ROLLBACK},
	/* ir_apply */
	{"on_guard", SHAPE_CHOICE, IR_IN_APPLY | IR_IN_RUN_APPLY, on_guards},
	{"allow_stale", SHAPE_BOOLEAN, IR_IN_APPLY | IR_IN_RUN_APPLY},
	/* the run a batch is staged into */
	{"run", SHAPE_COUNT, IR_IN_STAGE},
	/* post-apply guards, given at staging, validation or apply, kept with the batch */
	{"guards", SHAPE_OBJECT, IR_IN_STAGE | IR_IN_VALIDATE | IR_IN_APPLY | IR_IN_RUN_CREATE, NULL, IR_IN_GUARDS},
	{"blank", SHAPE_ANY, IR_IN_GUARDS},
	{"orphans", SHAPE_ANY, IR_IN_GUARDS},
	{"unchanged", SHAPE_ANY, IR_IN_GUARDS},
	{"check", SHAPE_ANY, IR_IN_GUARDS},
	/* ir_purge */
	{"applied", SHAPE_BOOLEAN, IR_IN_PURGE},
	{"dry_run", SHAPE_BOOLEAN, IR_IN_PURGE},
	/* the keys of "rules" */
	{"required", SHAPE_ANY, IR_IN_RULES},
	{"unique_in_file", SHAPE_ANY, IR_IN_RULES},
	{"pattern", SHAPE_ANY, IR_IN_RULES},
	{"format", SHAPE_ANY, IR_IN_RULES},
	{"allowed", SHAPE_ANY, IR_IN_RULES},
	{"reference", SHAPE_ANY, IR_IN_RULES},
	{"max_reject_ratio", SHAPE_RATIO, IR_IN_RULES},
	{"max_reject_count", SHAPE_COUNT, IR_IN_RULES},
	{"max_touch_ratio", SHAPE_RATIO, IR_IN_RULES},
	{"mapping_check", SHAPE_CHOICE, IR_IN_RULES, mapping_checks},
};

/* What the options of a place are called in messages. */
static const char *
noun(int where)
{
	switch (where)
	{
		case IR_IN_RULES:
			return "rule";
		case IR_IN_MAPPING_ENTRY:
			return "mapping key";
		case IR_IN_LOOKUP:
			return "lookup key";
		case IR_IN_EXCLUDE:
			return "exclude key";
		case IR_IN_GUARDS:
			return "guard";
		default:
			return "option";
	}
}

static const OptionDef *
find_option(const char *name)
{
	for (int i = 0; i < lengthof(option_defs); i++)
		if (strcmp(option_defs[i].name, name) == 0)
			return &option_defs[i];
	return NULL;
}

/* "a", "b" and "c": the names of a NULL-terminated list, for hints. */
static char *
quoted_list(const char *const *names, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? " and " : ", ", names[i]);
	return buf.data;
}

/*
 * The hint for an unknown name given where: the closest valid name when
 * one is near (a misspelling), else the list of valid names.
 */
static char *
unknown_name_hint(const char *name, int where)
{
	const char *names[lengthof(option_defs)];
	const char *best = NULL;
	int			n = 0;
	int			best_d = Max(2, (int) strlen(name) / 3) + 1;

	for (int i = 0; i < lengthof(option_defs); i++)
	{
		int			d;

		if (!(option_defs[i].where & where))
			continue;
		names[n++] = option_defs[i].name;
		d = varstr_levenshtein_less_equal(name, strlen(name), option_defs[i].name,
										  strlen(option_defs[i].name), 1, 1, 1, best_d, true);
		if (d < best_d)
		{
			best_d = d;
			best = option_defs[i].name;
		}
	}
	if (best)
		return psprintf("Perhaps you meant the %s \"%s\".", noun(where), best);
	if (n == 0)
		return psprintf("%s takes no options.", where == IR_IN_APPLY ? "ir_apply" : "This function");
	return psprintf("Valid %ss here are %s.", noun(where), quoted_list(names, n));
}

/* Refuse option name given where it does not belong (def: what it is elsewhere). */
static void
refuse_name(const char *name, const OptionDef *def, int where, const char *fn)
{
	if (def != NULL && where == IR_IN_VALIDATE && (def->where & IR_IN_STAGE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" cannot be changed by ir_validate", name),
				 errdetail("ir_validate takes corrected \"mapping\", \"key\", \"mode\", \"rules\" and \"expect_rows\"."),
				 errhint("To read the file with another CSV dialect, stage it again.")));
	if (def != NULL && def->where == IR_IN_STAGE_LO && (where & IR_IN_STAGE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" is only accepted by ir_stage_large_object", name)));
	if (def != NULL && def->where == IR_IN_STAGE_CLIENT && (where & IR_IN_STAGE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" is only accepted by ir_stage_begin", name),
				 errdetail("The server computes the size and SHA-256 of the files it reads itself.")));
	if (def != NULL && strcmp(name, "encoding") == 0 && where == IR_IN_STAGE_DATA)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"encoding\" does not apply to CSV passed as text"),
				 errdetail("A text argument has already been converted to the database encoding by the client connection."),
				 errhint("Set client_encoding to the file's encoding, or use ir_stage_file or the client path.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 fn ? errmsg("unrecognized %s \"%s\" for %s", noun(where), name, fn) :
			 errmsg("unrecognized %s \"%s\"", noun(where), name),
			 errhint("%s", unknown_name_hint(name, where))));
}

static void
shape_error(const OptionDef *def, int where, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s \"%s\" must be %s", noun(where), def->name, what)));
}

/* Check one value against its option's shape. */
static void
check_shape(const OptionDef *def, JsonbValue *v, int where)
{
	int64		count;
	double		ratio;
	List	   *cols;

	switch (def->shape)
	{
		case SHAPE_BOOLEAN:
			if (v->type != jbvBool)
				shape_error(def, where, "a boolean");
			break;
		case SHAPE_STRING:
			if (v->type != jbvString)
				shape_error(def, where, "a string");
			break;
		case SHAPE_CHOICE:
			{
				char	   *s;
				int			n = 0;

				if (v->type != jbvString)
					shape_error(def, where, "a string");
				s = pnstrdup(v->val.string.val, v->val.string.len);
				for (; def->choices[n]; n++)
					if (strcmp(s, def->choices[n]) == 0)
						return;
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid %s \"%s\"", def->name, s),
						 errhint("Valid values are %s.", quoted_list(def->choices, n))));
			}
			break;
		case SHAPE_COUNT:
			if (!ir_json_count(v, &count))
				shape_error(def, where, "a whole number from 0 to 9223372036854775807");
			break;
		case SHAPE_RATIO:
			if (!ir_json_ratio(v, &ratio))
				shape_error(def, where, "a number between 0 and 1");
			break;
		case SHAPE_RULES:
			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				shape_error(def, where, "an object");
			ir_check_option_values(v->val.binary.data, IR_IN_RULES, NULL);
			break;
		case SHAPE_MAPPING:
			{
				JsonbIterator *it;
				JsonbValue	elem;
				JsonbIteratorToken tok;

				if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
					shape_error(def, where, "an object");
				it = JsonbIteratorInit(v->val.binary.data);
				while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
				{
					if (tok != WJB_VALUE || elem.type == jbvString)
						continue;
					if (elem.type != jbvBinary || !JsonContainerIsObject(elem.val.binary.data))
						shape_error(def, where,
									"an object mapping file columns to target column names or to mapping objects");
					ir_check_option_values(elem.val.binary.data, IR_IN_MAPPING_ENTRY, NULL);
				}
			}
			break;
		case SHAPE_OBJECT:
			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				shape_error(def, where, "an object");
			ir_check_option_values(v->val.binary.data, def->inner, NULL);
			break;
		case SHAPE_STRINGS:
			if (!ir_json_strings(v, &cols))
				shape_error(def, where, "an array of strings");
			break;
		case SHAPE_COUNTS:
			{
				JsonbIterator *it;
				JsonbValue	elem;
				JsonbIteratorToken tok;
				int			n = 0;

				if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
					shape_error(def, where, "a non-empty array of row numbers");
				it = JsonbIteratorInit(v->val.binary.data);
				while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
				{
					if (tok != WJB_ELEM)
						continue;
					if (!ir_json_count(&elem, &count) || count == 0)
						shape_error(def, where, "a non-empty array of row numbers (1, 2, ...)");
					n++;
				}
				if (n == 0)
					shape_error(def, where, "a non-empty array of row numbers");
			}
			break;
		case SHAPE_SCALARS:
			{
				JsonbIterator *it;
				JsonbValue	elem;
				JsonbIteratorToken tok;

				if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
					shape_error(def, where, "an object of target columns and values");
				it = JsonbIteratorInit(v->val.binary.data);
				while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
					if (tok == WJB_VALUE && elem.type != jbvString && elem.type != jbvNumeric &&
						elem.type != jbvBool && elem.type != jbvNull)
						shape_error(def, where, "an object of target columns and values (strings, numbers or booleans)");
			}
			break;
		case SHAPE_COLUMNS:
			if (!ir_json_strings(v, &cols))
				shape_error(def, where, "an array of column names");
			if (cols == NIL)
				shape_error(def, where, "a non-empty array of column names");
			break;
		case SHAPE_SHA256:
			if (v->type != jbvString || v->val.string.len != 64 ||
				strspn(pnstrdup(v->val.string.val, 64), "0123456789abcdefABCDEF") != 64)
				shape_error(def, where, "64 hexadecimal digits");
			break;
		case SHAPE_ENCODING:
			{
				char	   *enc;

				if (v->type != jbvString)
					shape_error(def, where, "a string");
				enc = pnstrdup(v->val.string.val, v->val.string.len);
				if (pg_char_to_encoding(enc) < 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"%s\" is not a valid encoding name", enc)));
			}
			break;
		case SHAPE_ANY:
			break;
	}
}

/*
 * Check an options object (or a rules object, with IR_IN_RULES) given in
 * place "where": every key known there, every value of its shape.  fn
 * names the function in messages about unknown keys, or NULL.  A JSON
 * null is as good as an absent key.
 */
void
ir_check_options(Jsonb *options, int where, const char *fn)
{
	ir_check_object(options);
	ir_check_option_values(&options->root, where, fn);
}

/* ir_check_options() over a JSON container (a nested "rules" object). */
void
ir_check_option_values(JsonbContainer *obj, int where, const char *fn)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	const OptionDef *def = NULL;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			def = find_option(key);
			if (def == NULL || !(def->where & where))
				refuse_name(key, def, where, fn);
		}
		else if (tok == WJB_VALUE && v.type != jbvNull)
			check_shape(def, &v, where);
	}
}

/* ---------------------------------------------------------------------
 * Readers of option values
 * ---------------------------------------------------------------------
 */

/*
 * Look up a top-level key of an options object; NULL when absent or JSON
 * null (a null option is as good as an absent one).
 */
JsonbValue *
ir_option(Jsonb *options, const char *key)
{
	JsonbValue *v;

	if (options == NULL || !JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		return NULL;
	v = getKeyJsonValueFromContainer(&options->root, key, strlen(key), NULL);
	if (v != NULL && v->type == jbvNull)
		return NULL;
	return v;
}

/* options (of any function) must be a JSON object. */
void
ir_check_object(Jsonb *options)
{
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
}

/* A string option as a C string, NULL when absent or JSON null. */
char *
ir_option_string(Jsonb *options, const char *key)
{
	JsonbValue *v = ir_option(options, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A boolean option, dflt when absent or JSON null (its shape was checked). */
bool
ir_option_bool(Jsonb *options, const char *key, bool dflt)
{
	JsonbValue *v = ir_option(options, key);

	return v != NULL && v->type == jbvBool ? v->val.boolean : dflt;
}

/* A JSON number's exact text (numeric_out), or NULL when v is not a number. */
static char *
json_number_text(JsonbValue *v)
{
	if (v == NULL || v->type != jbvNumeric)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

/*
 * A JSON number that is a whole count from 0 to 2^63 - 1 ("5" or "5.0"),
 * in *out; false for anything else (a fraction, a negative, a number too
 * large for bigint, a string): the caller says what was expected.
 */
bool
ir_json_count(JsonbValue *v, int64 *out)
{
	char	   *s = json_number_text(v);
	size_t		digits;
	char	   *end;

	if (s == NULL)
		return false;
	digits = strspn(s, "0123456789");
	if (digits == 0 || (s[digits] != '\0' &&
						(s[digits] != '.' || strspn(s + digits + 1, "0") != strlen(s + digits + 1))))
		return false;
	s[digits] = '\0';
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A JSON number from 0 to 1, in *out; false for anything else. */
bool
ir_json_ratio(JsonbValue *v, double *out)
{
	char	   *s = json_number_text(v);

	if (s == NULL)
		return false;
	*out = strtod(s, NULL);
	return *out >= 0 && *out <= 1;
}

/*
 * The strings of a JSON array, as a List of char * in *out.  False when v
 * is not an array or holds anything but strings; the caller says why.
 */
bool
ir_json_strings(JsonbValue *v, List **out)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	*out = NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			return false;
		*out = lappend(*out, pnstrdup(elem.val.string.val, elem.val.string.len));
	}
	return true;
}

/* options with key set to value (a copy; options itself is not changed). */
Jsonb *
ir_json_with_key(Jsonb *options, const char *key, JsonbValue *value)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue *res;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	(void) pushJsonbValue(&state, WJB_KEY, &k);
	(void) pushJsonbValue(&state, WJB_VALUE, value);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(options),
											  JsonbPGetDatum(JsonbValueToJsonb(res))));
}

/* An empty options object: {}. */
Jsonb *
ir_empty_options(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
}
