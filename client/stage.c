/*-------------------------------------------------------------------------
 *
 * stage.c
 *	  stage: a file of any size, streamed into a new large object and
 *	  staged from it by ir_stage_large_object(), in one transaction.
 *
 *	  The file is read CHUNK bytes at a time and each chunk written with
 *	  lo_write(), so the client holds one chunk whatever the file's size.
 *	  The server reads the large object through COPY's parser (bad rows
 *	  kept as rejects), hashes it, and unlinks it once the batch is
 *	  staged; when the file could not be read to its end (the batch
 *	  failed) the client unlinks it: the file is still on its disk.
 *	  Nothing is committed before ir_stage_large_object()
 *	  returns: an error, a cancel (Ctrl-C) or a lost connection leaves no
 *	  batch and no large object behind.
 *
 *	  Progress (-P) goes to standard error at most once a second, like
 *	  pg_basebackup -P: the upload (kB sent of the file's size, %, rate),
 *	  then the server's reading of the large object (bytes_processed of
 *	  its COPY, from pg_stat_progress_copy over a second connection), then
 *	  the rows staged.  On a terminal each update overwrites the last
 *	  ("\r"); otherwise each is a line of its own.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpq/libpq-fs.h"

#include "client.h"

/* bytes per lo_write(): one round trip each; the client's only buffer */
#define CHUNK	(1024 * 1024)

typedef struct Progress
{
	bool		on;
	bool		tty;
	double		start;			/* of the upload */
	double		server_start;	/* of ir_stage_large_object() */
	double		last;			/* last update printed */
	long long	total;			/* file size, -1 unknown */
	long long	sent;
	int			width;			/* of the last line, to blank it on a tty */
	PGconn	   *conn;			/* the staging connection */
	PGconn	   *watch;			/* second connection, for the server's progress */
	bool		watch_failed;
	bool		copy_seen;		/* the server's COPY progress was seen */
} Progress;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* one progress update: overwrite the last on a tty, else a new line */
static void
show(Progress *pr, const char *line, bool final)
{
	int			len = (int) strlen(line);

	if (pr->tty)
	{
		/* a message printed since ended the last line: start afresh */
		if (!ir_progress_open)
			pr->width = 0;
		fprintf(stderr, "\r%s", line);
		if (len < pr->width)
			fprintf(stderr, "%*s", pr->width - len, "");
		fputs(final ? "\n" : "", stderr);
		ir_progress_open = !final;
	}
	else
		fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pr->width = len;
	pr->last = now();
}

static void
show_upload(Progress *pr, bool force)
{
	double		t = now();
	double		elapsed = t - pr->start;
	double		rate = elapsed > 0 ? pr->sent / elapsed / (1024.0 * 1024.0) : 0;
	char		line[200];

	if (!pr->on || (!force && t - pr->last < 1.0))
		return;
	if (pr->total >= 0)
		snprintf(line, sizeof(line), "uploading: %lld/%lld kB (%d%%), %.1f MB/s",
				 pr->sent / 1024, pr->total / 1024,
				 pr->total > 0 ? (int) (pr->sent * 100 / pr->total) : 100, rate);
	else
		snprintf(line, sizeof(line), "uploading: %lld kB, %.1f MB/s", pr->sent / 1024, rate);
	show(pr, line, false);
}

/*
 * A second connection, made with the first one's effective parameters
 * (its password included, so nothing is asked again), to read
 * pg_stat_progress_copy while the first one is busy.
 */
static PGconn *
watch_connection(PGconn *conn)
{
	PQconninfoOption *info = PQconninfo(conn);
	const char **keywords;
	const char **values;
	int			n = 0;
	PGconn	   *watch;

	if (info == NULL)
		return NULL;
	for (PQconninfoOption *o = info; o->keyword; o++)
		n++;
	keywords = ir_malloc(sizeof(char *) * (n + 2));
	values = ir_malloc(sizeof(char *) * (n + 2));
	n = 0;
	for (PQconninfoOption *o = info; o->keyword; o++)
	{
		if (o->val == NULL || strcmp(o->keyword, "application_name") == 0)
			continue;
		keywords[n] = o->keyword;
		values[n++] = o->val;
	}
	keywords[n] = "application_name";
	values[n++] = "import_rollback progress";
	keywords[n] = NULL;
	values[n] = NULL;
	watch = PQconnectdbParams(keywords, values, 0);
	free(keywords);
	free(values);
	PQconninfoFree(info);
	if (watch && PQstatus(watch) != CONNECTION_OK)
	{
		PQfinish(watch);
		watch = NULL;
	}
	return watch;
}

