/*-------------------------------------------------------------------------
 *
 * commands.c
 *	  The subcommands: which of the extension's functions each one calls,
 *	  how its result is shown (a table, a record, JSON) and the exit
 *	  status it ends with.
 *
 *	  A function with side effects (ir_validate, ir_apply, ...) runs once:
 *	  the table or the JSON is made from that one call.  Review output
 *	  splits the wide jsonb columns of ir_sample, ir_rejects and
 *	  ir_changes into one line per column, in SQL, so a table stays as
 *	  narrow as its longest value; --json gives the functions' own rows.
 *
 *	  Exit status: 3 when a validation stops the batch (state "failed"
 *	  with a stop_reason, not an error); 4 and 5 come from the SQLSTATEs
 *	  IR001 and IR003 (conn.c), or 5 when an apply leaves the batch (or
 *	  import --run's ir_run_apply the run) failed by a guard.
 *
 *	  A member of a run (stage --run) is applied only with its run:
 *	  import --run applies the run, with ir_run_apply; apply of a member
 *	  gets the server's refusal; rollback --cascade of a member rolls the
 *	  whole run back (the server's cascade).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/*
 * SQL fragments.  S is the extension's schema; every other name is
 * pg_catalog's, written out so that nothing in the caller's search_path
 * can stand in for it.
 */

/* a jsonb value as one display line: strings bare, newlines as \n */
#define DISP(v) \
	"CASE WHEN (" v ") IS NULL THEN ''" \
	" WHEN pg_catalog.jsonb_typeof(" v ") OPERATOR(pg_catalog.=) 'null' THEN '(null)'" \
	" WHEN pg_catalog.jsonb_typeof(" v ") OPERATOR(pg_catalog.=) 'string' THEN" \
	"  pg_catalog.replace(pg_catalog.replace((" v ") OPERATOR(pg_catalog.#>>) '{}'::pg_catalog.text[]," \
	"   E'\\r', '\\r'), E'\\n', '\\n')" \
	" ELSE pg_catalog.replace(CAST((" v ") AS pg_catalog.text), E'\\n', '\\n') END"

/* a flat jsonb object as "key: value" lines */
#define KEY_VALUE_LINES(obj) \
	"(SELECT pg_catalog.string_agg(e.key OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) " \
	DISP("e.value") ", E'\\n') FROM pg_catalog.jsonb_each(" obj ") e)"

/* a reject reason without its values, so that like reasons group */
#define REASON_KIND(r) \
	"pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.regexp_replace(" \
	"pg_catalog.regexp_replace(" r ", '\"([^\"\\\\]|\\\\.)*\"', '\"...\"', 'g')," \
	" '= \\([^)]*\\)', '= (...)', 'g')," \
	" '\\(also rows? [0-9, ]+\\)', '(also ...)', 'g')," \
	" '\\([^()]*\\) is not unique', '(...) is not unique', 'g')"

/* the batch's target, resolved to a regclass (NULL once dropped) */
#define TARGET_OF_BATCH(S, b) \
	"pg_catalog.to_regclass((SELECT t.target FROM " S ".ir_batches t" \
	" WHERE t.batch_id OPERATOR(pg_catalog.=) " b "))"

static char batch_buf[24];

static const char *
batch_text(const Options *opts)
{
	snprintf(batch_buf, sizeof(batch_buf), "%lld", opts->batch);
	return batch_buf;
}

static PrintOpts
print_opts(PGconn *conn, const char *title, bool footer)
{
	PrintOpts	po;

	po.footer = footer;
	po.title = title;
	po.columns = 0;
	po.plain_lines = false;
	po.encoding = PQclientEncoding(conn);
	return po;
}

/* a result whose last column is its rows as json: the others, as a table */
static void
show_table_but_json(PGconn *conn, PGresult *res)
{
	PrintOpts	po = print_opts(conn, NULL, false);

	po.columns = PQnfields(res) - 1;
	ir_print_table(stdout, res, &po);
}

static void
show_table(PGconn *conn, PGresult *res, const char *title, bool footer)
{
	PrintOpts	po = print_opts(conn, title, footer);

	ir_print_table(stdout, res, &po);
}

/* a query's rows, as JSON (one document per row) or as a table; clears res */
static void
print_rows(PGconn *conn, PGresult *res, const Options *opts)
{
	if (opts->json)
		ir_print_json(stdout, res, false);
	else
		show_table(conn, res, NULL, true);
	PQclear(res);
}

/* a table whose rows are blocks of one line per column: no "+" markers */
static void
show_blocks(PGconn *conn, PGresult *res, const char *title)
{
	PrintOpts	po = print_opts(conn, title, title == NULL);

	po.plain_lines = true;
	ir_print_table(stdout, res, &po);
}

/* the value of column name in row 0 of res, or NULL */
static const char *
value_of(PGresult *res, const char *name)
{
	int			c = PQfnumber(res, name);

	if (c < 0 || PQntuples(res) < 1 || PQgetisnull(res, 0, c))
		return NULL;
	return PQgetvalue(res, 0, c);
}

/*
 * A text[] literal of a list ("{"a","b\"c"}"), or NULL for an empty list
 * (the SQL then leaves the option out).
 */
