/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  The connection and everything said over it: connecting (conninfo,
 *	  PG* variables, .pgpass and service files through libpq, a password
 *	  prompted for only on the terminal), running one statement at a time
 *	  so that Ctrl-C can cancel it (PQcancel from the signal handler) and a
 *	  caller can show progress while it runs, and printing what the server
 *	  says the way psql does: "ERROR:  message", then DETAIL and HINT.
 *
 *	  A statement the server refuses ends the program with the exit
 *	  status its SQLSTATE calls for (ir_die_on): IR001 (rollback
 *	  conflicts) 4, IR003 (a guard tripped) 5, anything else 1.  Nothing
 *	  the server did is undone by the client: a cancelled or failed
 *	  statement rolls back its own transaction, so the batch stays as it
 *	  was.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"

volatile sig_atomic_t ir_interrupted = 0;
bool		ir_progress_open = false;
const char *ir_schema = NULL;

/* the cancel handle of the one connection; used by the signal handler */
static PGcancel *volatile cancel_handle = NULL;

static void
write_stderr_safe(const char *s)
{
	ssize_t		rc = write(STDERR_FILENO, s, strlen(s));

	(void) rc;
}

/*
 * SIGINT: ask the server to cancel whatever runs on our connection (an
 * idle backend ignores the request) and note that the user wants out.
 * PQcancel is safe in a signal handler; so is write().
 */
static void
handle_sigint(int signo)
{
	int			save_errno = errno;
	char		errbuf[256];

	(void) signo;
	ir_interrupted = 1;
	if (cancel_handle != NULL)
	{
		if (ir_progress_open)
		{
			write_stderr_safe("\n");
			ir_progress_open = false;
		}
		write_stderr_safe(progname);
		if (PQcancel(cancel_handle, errbuf, sizeof(errbuf)))
			write_stderr_safe(": cancel request sent\n");
		else
		{
			write_stderr_safe(": could not send cancel request: ");
			write_stderr_safe(errbuf);
			write_stderr_safe("\n");
		}
	}
	errno = save_errno;
}

static void
install_sigint(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_sigint;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a prompt's read returns, select() wakes up */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
}

/* a message must not land at the end of a progress line that "\r" keeps open */
static void
end_progress_line(void)
{
	if (ir_progress_open)
	{
		fputc('\n', stderr);
		ir_progress_open = false;
	}
}

/* NOTICE, WARNING and the like, prefixed with the program's name */
static void
notice_processor(void *arg, const char *message)
{
	(void) arg;
	fflush(stdout);
	end_progress_line();
	fprintf(stderr, "%s: %s", progname, message);
}

/* Can a password be asked for?  Only on a terminal. */
static bool
can_prompt(void)
{
	FILE	   *tty = fopen("/dev/tty", "r");

	if (tty != NULL)
	{
		fclose(tty);
		return true;
	}
	return isatty(STDIN_FILENO);
}

/*
 * Ask on the terminal (/dev/tty, else standard input and error); without
 * echo for a password.  The answer, without its newline, is malloc'd; an
 * interrupted or ended input gives "".
 */
char *
ir_prompt(const char *prompt, bool echo)
{
	FILE	   *in = fopen("/dev/tty", "r");
	FILE	   *out = in ? fopen("/dev/tty", "w") : NULL;
	struct termios t_orig,
				t;
	bool		noecho = false;
	char		buf[1024];
	size_t		len;

	if (in == NULL || out == NULL)
	{
		if (in)
			fclose(in);
		in = stdin;
		out = stderr;
	}
	if (!echo && isatty(fileno(in)) && tcgetattr(fileno(in), &t_orig) == 0)
	{
		t = t_orig;
		t.c_lflag &= ~ECHO;
		noecho = tcsetattr(fileno(in), TCSAFLUSH, &t) == 0;
	}
	fputs(prompt, out);
	fflush(out);
	if (fgets(buf, sizeof(buf), in) == NULL)
		buf[0] = '\0';
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (noecho)
	{
		tcsetattr(fileno(in), TCSAFLUSH, &t_orig);
		fputs("\n", out);
		fflush(out);
	}
	if (in != stdin)
	{
		fclose(in);
		fclose(out);
	}
	return ir_strdup(buf);
}

static void
forget_password(char *password)
{
	if (password)
	{
		/* volatile: the wipe must not be optimised away */
		volatile char *p = password;

		while (*p)
			*p++ = '\0';
		free(password);
	}
}