/* called about once a second while ir_stage_large_object() runs */
static void
show_server(void *arg)
{
	Progress   *pr = arg;
	double		elapsed = now() - pr->server_start;
	long long	done = -1;
	char		line[200];

	if (!pr->on)
		return;
	if (pr->watch == NULL && !pr->watch_failed)
	{
		pr->watch = watch_connection(pr->conn);
		pr->watch_failed = pr->watch == NULL;
	}
	if (pr->watch)
	{
		char		pid[16];
		const char *values[1];
		PGresult   *res;

		snprintf(pid, sizeof(pid), "%d", PQbackendPID(pr->conn));
		values[0] = pid;
		res = PQexecParams(pr->watch,
						   "SELECT bytes_processed FROM pg_catalog.pg_stat_progress_copy"
						   " WHERE pid OPERATOR(pg_catalog.=) $1::pg_catalog.int4",
						   1, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			done = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (done >= 0 && pr->sent > 0)
	{
		pr->copy_seen = true;
		snprintf(line, sizeof(line), "staging: %lld/%lld kB (%d%%) read by the server, %.0f s",
				 done / 1024, pr->sent / 1024,
				 (int) (done * 100 / pr->sent), elapsed);
	}
	else if (pr->copy_seen)
		snprintf(line, sizeof(line), "staging: file read, the server is finishing the batch, %.0f s", elapsed);
	else
		snprintf(line, sizeof(line), "staging: the server is reading the file, %.0f s", elapsed);
	show(pr, line, false);
}

void
ir_open_input(StageInput *in, const char *path)
{
	struct stat st;

	in->path = path;
	if (strcmp(path, "-") == 0)
		in->fd = STDIN_FILENO;
	else if ((in->fd = open(path, O_RDONLY)) < 0)
		ir_fatal("could not open file \"%s\" for reading: %s", path, strerror(errno));
	if (fstat(in->fd, &st) < 0)
		ir_fatal("could not stat file \"%s\": %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		ir_fatal("could not read file \"%s\": %s", path, strerror(EISDIR));
	in->size = S_ISREG(st.st_mode) ? (long long) st.st_size : -1;
}

static IR_NORETURN void
die_lo(PGconn *conn, const char *what)
{
	ir_error("%s failed", what);
	ir_die_on(conn, NULL);
}

static const char *
source_name_of(const Options *opts, const char *path)
{
	const char *slash;

	if (opts->source_name)
		return opts->source_name;
	if (strcmp(path, "-") == 0)
		return "stdin";
	slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/*
 * Stream the input into a large object and stage it into opts->target
 * with the options the command line gives; commit.  Returns the batch
 * id.  Ends the program on any error (nothing is then left behind).
 */
long long
ir_stage_input(PGconn *conn, const Options *opts, StageInput *in)
{
	Progress	pr;
	Oid			loid;
	int			lofd;
	char	   *buf;
	char		loid_text[16];
	char	   *sql;
	char	   *mapfrom = ir_array_literal(&opts->map_from);
	char	   *mapto = ir_array_literal(&opts->map_to);
	char	   *keys = ir_array_literal(&opts->keys);
	const char *values[9];
	PGresult   *res;
	long long	batch;

	memset(&pr, 0, sizeof(pr));
	pr.on = opts->progress;
	pr.tty = isatty(STDERR_FILENO);
	pr.total = in->size;
	pr.conn = conn;
	pr.start = pr.last = now();

	ir_command(conn, "BEGIN");
	loid = lo_creat(conn, INV_READ | INV_WRITE);
	if (loid == InvalidOid)
		die_lo(conn, "lo_creat");
	lofd = lo_open(conn, loid, INV_WRITE);
	if (lofd < 0)
		die_lo(conn, "lo_open");

	buf = ir_malloc(CHUNK);
	for (;;)
	{
		ssize_t		n = read(in->fd, buf, CHUNK);

		if (ir_interrupted)
		{
			PQclear(PQexec(conn, "ROLLBACK"));
			ir_disconnect(conn);
			ir_fatal("canceled: nothing was staged");
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ir_fatal("could not read file \"%s\": %s", in->path, strerror(errno));
		if (n == 0)
			break;
		if (lo_write(conn, lofd, buf, (size_t) n) != (int) n)
			die_lo(conn, "lo_write");
		pr.sent += n;
		show_upload(&pr, false);
	}
	free(buf);
	if (lo_close(conn, lofd) < 0)
		die_lo(conn, "lo_close");
	show_upload(&pr, true);

	snprintf(loid_text, sizeof(loid_text), "%u", loid);
	values[0] = opts->target;
	values[1] = source_name_of(opts, in->path);
	values[2] = loid_text;
	values[3] = opts->options_json ? opts->options_json : "{}";
	values[4] = mapfrom;
	values[5] = mapto;
	values[6] = keys;
	values[7] = opts->mode;
	values[8] = opts->run_id;
	sql = ir_psprintf("SELECT %s.ir_stage_large_object($1::pg_catalog.regclass, $2,"
					  " $3::pg_catalog.oid, %s)",
					  ir_schema, "$4::pg_catalog.jsonb"
					  " OPERATOR(pg_catalog.||) CASE WHEN $5::pg_catalog.text[] IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('mapping',"
					  "   COALESCE($4::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'mapping', '{}'::pg_catalog.jsonb)"
					  "   OPERATOR(pg_catalog.||) pg_catalog.jsonb_object($5::pg_catalog.text[], $6::pg_catalog.text[])) END"
					  " OPERATOR(pg_catalog.||) CASE WHEN $7::pg_catalog.text[] IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('key', pg_catalog.to_jsonb($7::pg_catalog.text[])) END"
					  " OPERATOR(pg_catalog.||) CASE WHEN $8::pg_catalog.text IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('mode', $8::pg_catalog.text) END"
					  " OPERATOR(pg_catalog.||) CASE WHEN $9::pg_catalog.int8 IS NULL THEN '{}'::pg_catalog.jsonb"
					  "  ELSE pg_catalog.jsonb_build_object('run', $9::pg_catalog.int8) END");
	pr.server_start = now();
	res = ir_run(conn, sql, 9, values, show_server, &pr);
	free(sql);
	free(mapfrom);
	free(mapto);
	free(keys);
	if (pr.watch)
		PQfinish(pr.watch);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		ir_die_on(conn, res);
	batch = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);

	/*
	 * A batch that failed keeps its large object (the server's rule: the
	 * rest of the file is only there).  Here the file is on the client's
	 * disk, so the upload goes too, unless the options say "unlink": false.
	 */
	{
		const char *uv[2];

		uv[0] = loid_text;
		uv[1] = opts->options_json ? opts->options_json : "{}";
		PQclear(ir_query(conn,
						 "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m"
						 " WHERE m.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
						 "   AND COALESCE(CAST($2::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'unlink'"
						 "                AS pg_catalog.bool), true)",
						 2, uv));
	}
	ir_command(conn, "COMMIT");

	if (pr.on)
	{
		char		id[24];
		const char *v[1];
		char		line[300];

		snprintf(id, sizeof(id), "%lld", batch);
		v[0] = id;
		sql = ir_psprintf("SELECT state, rows_total, rows_rejected FROM %s.ir_batches"
						  " WHERE batch_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8", ir_schema);
		res = ir_query(conn, sql, 1, v);
		free(sql);
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "failed") != 0)
			snprintf(line, sizeof(line), "staged: %s rows (%s malformed), %lld kB in %.1f s",
					 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), pr.sent / 1024, now() - pr.start);
		else
			snprintf(line, sizeof(line), "staging failed: %s rows read, %lld kB in %.1f s",
					 PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "0", pr.sent / 1024, now() - pr.start);
		PQclear(res);
		show(&pr, line, true);
	}
	return batch;
}