char *
ir_array_literal(const StrList *list)
{
	size_t		len = 3;
	char	   *out,
			   *p;

	if (list->n == 0)
		return NULL;
	for (int i = 0; i < list->n; i++)
		len += strlen(list->items[i]) * 2 + 3;
	out = p = ir_malloc(len);
	*p++ = '{';
	for (int i = 0; i < list->n; i++)
	{
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = list->items[i]; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

/*
 * The options of validate: --options merged with --map, --key and
 * --mode, as ir_stage_input does for stage.  Parameters $2..$6.
 */
#define VALIDATE_OPTIONS \
	"$2::pg_catalog.jsonb" \
	" OPERATOR(pg_catalog.||) CASE WHEN $3::pg_catalog.text[] IS NULL THEN '{}'::pg_catalog.jsonb" \
	"  ELSE pg_catalog.jsonb_build_object('mapping'," \
	"   COALESCE($2::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'mapping', '{}'::pg_catalog.jsonb)" \
	"   OPERATOR(pg_catalog.||) pg_catalog.jsonb_object($3::pg_catalog.text[], $4::pg_catalog.text[])) END" \
	" OPERATOR(pg_catalog.||) CASE WHEN $5::pg_catalog.text[] IS NULL THEN '{}'::pg_catalog.jsonb" \
	"  ELSE pg_catalog.jsonb_build_object('key', pg_catalog.to_jsonb($5::pg_catalog.text[])) END" \
	" OPERATOR(pg_catalog.||) CASE WHEN $6::pg_catalog.text IS NULL THEN '{}'::pg_catalog.jsonb" \
	"  ELSE pg_catalog.jsonb_build_object('mode', $6::pg_catalog.text) END"

/*
 * --options must be a JSON object; the server's parser says whether it
 * is JSON at all.  A usage error (exit 2) otherwise.
 */
static void
check_options_json(PGconn *conn, const Options *opts)
{
	const char *v[1];
	PGresult   *res;

	if (opts->options_json == NULL)
		return;
	v[0] = opts->options_json;
	res = ir_run(conn, "SELECT pg_catalog.jsonb_typeof($1::pg_catalog.jsonb)", 1, v, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

		if (msg == NULL)
			ir_die_on(conn, res);
		ir_error("--options is not valid JSON: %s%s%s", msg, detail ? ": " : "", detail ? detail : "");
		PQclear(res);
		ir_disconnect(conn);
		exit(EXIT_USAGE);
	}
	if (strcmp(PQgetvalue(res, 0, 0), "object") != 0)
	{
		ir_error("--options must be a JSON object, not %s", PQgetvalue(res, 0, 0));
		PQclear(res);
		ir_disconnect(conn);
		exit(EXIT_USAGE);
	}
	PQclear(res);
}

/* ------------------------------------------------------------------------
 * stage
 */

static PGresult *
batch_row(PGconn *conn, long long batch, bool json)
{
	char		id[24];
	const char *v[1];
	char	   *sql;
	PGresult   *res;

	snprintf(id, sizeof(id), "%lld", batch);
	v[0] = id;
	sql = json
		? ir_psprintf("SELECT pg_catalog.to_json(b), b.state, b.last_error FROM %s.ir_batches b"
					  " WHERE b.batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema)
		: ir_psprintf("SELECT * FROM %s.ir_batches b"
					  " WHERE b.batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	return res;
}

static int
cmd_stage(PGconn *conn, const Options *opts, StageInput *in)
{
	long long	batch;
	PGresult   *res;
	const char *state;

	check_options_json(conn, opts);
	batch = ir_stage_input(conn, opts, in);
	res = batch_row(conn, batch, opts->json);
	if (opts->json)
		ir_print_json(stdout, res, true);
	else
		printf("%lld\n", batch);
	state = opts->json ? PQgetvalue(res, 0, 1) : value_of(res, "state");
	if (state && strcmp(state, "failed") == 0)
	{
		const char *err = opts->json ? PQgetvalue(res, 0, 2) : value_of(res, "last_error");

		ir_error("batch %lld failed: %s", batch, err ? err : "(no reason recorded)");
		PQclear(res);
		return EXIT_ERROR;
	}
	PQclear(res);
	return EXIT_DONE;
}

/* ------------------------------------------------------------------------
 * validate
 */

/*
 * Run ir_validate with the command line's corrections.  Prints its row
 * unless quiet; returns the result (state in column "state", stop_reason
 * in "stop_reason").
 */
static PGresult *
run_validate(PGconn *conn, const Options *opts, bool quiet)
{
	char	   *mapfrom = ir_array_literal(&opts->map_from);
	char	   *mapto = ir_array_literal(&opts->map_to);
	char	   *keys = ir_array_literal(&opts->keys);
	const char *v[6];
	char	   *sql;
	PGresult   *res;

	v[0] = batch_text(opts);
	v[1] = opts->options_json ? opts->options_json : "{}";
	v[2] = mapfrom;
	v[3] = mapto;
	v[4] = keys;
	v[5] = opts->mode;
	sql = ir_psprintf("SELECT t.*, pg_catalog.to_json(t) AS json"
					  "  FROM %s.ir_validate($1::pg_catalog.int8, " VALIDATE_OPTIONS ") t",
					  ir_schema);
	res = ir_query(conn, sql, 6, v);
	free(sql);
	free(mapfrom);
	free(mapto);
	free(keys);
	if (!quiet)
	{
		if (opts->json)
			printf("%s\n", value_of(res, "json"));
		else
			show_table_but_json(conn, res);
	}
	return res;
}

static int
stopped(PGresult *v, long long batch)
{
	const char *state = value_of(v, "state");

	if (state && strcmp(state, "failed") == 0)
	{
		const char *reason = value_of(v, "stop_reason");

		ir_info("validation stopped batch %lld: %s", batch, reason ? reason : "(no reason given)");
		return EXIT_STOPPED;
	}
	return EXIT_DONE;
}

static int
cmd_validate(PGconn *conn, const Options *opts)
{
	PGresult   *res;
	int			code;

	check_options_json(conn, opts);
	res = run_validate(conn, opts, false);
	code = stopped(res, opts->batch);
	PQclear(res);
	return code;
}

/* ------------------------------------------------------------------------
 * rejects, sample, preview: the review
 */

static void
show_reject_reasons(PGconn *conn, const Options *opts, const char *title, long long limit)
{
	char		lim[24];
	const char *v[2];
	char	   *sql;
	PGresult   *res;

	snprintf(lim, sizeof(lim), "%lld", limit);
	v[0] = batch_text(opts);
	v[1] = limit > 0 ? lim : NULL;
	sql = ir_psprintf("SELECT pg_catalog.count(DISTINCT r.row_no) AS rows,"
					  "       pg_catalog.min(r.row_no) AS first_row,"
					  "       " REASON_KIND("e.reason") " AS reason%s"
					  "  FROM %s.ir_rejects($1::pg_catalog.int8) r,"
					  "       pg_catalog.unnest(r.errors) e(reason)"
					  " GROUP BY 3 ORDER BY 1 DESC, 3 LIMIT $2::pg_catalog.int8",
					  opts->json ? ", pg_catalog.min(e.reason) AS example" : "",
					  ir_schema);
	if (opts->json)
	{
		char	   *jsql = ir_psprintf("SELECT pg_catalog.to_json(t) FROM (%s) t", sql);

		res = ir_query(conn, jsql, 2, v);
		free(jsql);
		ir_print_json(stdout, res, false);
	}
	else
	{
		res = ir_query(conn, sql, 2, v);
		show_table(conn, res, title, title == NULL);
	}
	free(sql);
	PQclear(res);
}

static int
cmd_rejects(PGconn *conn, const Options *opts)
{
	char		lim[24];
	const char *v[2];
	char	   *sql;
	PGresult   *res;

	if (opts->summary)
	{
		show_reject_reasons(conn, opts, NULL, opts->limit);
		return EXIT_DONE;
	}
	snprintf(lim, sizeof(lim), "%lld", opts->limit);
	v[0] = batch_text(opts);
	v[1] = opts->limit > 0 ? lim : NULL;
	if (opts->json)
		sql = ir_psprintf("SELECT pg_catalog.to_json(r) FROM %s.ir_rejects($1::pg_catalog.int8) r"
						  " ORDER BY r.row_no LIMIT $2::pg_catalog.int8", ir_schema);
	else
		sql = ir_psprintf("SELECT r.row_no AS row,"
						  "       pg_catalog.array_to_string(r.errors, E'\\n') AS reasons,"
						  "       " KEY_VALUE_LINES("r.source") " AS source"
						  "  FROM %s.ir_rejects($1::pg_catalog.int8) r"
						  " ORDER BY r.row_no LIMIT $2::pg_catalog.int8", ir_schema);
	res = ir_query(conn, sql, 2, v);
	free(sql);
	print_rows(conn, res, opts);
	return EXIT_DONE;
}

/*
 * The spread sample as a narrow table: one line per column of each
 * sampled row, incoming value beside the live one, "*" where an update
 * changes it.
 */
static void
show_sample(PGconn *conn, const Options *opts, long long n, const char *title)
{
	char		num[24];
	const char *v[2];
	char	   *sql;
	PGresult   *res;

	snprintf(num, sizeof(num), "%lld", n);
	v[0] = batch_text(opts);
	v[1] = num;
	if (opts->json)
		sql = ir_psprintf("SELECT pg_catalog.to_json(s) FROM %s.ir_sample($1::pg_catalog.int8, $2::pg_catalog.int4) s",
						  ir_schema);
	else
	{
		char	   *target = ir_psprintf(TARGET_OF_BATCH("%s", "$1::pg_catalog.int8"), ir_schema);

		sql = ir_psprintf(
						  "SELECT s.row_no AS row, s.action,"
						  "       pg_catalog.string_agg(k.key, E'\\n' ORDER BY k.pos, k.key) AS column,"
						  "       pg_catalog.string_agg(CASE WHEN s.action OPERATOR(pg_catalog.=) 'update'"
						  "         AND NOT COALESCE((s.mapped OPERATOR(pg_catalog.->) k.key)"
						  "              OPERATOR(pg_catalog.=) (s.\"current\" OPERATOR(pg_catalog.->) k.key), false)"
						  "         THEN '*' ELSE '' END, E'\\n' ORDER BY k.pos, k.key) AS chg,"
						  "       pg_catalog.string_agg(" DISP("COALESCE(s.mapped, s.source) OPERATOR(pg_catalog.->) k.key")
						  ", E'\\n' ORDER BY k.pos, k.key) AS incoming,"
						  "       pg_catalog.string_agg(CASE WHEN s.\"current\" IS NULL THEN '' ELSE "
						  DISP("s.\"current\" OPERATOR(pg_catalog.->) k.key")
						  " END, E'\\n' ORDER BY k.pos, k.key) AS live"
						  "  FROM %s.ir_sample($1::pg_catalog.int8, $2::pg_catalog.int4) WITH ORDINALITY"
						  "       s(row_no, action, source, mapped, \"current\", ord)"
						  "  CROSS JOIN LATERAL"
						  "       (SELECT j.key, COALESCE(a.attnum, 32767) AS pos"
						  "          FROM pg_catalog.jsonb_object_keys(COALESCE(s.mapped, s.source)) j(key)"
						  "          LEFT JOIN pg_catalog.pg_attribute a"
						  "            ON s.mapped IS NOT NULL"
						  "           AND a.attrelid OPERATOR(pg_catalog.=) %s"
						  "           AND a.attname OPERATOR(pg_catalog.=) j.key"
						  "           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) k"
						  " GROUP BY s.ord, s.row_no, s.action ORDER BY s.ord",
						  ir_schema, target);
		free(target);
	}
	res = ir_query(conn, sql, 2, v);
	free(sql);
	if (opts->json)
		ir_print_json(stdout, res, false);
	else
		show_blocks(conn, res, title);
	PQclear(res);
}

static int
cmd_sample(PGconn *conn, const Options *opts)
{
	show_sample(conn, opts, opts->limit > 0 ? opts->limit : 10, NULL);
	return EXIT_DONE;
}

static PGresult *
preview_rows(PGconn *conn, const Options *opts)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;

	v[0] = batch_text(opts);
	sql = ir_psprintf(opts->json
					  ? "SELECT pg_catalog.to_json(p) FROM %s.ir_preview($1::pg_catalog.int8) p"
					  : "SELECT * FROM %s.ir_preview($1::pg_catalog.int8)",
					  ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	return res;
}

static int
cmd_preview(PGconn *conn, const Options *opts)
{
	PGresult   *res = preview_rows(conn, opts);

	print_rows(conn, res, opts);
	return EXIT_DONE;
}

/* ------------------------------------------------------------------------
 * apply, rollback, drill, plan
 */

/*
 * The batch's state and last_error after an apply: 0 when it was applied,
 * else 5 (a guard tripped: the batch failed by it) or 1, with why (the
 * batch's last_error, malloc'd) set.
 */
static int
apply_verdict(PGconn *conn, long long batch, char **why)
{
	PGresult   *res = batch_row(conn, batch, false);
	const char *state = value_of(res, "state");
	const char *err = value_of(res, "last_error");
	int			code = EXIT_DONE;

	*why = NULL;
	if (state && strcmp(state, "failed") == 0)
	{
		code = err && strncmp(err, "guard ", 6) == 0 ? EXIT_GUARD : EXIT_ERROR;
		*why = ir_strdup(err ? err : "it failed");
	}
	PQclear(res);
	return code;
}

/* apply_verdict, said on stderr when the batch was not applied */
static int
apply_outcome(PGconn *conn, long long batch)
{
	char	   *why;
	int			code = apply_verdict(conn, batch, &why);

	if (code != EXIT_DONE)
		ir_error("batch %lld was not applied: %s", batch, why);
	free(why);
	return code;
}

/*
 * Apply; a staged batch is validated first here, so that a validation
 * that stops it is kept (exit 3) rather than undone with the apply.  Not
 * a member of a run: validated alone, before its run's other members are
 * staged, it would miss the rows they will write and fail for it, and
 * the server applies it only with its run anyway (and says so).  The
 * counts are shown under title when the batch was applied, under
 * not_applied (ir_apply's zero counts) when it failed (a guard tripped).
 */
static int
do_apply(PGconn *conn, const Options *opts, bool print, const char *title,
		 const char *not_applied)
{
	const char *v[2];
	char	   *sql;
	PGresult   *res = batch_row(conn, opts->batch, false);
	const char *state = value_of(res, "state");
	char	   *why;
	int			code;

	if (state && strcmp(state, "staged") == 0 && value_of(res, "run_id") == NULL)
	{
		Options		plain = *opts;
		PGresult   *val;

		plain.options_json = NULL;
		memset(&plain.map_from, 0, sizeof(StrList));
		memset(&plain.map_to, 0, sizeof(StrList));
		memset(&plain.keys, 0, sizeof(StrList));
		plain.mode = NULL;
		val = run_validate(conn, &plain, true);
		code = stopped(val, opts->batch);
		PQclear(val);
		if (code != EXIT_DONE)
		{
			PQclear(res);
			return code;
		}
	}
	PQclear(res);

	v[0] = batch_text(opts);
	v[1] = opts->options_json ? opts->options_json : "{}";
	sql = ir_psprintf(opts->json
					  ? "SELECT pg_catalog.to_json(a) FROM %s.ir_apply($1::pg_catalog.int8, $2::pg_catalog.jsonb) a"
					  : "SELECT * FROM %s.ir_apply($1::pg_catalog.int8, $2::pg_catalog.jsonb)",
					  ir_schema);
	res = ir_query(conn, sql, 2, v);
	free(sql);
	code = apply_verdict(conn, opts->batch, &why);
	if (print)
	{
		const char *t = code == EXIT_DONE ? title : not_applied;

		if (opts->json)
			ir_print_json(stdout, res, true);
		else
			show_table(conn, res, t, t == NULL);
	}
	PQclear(res);
	if (code != EXIT_DONE)
		ir_error("batch %lld was not applied: %s", opts->batch, why);
	free(why);
	return code;
}

static int
cmd_apply(PGconn *conn, const Options *opts)
{
	check_options_json(conn, opts);
	return do_apply(conn, opts, true, NULL, NULL);
}

/*
 * Did the rollback's on_conflict say "force"?  --on-conflict, else the
 * one in --options (--on-conflict wins, as in the statement).
 */
static bool
rollback_forced(PGconn *conn, const Options *opts)
{
	const char *v[1];
	PGresult   *res;
	bool		force;

	if (opts->on_conflict)
		return strcmp(opts->on_conflict, "force") == 0;
	if (opts->options_json == NULL)
		return false;
	v[0] = opts->options_json;
	res = ir_query(conn, "SELECT COALESCE($1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'on_conflict'"
				   " OPERATOR(pg_catalog.=) 'force', false)", 1, v);
	force = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return force;
}

static int
cmd_rollback(PGconn *conn, const Options *opts)
{
	const char *v[4];
	char	   *sql;
	PGresult   *res;
	int			force = -1;		/* on_conflict force? -1: not looked up yet */

	v[0] = batch_text(opts);
	if (opts->preview)
	{
		v[1] = opts->status_filter;
		if (opts->json)
			sql = ir_psprintf("SELECT pg_catalog.to_json(p) FROM %s.ir_rollback_preview($1::pg_catalog.int8%s) p",
							  ir_schema, opts->status_filter ? ", $2" : "");
		else
			sql = ir_psprintf("SELECT CAST(p.record_key AS pg_catalog.text) AS record_key, p.action, p.status,"
							  "       p.column_name, p.batch_value, p.current_value, p.changed_by_batch"
							  "  FROM %s.ir_rollback_preview($1::pg_catalog.int8%s) p",
							  ir_schema, opts->status_filter ? ", $2" : "");
		res = ir_query(conn, sql, opts->status_filter ? 2 : 1, v);
		free(sql);
		if (opts->json)
			ir_print_json(stdout, res, false);
		else
			show_table(conn, res, NULL, true);
		PQclear(res);
		return EXIT_DONE;
	}

	check_options_json(conn, opts);
	v[1] = opts->options_json ? opts->options_json : "{}";
	v[2] = opts->on_conflict;
	v[3] = opts->cascade ? "true" : NULL;
	sql = ir_psprintf("SELECT r.*, pg_catalog.to_json(r) AS json FROM %s.ir_rollback($1::pg_catalog.int8,"
					  " $2::pg_catalog.jsonb"
					  " OPERATOR(pg_catalog.||) CASE WHEN $3::pg_catalog.text IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('on_conflict', $3::pg_catalog.text) END"
					  " OPERATOR(pg_catalog.||) CASE WHEN $4::pg_catalog.bool IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('cascade', $4::pg_catalog.bool) END) r",
					  ir_schema);
	res = ir_query(conn, sql, 4, v);
	free(sql);
	if (opts->json)
	{
		int			col = PQfnumber(res, "json");

		if (!opts->cascade && PQntuples(res) == 1)
			printf("%s\n", PQgetvalue(res, 0, col));
		else
		{
			/*
			 * a cascade: one row per batch rolled back, an array even when
			 * the cascade is the batch alone
			 */
			printf("[\n");
			for (int r = 0; r < PQntuples(res); r++)
				printf("  %s%s\n", PQgetvalue(res, r, col), r + 1 < PQntuples(res) ? "," : "");
			printf("]\n");
		}
	}
	else
		show_table_but_json(conn, res);
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *conflicts = PQgetvalue(res, r, PQfnumber(res, "conflicts"));
		const char *batch = PQgetvalue(res, r, PQfnumber(res, "batch_id"));

		if (atoll(conflicts) == 0)
			continue;
		if (force < 0)
			force = rollback_forced(conn, opts);
		if (force)
			ir_info("batch %s: %s record%s had later changes, restored over them (on_conflict force)",
					batch, conflicts, atoll(conflicts) == 1 ? "" : "s");
		else
			ir_info("batch %s: %s record%s kept later changes (conflicts); see \"%s rollback %s --preview --status conflict\"",
					batch, conflicts, atoll(conflicts) == 1 ? "" : "s", progname, batch);
	}
	PQclear(res);
	return EXIT_DONE;
}

static int
cmd_drill(PGconn *conn, const Options *opts)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;
	const char *exact;
	int			code = EXIT_DONE;

	v[0] = batch_text(opts);
	sql = ir_psprintf("SELECT d.*, pg_catalog.to_json(d) AS json FROM %s.ir_drill($1::pg_catalog.int8) d",
					  ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	if (opts->json)
		printf("%s\n", value_of(res, "json"));
	else
		show_table_but_json(conn, res);
	exact = value_of(res, "round_trip_exact");
	if (exact && strcmp(exact, "t") != 0)
	{
		ir_error("the drill of batch %lld did not restore the target exactly", opts->batch);
		code = EXIT_ERROR;
	}
	PQclear(res);
	return code;
}

static int
cmd_plan(PGconn *conn, const Options *opts)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;

	v[0] = batch_text(opts);
	sql = ir_psprintf(opts->json
					  ? "SELECT pg_catalog.to_json(p) FROM %s.ir_rollback_plan($1::pg_catalog.int8) p"
					  : "SELECT * FROM %s.ir_rollback_plan($1::pg_catalog.int8)",
					  ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	print_rows(conn, res, opts);
	return EXIT_DONE;
}

/* ------------------------------------------------------------------------
 * status, history, changes, cancel, purge
 */

static int
cmd_status(PGconn *conn, const Options *opts)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;

	v[0] = batch_text(opts);
	if (opts->json)
	{
		sql = ir_psprintf("SELECT pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('events',"
						  "  (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) ORDER BY e.event_id), '[]')"
						  "     FROM %s.ir_batch_events e WHERE e.batch_id OPERATOR(pg_catalog.=) b.batch_id))"
						  "  FROM %s.ir_batches b WHERE b.batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema, ir_schema);
		res = ir_query(conn, sql, 1, v);
		free(sql);
		if (PQntuples(res) == 0)
		{
			ir_error("batch %lld does not exist or is not visible to you", opts->batch);
			PQclear(res);
			return EXIT_ERROR;
		}
		ir_print_json(stdout, res, true);
		PQclear(res);
		return EXIT_DONE;
	}
	res = batch_row(conn, opts->batch, false);
	if (PQntuples(res) == 0)
	{
		ir_error("batch %lld does not exist or is not visible to you", opts->batch);
		PQclear(res);
		return EXIT_ERROR;
	}
	{
		PrintOpts	po = print_opts(conn, NULL, false);

		ir_print_record(stdout, res, 0, &po);
	}
	PQclear(res);
	sql = ir_psprintf("SELECT e.event_at, e.role_name AS role, e.from_state AS \"from\", e.to_state AS \"to\", e.detail"
					  "  FROM %s.ir_batch_events e WHERE e.batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
					  " ORDER BY e.event_id", ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	printf("\n");
	show_table(conn, res, "Events:", false);
	PQclear(res);
	return EXIT_DONE;
}

#define HISTORY_FILTER \
	" WHERE $1::pg_catalog.text IS NULL OR b.target OPERATOR(pg_catalog.=) COALESCE(" \
	"   (SELECT pg_catalog.format('%%I.%%I', n.nspname, c.relname)" \
	"      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n" \
	"        ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" \
	"     WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1::pg_catalog.text)), $1::pg_catalog.text)" \
	" ORDER BY b.batch_id DESC LIMIT $2::pg_catalog.int8"

static int
cmd_history(PGconn *conn, const Options *opts)
{
	char		lim[24];
	const char *v[2];
	char	   *sql;
	PGresult   *res;

	snprintf(lim, sizeof(lim), "%lld", opts->limit);
	v[0] = opts->target;
	v[1] = opts->limit > 0 ? lim : NULL;
	if (opts->html_file)
	{
		sql = ir_psprintf("SELECT b.batch_id, b.source_name, b.target, b.started_by,"
						  "       pg_catalog.to_char(b.started_at, 'YYYY-MM-DD HH24:MI TZ') AS started_at,"
						  "       b.rows_total, b.rows_valid, b.rows_rejected, b.inserted, b.updated, b.unchanged,"
						  "       b.state, b.safe_to_retry,"
						  "       CASE b.state WHEN 'failed' THEN b.last_error"
						  "        WHEN 'cancelled' THEN (SELECT e.detail FROM %s.ir_batch_events e"
						  "         WHERE e.batch_id OPERATOR(pg_catalog.=) b.batch_id"
						  "           AND e.to_state OPERATOR(pg_catalog.=) 'cancelled'"
						  "         ORDER BY e.event_id DESC LIMIT 1) END AS why,"
						  "       pg_catalog.to_char(b.rolled_back_at, 'YYYY-MM-DD HH24:MI TZ') AS rolled_back_at,"
						  "       b.source_bytes, b.source_sha256"
						  "  FROM %s.ir_batches b" HISTORY_FILTER, ir_schema, ir_schema);
		res = ir_query(conn, sql, 2, v);
		free(sql);
		ir_write_html(conn, opts->html_file, res, opts->target);
		PQclear(res);
		return EXIT_DONE;
	}
	if (opts->json)
		sql = ir_psprintf("SELECT pg_catalog.to_json(b) FROM %s.ir_batches b" HISTORY_FILTER, ir_schema);
	else
		sql = ir_psprintf("SELECT b.batch_id AS batch, b.source_name AS file, b.target, b.state,"
						  "       b.started_by AS \"by\","
						  "       pg_catalog.to_char(b.started_at, 'YYYY-MM-DD HH24:MI') AS started,"
						  "       b.rows_total AS rows, b.rows_rejected AS rejected,"
						  "       b.inserted, b.updated, b.unchanged,"
						  "       CASE WHEN b.safe_to_retry THEN 'yes' ELSE 'no' END AS retry"
						  "  FROM %s.ir_batches b" HISTORY_FILTER, ir_schema);
	res = ir_query(conn, sql, 2, v);
	free(sql);
	print_rows(conn, res, opts);
	return EXIT_DONE;
}

static int
cmd_changes(PGconn *conn, const Options *opts)
{
	char		lim[24];
	const char *v[3];
	char	   *sql;
	PGresult   *res;
	const char *fn = opts->record_key
		? "%s.ir_changes($1::pg_catalog.int8, $3::pg_catalog.jsonb)"
		: "%s.ir_changes($1::pg_catalog.int8)";
	char	   *from = ir_psprintf(fn, ir_schema);

	snprintf(lim, sizeof(lim), "%lld", opts->limit);
	v[0] = batch_text(opts);
	v[1] = opts->limit > 0 ? lim : NULL;
	v[2] = opts->record_key;
	if (opts->json)
		sql = ir_psprintf("SELECT pg_catalog.to_json(c) FROM %s c ORDER BY c.change_id LIMIT $2::pg_catalog.int8",
						  from);
	else
		sql = ir_psprintf("SELECT c.change_id AS change, c.row_no AS row, c.action,"
						  "       CAST(c.record_key AS pg_catalog.text) AS record,"
						  "       pg_catalog.string_agg(k.key, E'\\n' ORDER BY k.key) AS column,"
						  "       pg_catalog.string_agg(" DISP("c.old_values OPERATOR(pg_catalog.->) k.key")
						  ", E'\\n' ORDER BY k.key) AS old,"
						  "       pg_catalog.string_agg(" DISP("c.new_values OPERATOR(pg_catalog.->) k.key")
						  ", E'\\n' ORDER BY k.key) AS new"
						  "  FROM %s c LEFT JOIN LATERAL pg_catalog.jsonb_object_keys("
						  "       COALESCE(c.old_values, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||)"
						  "       COALESCE(c.new_values, '{}'::pg_catalog.jsonb)) k(key) ON true"
						  " GROUP BY c.change_id, c.row_no, c.action, c.record_key"
						  " ORDER BY c.change_id LIMIT $2::pg_catalog.int8", from);
	free(from);
	/* $3 is only in the statement with --record-key */
	res = ir_query(conn, sql, opts->record_key ? 3 : 2, v);
	free(sql);
	if (opts->json)
		ir_print_json(stdout, res, false);
	else
		show_blocks(conn, res, NULL);
	PQclear(res);
	return EXIT_DONE;
}

static int
cmd_cancel(PGconn *conn, const Options *opts)
{
	const char *v[2];
	char	   *sql;
	PGresult   *res;

	v[0] = batch_text(opts);
	v[1] = opts->reason;
	sql = ir_psprintf("SELECT %s.ir_cancel($1::pg_catalog.int8, $2::pg_catalog.text)", ir_schema);
	PQclear(ir_query(conn, sql, 2, v));
	free(sql);
	res = batch_row(conn, opts->batch, opts->json);
	if (opts->json)
		ir_print_json(stdout, res, true);
	else
		printf("batch %lld %s\n", opts->batch, value_of(res, "state") ? value_of(res, "state") : "cancelled");
	PQclear(res);
	return EXIT_DONE;
}

static int
cmd_purge(PGconn *conn, const Options *opts)
{
	const char *v[3];
	char	   *sql;
	PGresult   *res;
	char		flags[64];

	check_options_json(conn, opts);
	snprintf(flags, sizeof(flags), "{%s%s%s}",
			 opts->applied ? "\"applied\": true" : "",
			 opts->applied && opts->dry_run ? ", " : "",
			 opts->dry_run ? "\"dry_run\": true" : "");
	v[0] = opts->older_than;
	v[1] = opts->options_json ? opts->options_json : "{}";
	v[2] = flags;
	sql = ir_psprintf(opts->json
					  ? "SELECT pg_catalog.to_json(p) FROM %s.ir_purge($1::pg_catalog.interval,"
					  " $2::pg_catalog.jsonb OPERATOR(pg_catalog.||) $3::pg_catalog.jsonb) p"
					  : "SELECT * FROM %s.ir_purge($1::pg_catalog.interval,"
					  " $2::pg_catalog.jsonb OPERATOR(pg_catalog.||) $3::pg_catalog.jsonb)",
					  ir_schema);
	res = ir_query(conn, sql, 3, v);
	free(sql);
	print_rows(conn, res, opts);
	return EXIT_DONE;
}

/* ------------------------------------------------------------------------
 * import: stage, validate, review, confirm, apply
 */

/*
 * A run after ir_run_apply: 0 when it was applied, else 5 (a guard
 * tripped: the run and every member failed by it) or 1, with why (the
 * run's last_error, malloc'd) set.
 */
static int
run_verdict(PGconn *conn, const char *run, char **why)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;
	const char *state;
	const char *err;
	int			code = EXIT_DONE;

	v[0] = run;
	sql = ir_psprintf("SELECT r.state, r.last_error FROM %s.ir_runs r"
					  " WHERE r.run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	state = value_of(res, "state");
	err = value_of(res, "last_error");
	*why = NULL;
	if (state == NULL || strcmp(state, "applied") != 0)
	{
		code = state && strcmp(state, "failed") == 0 && err && strncmp(err, "guard ", 6) == 0
			? EXIT_GUARD : EXIT_ERROR;
		*why = ir_strdup(err ? err : state ? state : "it is not visible to you");
	}
	PQclear(res);
	return code;
}

/*
 * Apply the run the imported batch joined (--run) with ir_run_apply:
 * every member in one transaction, parents first.  Its rows are shown
 * (or returned as a JSON array in *json) under title when the run was
 * applied, under not_applied when it failed.
 */
static int
do_run_apply(PGconn *conn, const Options *opts, const char *title, const char *not_applied,
			 char **json)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;
	char	   *why;
	int			code;

	v[0] = opts->run_id;
	sql = ir_psprintf(json
					  ? "SELECT COALESCE(pg_catalog.json_agg(a), '[]') FROM %s.ir_run_apply($1::pg_catalog.int8) a"
					  : "SELECT * FROM %s.ir_run_apply($1::pg_catalog.int8)",
					  ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	code = run_verdict(conn, opts->run_id, &why);
	if (json)
		*json = ir_strdup(PQgetvalue(res, 0, 0));
	else
		show_table(conn, res, code == EXIT_DONE ? title : not_applied, false);
	PQclear(res);
	if (code != EXIT_DONE)
		ir_error("run %s was not applied: %s", opts->run_id, why);
	free(why);
	return code;
}

/* "run R ("name", N batches)" of the run the imported batch joined */
static char *
run_label(PGconn *conn, const char *run)
{
	const char *v[1];
	char	   *sql;
	PGresult   *res;
	char	   *label;

	v[0] = run;
	sql = ir_psprintf("SELECT r.name, r.batches FROM %s.ir_runs r"
					  " WHERE r.run_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema);
	res = ir_query(conn, sql, 1, v);
	free(sql);
	if (PQntuples(res) == 1)
		label = ir_psprintf("run %s (\"%s\", %s batch%s)", run, PQgetvalue(res, 0, 0),
							PQgetvalue(res, 0, 1), strcmp(PQgetvalue(res, 0, 1), "1") == 0 ? "" : "es");
	else
		label = ir_psprintf("run %s", run);
	PQclear(res);
	return label;
}

/* one json value made by the server from a query's single row */
static char *
json_value(PGconn *conn, const char *sql, int n, const char *const *v)
{
	PGresult   *res = ir_query(conn, sql, n, v);
	char	   *out = ir_strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "null");

	PQclear(res);
	return out;
}

static bool
confirm(const char *question)
{
	char	   *answer;
	bool		yes;

	answer = ir_prompt(question, true);
	yes = !ir_interrupted && (strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 ||
							  strcmp(answer, "yes") == 0 || strcmp(answer, "YES") == 0);
	free(answer);
	return yes;
}

static int
cmd_import(PGconn *conn, const Options *opts, StageInput *in)
{
	Options		o = *opts;
	PGresult   *res;
	PGresult   *val;
	PGresult   *pre;
	const char *v[1];
	char	   *sql;
	long long	inserts = 0,
				unchanged = 0,
				valid,
				updates;
	const char *target;
	char	   *target_copy;
	char	   *run = NULL;		/* --run: the run's label */
	int			code;

	check_options_json(conn, opts);
	o.batch = ir_stage_input(conn, opts, in);
	v[0] = batch_text(&o);

	/* staged */
	res = batch_row(conn, o.batch, false);
	target_copy = ir_strdup(value_of(res, "target") ? value_of(res, "target") : opts->target);
	target = target_copy;
	if (strcmp(value_of(res, "state"), "failed") == 0)
	{
		if (o.json)
		{
			PGresult   *doc = batch_row(conn, o.batch, true);

			printf("{\"batch_id\": %lld, \"staged\": %s, \"validation\": null, \"rejects_by_reason\": null,"
				   " \"sample\": null, \"preview\": null, \"applied\": null}\n",
				   o.batch, PQgetvalue(doc, 0, 0));
			PQclear(doc);
		}
		ir_error("batch %lld failed: %s", o.batch,
				 value_of(res, "last_error") ? value_of(res, "last_error") : "(no reason recorded)");
		PQclear(res);
		free(target_copy);
		return EXIT_ERROR;
	}
	if (!o.json)
		printf("Batch %lld: \"%s\" staged into %s: %s rows, %s malformed\n",
			   o.batch, value_of(res, "source_name"), target,
			   value_of(res, "rows_total"), value_of(res, "rows_rejected"));
	PQclear(res);

	/* validated (with the options given at staging: nothing to correct) */
	o.options_json = NULL;
	memset(&o.map_from, 0, sizeof(StrList));
	memset(&o.map_to, 0, sizeof(StrList));
	memset(&o.keys, 0, sizeof(StrList));
	o.mode = NULL;
	val = run_validate(conn, &o, true);
	valid = value_of(val, "rows_valid") ? atoll(value_of(val, "rows_valid")) : 0;

	if (o.json)
	{
		char	   *staged,
				   *reasons,
				   *sample = NULL,
				   *preview = NULL,
				   *applied = NULL;
		const char *sv[2];

		sql = ir_psprintf("SELECT pg_catalog.to_json(b) FROM %s.ir_batches b"
						  " WHERE b.batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema);
		staged = json_value(conn, sql, 1, v);
		free(sql);
		sql = ir_psprintf("SELECT COALESCE(pg_catalog.json_agg(t), '[]') FROM ("
						  "SELECT pg_catalog.count(DISTINCT r.row_no) AS rows, pg_catalog.min(r.row_no) AS first_row,"
						  "       " REASON_KIND("e.reason") " AS reason, pg_catalog.min(e.reason) AS example"
						  "  FROM %s.ir_rejects($1::pg_catalog.int8) r, pg_catalog.unnest(r.errors) e(reason)"
						  " GROUP BY 3 ORDER BY 1 DESC, 3 LIMIT 10) t", ir_schema);
		reasons = json_value(conn, sql, 1, v);
		free(sql);
		code = stopped(val, o.batch);
		if (code == EXIT_DONE)
		{
			const char *av[1];

			sv[0] = v[0];
			sv[1] = "3";
			sql = ir_psprintf("SELECT COALESCE(pg_catalog.json_agg(s), '[]')"
							  "  FROM %s.ir_sample($1::pg_catalog.int8, $2::pg_catalog.int4) s", ir_schema);
			sample = json_value(conn, sql, 2, sv);
			free(sql);
			sql = ir_psprintf("SELECT COALESCE(pg_catalog.json_agg(p), '[]')"
							  "  FROM %s.ir_preview($1::pg_catalog.int8) p", ir_schema);
			preview = json_value(conn, sql, 1, v);
			free(sql);
			/* --json goes with --yes (main.c): the review is in the document */
			if (o.run_id)
				code = do_run_apply(conn, &o, NULL, NULL, &applied);
			else
			{
				av[0] = v[0];
				sql = ir_psprintf("SELECT pg_catalog.to_json(a) FROM %s.ir_apply($1::pg_catalog.int8) a",
								  ir_schema);
				applied = json_value(conn, sql, 1, av);
				free(sql);
				code = apply_outcome(conn, o.batch);
			}
		}
		printf("{\"batch_id\": %lld, \"staged\": %s, \"validation\": %s, \"rejects_by_reason\": %s,"
			   " \"sample\": %s, \"preview\": %s, \"applied\": %s}\n",
			   o.batch, staged, value_of(val, "json"), reasons,
			   sample ? sample : "null", preview ? preview : "null", applied ? applied : "null");
		PQclear(val);
		free(target_copy);
		return code;
	}

	printf("Validated: %s rows, %s valid, %s rejected\n",
		   value_of(val, "rows_total"), value_of(val, "rows_valid"), value_of(val, "rows_rejected"));
	if (atoll(value_of(val, "rows_rejected")) > 0)
	{
		printf("\n");
		show_reject_reasons(conn, &o, "Rejected rows by reason (\"import_rollback rejects BATCH\" lists them all):", 10);
	}
	code = stopped(val, o.batch);
	PQclear(val);
	if (code != EXIT_DONE)
	{
		printf("\nStopped: nothing was applied.  Correct the mapping or the rules and run\n"
			   "\"%s validate %lld --options ...\" to validate the batch again.\n", progname, o.batch);
		free(target_copy);
		return code;
	}

	printf("\n");
	show_sample(conn, &o, 3, "Sample, spread over the file (incoming beside live values, * where an update changes one):");

	pre = preview_rows(conn, &o);
	for (int r = 0; r < PQntuples(pre); r++)
	{
		if (strcmp(PQgetvalue(pre, r, 0), "(insert)") == 0)
			inserts = atoll(PQgetvalue(pre, r, 1));
		else if (strcmp(PQgetvalue(pre, r, 0), "(unchanged)") == 0)
			unchanged = atoll(PQgetvalue(pre, r, 1));
	}
	updates = valid - inserts - unchanged;
	printf("\n");
	show_table(conn, pre, "Changes by column:", false);
	PQclear(pre);
	printf("\nApplying would insert %lld, update %lld and leave %lld records unchanged in %s.\n",
		   inserts, updates, unchanged, target);
	fflush(stdout);

	if (o.run_id)
	{
		run = run_label(conn, o.run_id);
		printf("Batch %lld is a member of %s: it is applied with its run, every batch of it\n"
			   "in one transaction, parents first.\n", o.batch, run);
		fflush(stdout);
	}

	if (!o.yes)
	{
		char	   *q = run
			? ir_psprintf("Apply %s? [y/N] ", run)
			: ir_psprintf("Apply batch %lld to %s? [y/N] ", o.batch, target);
		bool		yes = confirm(q);

		free(q);
		if (!yes)
		{
			if (ir_interrupted)
			{
				ir_error("canceled: batch %lld stays validated", o.batch);
				free(run);
				free(target_copy);
				return EXIT_ERROR;
			}
			if (run)
				printf("Not applied: batch %lld stays validated in run %s.  Apply the run with"
					   " ir_run_apply(%s).\n", o.batch, o.run_id, o.run_id);
			else
				printf("Not applied: batch %lld stays validated.  Apply it with \"%s apply %lld\","
					   " or discard it with \"%s cancel %lld --reason TEXT\".\n",
					   o.batch, progname, o.batch, progname, o.batch);
			free(run);
			free(target_copy);
			return EXIT_DONE;
		}
	}
	printf("\n");
	if (run)
	{
		char	   *title = ir_psprintf("Applied run %s:", o.run_id);

		code = do_run_apply(conn, &o, title, "Not applied:", NULL);
		free(title);
		if (code == EXIT_DONE)
			printf("Run %s applied.  Undo it with \"%s rollback %lld --cascade\" (the whole run, and any\n"
				   "later batch that wrote its fields), or ir_run_rollback(%s).\n",
				   o.run_id, progname, o.batch, o.run_id);
		else if (code == EXIT_GUARD)
			printf("\nStopped by a guard: everything run %s wrote was undone, and the run and every\n"
				   "batch of it are failed.  Validate its batches again (\"%s validate BATCH\",\n"
				   "with corrected guards in --options if need be), then apply the run with\n"
				   "ir_run_apply(%s).\n", o.run_id, progname, o.run_id);
		free(run);
		free(target_copy);
		return code;
	}
	code = do_apply(conn, &o, true, "Applied:", "Not applied:");
	if (code == EXIT_DONE)
		printf("Batch %lld applied.  Undo it with \"%s rollback %lld\".\n", o.batch, progname, o.batch);
	else if (code == EXIT_GUARD)
		printf("\nStopped by a guard: everything batch %lld wrote was undone and the batch is failed.\n"
			   "Stage a corrected file, or correct the guard with\n"
			   "\"%s validate %lld --options '{\"guards\": ...}'\" and apply it with \"%s apply %lld\".\n",
			   o.batch, progname, o.batch, progname, o.batch);
	free(target_copy);
	return code;
}

/* ------------------------------------------------------------------------
 * dispatch
 */

/* JSON and the HTML report need UTF-8 from the server */
bool
ir_command_wants_utf8(const Options *opts)
{
	return opts->json || opts->html_file != NULL;
}

/*
 * Open the input (before connecting: a missing file needs no server),
 * connect, run the subcommand, disconnect; the exit status.
 */
int
ir_run_command(const Options *opts)
{
	PGconn	   *conn;
	StageInput	in;
	int			code;
	const char *c = opts->command;
	bool		staging = strcmp(c, "stage") == 0 || strcmp(c, "import") == 0;

	if (staging)
		ir_open_input(&in, opts->file);
	conn = ir_connect(opts, ir_command_wants_utf8(opts));
	if (strcmp(c, "stage") == 0)
		code = cmd_stage(conn, opts, &in);
	else if (strcmp(c, "import") == 0)
		code = cmd_import(conn, opts, &in);
	else if (strcmp(c, "validate") == 0)
		code = cmd_validate(conn, opts);
	else if (strcmp(c, "rejects") == 0)
		code = cmd_rejects(conn, opts);
	else if (strcmp(c, "sample") == 0)
		code = cmd_sample(conn, opts);
	else if (strcmp(c, "preview") == 0)
		code = cmd_preview(conn, opts);
	else if (strcmp(c, "apply") == 0)
		code = cmd_apply(conn, opts);
	else if (strcmp(c, "rollback") == 0)
		code = cmd_rollback(conn, opts);
	else if (strcmp(c, "drill") == 0)
		code = cmd_drill(conn, opts);
	else if (strcmp(c, "plan") == 0)
		code = cmd_plan(conn, opts);
	else if (strcmp(c, "status") == 0)
		code = cmd_status(conn, opts);
	else if (strcmp(c, "history") == 0)
		code = cmd_history(conn, opts);
	else if (strcmp(c, "changes") == 0)
		code = cmd_changes(conn, opts);
	else if (strcmp(c, "cancel") == 0)
		code = cmd_cancel(conn, opts);
	else if (strcmp(c, "purge") == 0)
		code = cmd_purge(conn, opts);
	else
		ir_fatal("unknown subcommand \"%s\"", c);	/* main checked it */
	fflush(stdout);
	ir_disconnect(conn);
	return code;
}