/* Find the extension's schema; end the program if it is not installed. */
static void
find_extension(PGconn *conn)
{
	PGresult   *res;
	char	   *quoted;
	const char *version;

	res = ir_query(conn,
				   "SELECT n.nspname, e.extversion"
				   "  FROM pg_catalog.pg_extension e"
				   "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
				   " WHERE e.extname OPERATOR(pg_catalog.=) 'import_rollback'",
				   0, NULL);
	if (PQntuples(res) != 1)
	{
		ir_error("extension \"import_rollback\" is not installed in database \"%s\"",
				 PQdb(conn));
		fprintf(stderr, "HINT:  Run CREATE EXTENSION import_rollback; in it first.\n");
		PQclear(res);
		ir_disconnect(conn);
		exit(EXIT_ERROR);
	}
	quoted = PQescapeIdentifier(conn, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
	if (quoted == NULL)
		ir_fatal("%s", PQerrorMessage(conn));
	ir_schema = ir_strdup(quoted);
	PQfreemem(quoted);
	version = PQgetvalue(res, 0, 1);
	if (strcmp(version, IR_VERSION) != 0)
		fprintf(stderr, "%s: warning: the extension in database \"%s\" is version %s, this client %s%s\n",
				progname, PQdb(conn), version, IR_VERSION,
				strcmp(version, IR_VERSION) < 0 ? " (ALTER EXTENSION import_rollback UPDATE;)" : "");
	PQclear(res);
}

/*
 * Connect as the options say: -d may be a conninfo string or URI
 * (expand_dbname), anything not given comes from PG* variables, the
 * service file and libpq's defaults; a password from PGPASSWORD or
 * .pgpass, else prompted for on the terminal when the server asks for
 * one (never with -w; always first with -W).  utf8 makes the client
 * encoding UTF8 (JSON and HTML output), else it follows the locale as
 * psql's does.
 */
PGconn *
ir_connect(const Options *opts, bool utf8)
{
	PGconn	   *conn;
	char	   *password = NULL;
	bool		again;

	if (opts->prompt_password == 1)
		password = ir_prompt("Password: ", false);
	do
	{
		const char *keywords[8];
		const char *values[8];
		int			i = 0;

		keywords[i] = "host";
		values[i++] = opts->host;
		keywords[i] = "port";
		values[i++] = opts->port;
		keywords[i] = "user";
		values[i++] = opts->username;
		keywords[i] = "password";
		values[i++] = password;
		keywords[i] = "dbname";
		values[i++] = opts->dbname;
		keywords[i] = "fallback_application_name";
		values[i++] = progname;
		keywords[i] = "client_encoding";
		values[i++] = utf8 ? "UTF8" : (getenv("PGCLIENTENCODING") ? NULL : "auto");
		keywords[i] = NULL;
		values[i] = NULL;

		again = false;
		conn = PQconnectdbParams(keywords, values, 1);
		if (conn == NULL)
			ir_fatal("could not connect to the server: out of memory");
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			password == NULL && opts->prompt_password != -1 && can_prompt())
		{
			char	   *prompt = ir_psprintf("Password for user %s: ", PQuser(conn));

			PQfinish(conn);
			password = ir_prompt(prompt, false);
			free(prompt);
			if (ir_interrupted)
				ir_fatal("canceled");
			again = true;
		}
	} while (again);
	forget_password(password);

	if (PQstatus(conn) == CONNECTION_BAD)
	{
		char	   *msg = ir_strdup(PQerrorMessage(conn));
		size_t		len = strlen(msg);

		while (len > 0 && msg[len - 1] == '\n')
			msg[--len] = '\0';
		PQfinish(conn);
		ir_fatal("%s", msg);
	}

	PQsetNoticeProcessor(conn, notice_processor, NULL);
	PQsetErrorVerbosity(conn, opts->verbose ? PQERRORS_VERBOSE : PQERRORS_DEFAULT);
	PQsetErrorContextVisibility(conn, opts->verbose ? PQSHOW_CONTEXT_ALWAYS : PQSHOW_CONTEXT_NEVER);
	cancel_handle = PQgetCancel(conn);
	install_sigint();
	find_extension(conn);
	return conn;
}

void
ir_disconnect(PGconn *conn)
{
	PGcancel   *c = cancel_handle;

	cancel_handle = NULL;
	if (c)
		PQfreeCancel(c);
	if (conn)
		PQfinish(conn);
}

