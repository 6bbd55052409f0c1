/*-------------------------------------------------------------------------
 *
 * client.h
 *	  The command-line client import_rollback: what its files share.
 *
 *	  main.c      options, usage, dispatch to a subcommand
 *	  commands.c  the subcommands: the SQL each one runs, its exit status
 *	  stage.c     a file streamed into a large object, then staged, with
 *	              progress
 *	  conn.c      the connection, password prompts, running statements
 *	              (cancellable with Ctrl-C), server errors and notices
 *	  print.c     aligned tables like psql's, records, JSON documents
 *	  report.c    the self-contained HTML report of history --html
 *
 *	  The client speaks libpq only.  Every value it sends is a statement
 *	  parameter; the SQL it runs is fixed text naming the extension's
 *	  schema (looked up once, quoted by libpq).  JSON output is made by
 *	  the server (to_json), so it is valid JSON whatever the data.
 *
 *-------------------------------------------------------------------------
 */
#ifndef IR_CLIENT_H
#define IR_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "libpq-fe.h"

/* exit status: the contract's list, nothing else */
#define EXIT_DONE		0		/* done */
#define EXIT_ERROR		1		/* an error: server, connection, file */
#define EXIT_USAGE		2		/* usage; import refused on a non-tty */
#define EXIT_STOPPED	3		/* validation stopped the batch */
#define EXIT_CONFLICT	4		/* rollback conflicts (on_conflict abort) */
#define EXIT_GUARD		5		/* a post-apply guard tripped */

#define IR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define IR_NORETURN __attribute__((noreturn))

extern const char *progname;

/* a list of strings given by a repeatable option (--map, --key) */
typedef struct StrList
{
	int			n;
	char	  **items;
} StrList;

/* everything the command line says */
typedef struct Options
{
	/* connection */
	const char *dbname;
	const char *host;
	const char *port;
	const char *username;
	int			prompt_password;	/* -1 never (-w), 0 when needed, 1 always (-W) */

	/* output */
	bool		json;
	const char *html_file;
	bool		progress;
	bool		verbose;

	/* the subcommand and its operands */
	const char *command;
	const char *file;			/* stage, import */
	long long	batch;			/* most others */

	/* stage / import / validate */
	const char *target;
	const char *source_name;
	StrList		map_from;		/* --map SRC=COL, split */
	StrList		map_to;
	StrList		keys;
	const char *mode;
	const char *options_json;
	const char *run_id;
	bool		yes;

	/* reports */
	long long	limit;			/* 0: the subcommand's default */
	bool		summary;		/* rejects --summary */

	/* rollback */
	const char *on_conflict;
	bool		cascade;
	bool		preview;
	const char *status_filter;

	/* changes, cancel, purge */
	const char *record_key;
	const char *reason;
	const char *older_than;
	bool		applied;
	bool		dry_run;
} Options;

/* conn.c */
extern volatile sig_atomic_t ir_interrupted;
extern bool ir_progress_open;	/* a progress line without its newline is on stderr */
extern const char *ir_schema;	/* the extension's schema, quoted */

extern PGconn *ir_connect(const Options *opts, bool utf8);
extern void ir_disconnect(PGconn *conn);
extern PGresult *ir_run(PGconn *conn, const char *sql, int nparams,
						const char *const *values,
						void (*tick) (void *), void *tick_arg);
extern PGresult *ir_query(PGconn *conn, const char *sql, int nparams,
						  const char *const *values);
extern void ir_command(PGconn *conn, const char *sql);
extern void ir_print_error(PGconn *conn, PGresult *res);
extern IR_NORETURN void ir_die_on(PGconn *conn, PGresult *res);
extern char *ir_prompt(const char *prompt, bool echo);
extern IR_NORETURN void ir_fatal(const char *fmt,...) IR_PRINTF(1, 2);
extern void ir_error(const char *fmt,...) IR_PRINTF(1, 2);
extern void ir_info(const char *fmt,...) IR_PRINTF(1, 2);
extern void *ir_malloc(size_t size);
extern char *ir_strdup(const char *s);
extern char *ir_psprintf(const char *fmt,...) IR_PRINTF(1, 2);

/* stage.c */
typedef struct StageInput
{
	const char *path;			/* as given; "-" is standard input */
	int			fd;
	long long	size;			/* -1 when not known (a pipe) */
} StageInput;

extern void ir_open_input(StageInput *in, const char *path);
extern long long ir_stage_input(PGconn *conn, const Options *opts, StageInput *in);

/* print.c */
typedef struct PrintOpts
{
	bool		footer;			/* "(N rows)" */
	const char *title;			/* a line above the table */
	int			columns;		/* show only the first ones; 0 all */
	bool		plain_lines;	/* no "+" after lines continued by a newline */
	int			encoding;		/* client encoding, for display widths */
} PrintOpts;

extern void ir_print_table(FILE *out, PGresult *res, const PrintOpts *po);
extern void ir_print_record(FILE *out, PGresult *res, int row, const PrintOpts *po);
extern void ir_print_json(FILE *out, PGresult *res, bool one);
extern int	ir_display_width(const char *s, int len, int encoding);

/* report.c */
extern void ir_write_html(PGconn *conn, const char *path, PGresult *res,
						  const char *filter);

/* commands.c */
extern int	ir_run_command(const Options *opts);
extern char *ir_array_literal(const StrList *list);
extern bool ir_command_wants_utf8(const Options *opts);

#endif							/* IR_CLIENT_H */