/*
 * Run one statement with text parameters and wait for its result,
 * calling tick(tick_arg) about once a second while the server works (for
 * progress).  Returns the result (an error's, if any; a lost connection
 * is an error result with libpq's message).  The caller PQclears it.
 */
PGresult *
ir_run(PGconn *conn, const char *sql, int nparams, const char *const *values,
	   void (*tick) (void *), void *tick_arg)
{
	PGresult   *res;
	PGresult   *last = NULL;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	for (;;)
	{
		while (PQisBusy(conn))
		{
			int			sock = PQsocket(conn);
			fd_set		fds;
			struct timeval tv;
			int			rc;

			if (sock < 0)
				break;
			FD_ZERO(&fds);
			FD_SET(sock, &fds);
			tv.tv_sec = 1;
			tv.tv_usec = 0;
			rc = select(sock + 1, &fds, NULL, NULL, &tv);
			if (rc < 0 && errno != EINTR)
				ir_fatal("select() failed: %s", strerror(errno));
			if (rc == 0 && tick)
				tick(tick_arg);
			if (rc > 0 && !PQconsumeInput(conn))
				break;			/* PQgetResult reports it */
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (last != NULL)
		{
			/* an error wins over what follows it */
			if (PQresultStatus(last) == PGRES_FATAL_ERROR)
			{
				PQclear(res);
				continue;
			}
			PQclear(last);
		}
		last = res;
	}
	if (last == NULL)
		last = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	return last;
}

/* ir_run, ending the program on any error */
PGresult *
ir_query(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	PGresult   *res = ir_run(conn, sql, nparams, values, NULL, NULL);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		ir_die_on(conn, res);
	return res;
}

/* a statement without parameters or rows (BEGIN, COMMIT) */
void
ir_command(PGconn *conn, const char *sql)
{
	PQclear(ir_query(conn, sql, 0, NULL));
}

/*
 * Print a failed statement's error as psql does: the server's message
 * with its severity, DETAIL and HINT (CONTEXT and the SQLSTATE with
 * --verbose); libpq's own (a lost connection) as an error of ours.
 */
void
ir_print_error(PGconn *conn, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";
	size_t		len;

	/* a lost connection: the server's last word and libpq's, as psql shows them */
	if (msg == NULL || msg[0] == '\0' || PQstatus(conn) == CONNECTION_BAD)
		msg = PQerrorMessage(conn);
	if (msg == NULL || msg[0] == '\0')
		msg = "unknown error\n";
	len = strlen(msg);
	fflush(stdout);
	end_progress_line();
	/* the server's message (in a result, or left on the connection by lo_*) */
	if ((res && PQresultErrorField(res, PG_DIAG_SEVERITY) != NULL) ||
		strncmp(msg, "ERROR:", 6) == 0 || strncmp(msg, "FATAL:", 6) == 0)
		fprintf(stderr, "%s: %s%s", progname, msg, msg[len - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "%s: error: %s%s", progname, msg, msg[len - 1] == '\n' ? "" : "\n");
	if (PQstatus(conn) == CONNECTION_BAD)
		fprintf(stderr, "%s: error: the connection to the server was lost\n", progname);
}

/* Print the error of a failed statement and exit with its status. */
void
ir_die_on(PGconn *conn, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int			code = EXIT_ERROR;

	ir_print_error(conn, res);
	if (state && strcmp(state, "IR001") == 0)
		code = EXIT_CONFLICT;
	else if (state && strcmp(state, "IR003") == 0)
		code = EXIT_GUARD;
	if (res)
		PQclear(res);
	ir_disconnect(conn);
	exit(code);
}

void
ir_fatal(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	end_progress_line();
	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_ERROR);
}

void
ir_error(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	end_progress_line();
	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ir_info(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	end_progress_line();
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void *
ir_malloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(EXIT_ERROR);
	}
	return p;
}

char *
ir_strdup(const char *s)
{
	size_t		len = strlen(s) + 1;
	char	   *p = ir_malloc(len);

	memcpy(p, s, len);
	return p;
}

char *
ir_psprintf(const char *fmt,...)
{
	va_list		ap;
	int			len;
	char	   *buf;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		ir_fatal("could not format a string");
	buf = ir_malloc((size_t) len + 1);
	va_start(ap, fmt);
	vsnprintf(buf, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return buf;
}
