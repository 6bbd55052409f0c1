/*-------------------------------------------------------------------------
 *
 * main.c
 *	  import_rollback, the command-line client of the import_rollback
 *	  extension: the command line (options as pg_dump's, a subcommand,
 *	  its operands), --help and --version.
 *
 *	  Options may come before or after the subcommand.  Each subcommand
 *	  accepts only the options that mean something to it (the table
 *	  below); anything else is a usage error, exit status 2, before any
 *	  connection is made.
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

const char *progname = "import_rollback";

/* options that only some subcommands take */
enum
{
	O_TARGET = 1 << 0,
	O_MAP = 1 << 1,				/* --map, --key, --mode */
	O_OPTIONS = 1 << 2,
	O_RUN = 1 << 3,
	O_SOURCE = 1 << 4,
	O_PROGRESS = 1 << 5,
	O_YES = 1 << 6,
	O_LIMIT = 1 << 7,
	O_SUMMARY = 1 << 8,
	O_ROLLBACK = 1 << 9,		/* --on-conflict, --cascade */
	O_PREVIEW = 1 << 10,		/* --preview, --status */
	O_RECORD = 1 << 11,
	O_REASON = 1 << 12,
	O_PURGE = 1 << 13,			/* --older-than, --applied, --dry-run */
	O_HTML = 1 << 14
};

typedef enum Operand
{
	NONE,
	FILE_OPERAND,
	BATCH_OPERAND
} Operand;

typedef struct Command
{
	const char *name;
	Operand		operand;
	int			accepts;
} Command;

static const Command commands[] = {
	{"import", FILE_OPERAND, O_TARGET | O_MAP | O_OPTIONS | O_RUN | O_SOURCE | O_PROGRESS | O_YES},
	{"stage", FILE_OPERAND, O_TARGET | O_MAP | O_OPTIONS | O_RUN | O_SOURCE | O_PROGRESS},
	{"validate", BATCH_OPERAND, O_MAP | O_OPTIONS},
	{"rejects", BATCH_OPERAND, O_LIMIT | O_SUMMARY},
	{"sample", BATCH_OPERAND, O_LIMIT},
	{"preview", BATCH_OPERAND, 0},
	{"apply", BATCH_OPERAND, O_OPTIONS},
	{"rollback", BATCH_OPERAND, O_OPTIONS | O_ROLLBACK | O_PREVIEW},
	{"drill", BATCH_OPERAND, 0},
	{"plan", BATCH_OPERAND, 0},
	{"changes", BATCH_OPERAND, O_LIMIT | O_RECORD},
	{"status", BATCH_OPERAND, 0},
	{"history", NONE, O_TARGET | O_LIMIT | O_HTML},
	{"cancel", BATCH_OPERAND, O_REASON},
	{"purge", NONE, O_OPTIONS | O_PURGE},
	{NULL, NONE, 0}
};

static void
help(void)
{
	printf("%s imports a file into a live table as a tracked batch of the\n"
		   "import_rollback extension: staged raw, validated, reviewed, applied in one\n"
		   "transaction, and rolled back exactly, that batch alone.\n\n", progname);
	printf("Usage:\n");
	printf("  %s [OPTION]... COMMAND [ARGUMENT] [OPTION]...\n\n", progname);
	printf("Commands:\n");
	printf("  import FILE -t TABLE       stage, validate, review, confirm, apply FILE\n");
	printf("  stage FILE -t TABLE        upload FILE and stage it; prints the batch id\n");
	printf("  validate BATCH             check the staged rows: types, rules, hard stops\n");
	printf("  rejects BATCH              the rejected rows and every reason\n");
	printf("  sample BATCH               rows spread over the file, beside live values\n");
	printf("  preview BATCH              what applying would change, column by column\n");
	printf("  apply BATCH                write the valid rows, all or none\n");
	printf("  rollback BATCH             undo an applied batch; conflicts are reported\n");
	printf("  drill BATCH                apply, roll back, verify, then undo it all\n");
	printf("  plan BATCH                 what a cascading rollback would undo, in order\n");
	printf("  changes BATCH              every write of the batch (apply and rollback)\n");
	printf("  status BATCH               the batch's record and its state changes\n");
	printf("  history                    the batches, newest first\n");
	printf("  cancel BATCH --reason TEXT discard a batch that was not applied\n");
	printf("  purge --older-than INTERVAL\n"
		   "                             drop the rows of batches that ended long ago\n");
	printf("\nOptions for stage and import:\n");
	printf("  -t, --target=TABLE         the table to import into (required)\n");
	printf("  -m, --map=SRC=COL          map the file's column SRC onto the table's COL\n"
		   "                             (repeatable; these pairs are then the mapping)\n");
	printf("  -k, --key=COL              a key column (repeatable; default: primary key)\n");
	printf("      --mode=MODE            upsert (default), insert or update\n");
	printf("  -o, --options=JSON         more options, as a JSON object: the CSV dialect\n"
		   "                             (header, delimiter, quote, escape, null,\n"
		   "                             encoding), mapping, rules, expect_rows, ...\n");
	printf("      --run=RUN              stage as a member of run RUN (several tables);\n"
		   "                             import then applies the whole run\n");
	printf("      --source-name=NAME     the file's name in the batch (default: its base\n"
		   "                             name; FILE \"-\" is standard input, \"stdin\")\n");
	printf("  -P, --progress             show progress on standard error\n");
	printf("  -y, --yes                  import: apply without asking (needed with\n"
		   "                             --json, or when standard input is no terminal)\n");
	printf("\nOptions for validate and apply:\n");
	printf("  -m, -k, --mode, -o         validate: a corrected mapping, key, mode, rules\n");
	printf("  -o, --options=JSON         apply: its options (e.g. {\"on_guard\": \"error\"})\n");
	printf("\nOptions for rollback:\n");
	printf("      --on-conflict=MODE     abort (default: change nothing, exit 4), skip\n"
		   "                             (restore the rest) or force (overwrite)\n");
	printf("      --cascade              first roll back the later batches that wrote\n"
		   "                             the same fields, newest first\n");
	printf("      --preview              show each field it would restore; change nothing\n");
	printf("      --status=STATUS        with --preview: restorable, conflict or gone\n");
	printf("  -o, --options=JSON         more rollback options\n");
	printf("\nOptions for reports:\n");
	printf("  -n, --limit=N              at most N rows (sample: N rows, default 10)\n");
	printf("      --summary              rejects: a line per kind of reason, counted\n");
	printf("      --record-key=JSON      changes: one record's, e.g. '{\"id\": 17}'\n");
	printf("  -t, --target=TABLE         history: only the batches on TABLE\n");
	printf("      --html=FILE            history: a self-contained HTML report in FILE\n");
	printf("\nOptions for cancel and purge:\n");
	printf("      --reason=TEXT          cancel: why (required; kept with the batch)\n");
	printf("      --older-than=INTERVAL  purge: batches that ended longer ago (required)\n");
	printf("      --applied              purge: applied batches too (no rollback after)\n");
	printf("      --dry-run              purge: list what would go, drop nothing\n");
	printf("\nGeneral options:\n");
	printf("      --json                 print results as JSON (one document on stdout)\n");
	printf("  -v, --verbose              print errors with their SQLSTATE and context\n");
	printf("  -V, --version              output version information, then exit\n");
	printf("  -?, --help                 show this help, then exit\n");
	printf("\nConnection options:\n");
	printf("  -d, --dbname=DBNAME        database to connect to, or a connection string\n"
		   "                             (\"host=... dbname=...\", postgresql://...)\n");
	printf("  -h, --host=HOSTNAME        database server host or socket directory\n");
	printf("  -p, --port=PORT            database server port number\n");
	printf("  -U, --username=NAME        connect as specified database user\n");
	printf("  -w, --no-password          never prompt for password\n");
	printf("  -W, --password             force password prompt\n");
	printf("\nWhat is not given comes from the environment (PGHOST, PGPORT, PGDATABASE,\n"
		   "PGUSER, PGSERVICE, PGSERVICEFILE, ...), a password from PGPASSWORD or\n"
		   "~/.pgpass, as for psql.  A password is never taken on the command line.\n");
	printf("\nExit status:\n");
	printf("  0  done\n");
	printf("  1  an error: from the server, the connection or a file; Ctrl-C cancels\n"
		   "     the running statement and leaves the batch as it was\n");
	printf("  2  wrong usage; import without --yes when standard input is no terminal\n");
	printf("  3  the validation stopped the batch: nothing was applied\n");
	printf("  4  the rollback found conflicts (on_conflict abort): nothing was changed\n");
	printf("  5  a guard tripped after the apply: nothing was applied\n");
	printf("\nExample:\n");
	printf("  b=$(%s -d crm stage crm-export.csv -t customers -P) &&\n", progname);
	printf("  %s -d crm validate \"$b\" && %s -d crm apply \"$b\"\n", progname, progname);
}

static IR_NORETURN void
usage_error(const char *fmt,...) IR_PRINTF(1, 2);

static void
usage_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

static long long
positive_number(const char *what, const char *s)
{
	char	   *end;
	long long	v;

	if (s[0] < '0' || s[0] > '9')
		usage_error("%s must be a positive number, not \"%s\"", what, s);
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v <= 0)
		usage_error("%s must be a positive number, not \"%s\"", what, s);
	return v;
}

static void
push(StrList *list, const char *s)
{
	char	  **items = ir_malloc(sizeof(char *) * (list->n + 1));

	if (list->n)
		memcpy(items, list->items, sizeof(char *) * list->n);
	free(list->items);
	items[list->n++] = ir_strdup(s);
	list->items = items;
}

/* long options without a short form */
enum
{
	OPT_MODE = 256,
	OPT_RUN,
	OPT_SOURCE_NAME,
	OPT_JSON,
	OPT_HTML,
	OPT_SUMMARY,
	OPT_ON_CONFLICT,
	OPT_CASCADE,
	OPT_PREVIEW,
	OPT_STATUS,
	OPT_RECORD_KEY,
	OPT_REASON,
	OPT_OLDER_THAN,
	OPT_APPLIED,
	OPT_DRY_RUN
};

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"no-password", no_argument, NULL, 'w'},
		{"password", no_argument, NULL, 'W'},
		{"target", required_argument, NULL, 't'},
		{"map", required_argument, NULL, 'm'},
		{"key", required_argument, NULL, 'k'},
		{"mode", required_argument, NULL, OPT_MODE},
		{"options", required_argument, NULL, 'o'},
		{"run", required_argument, NULL, OPT_RUN},
		{"source-name", required_argument, NULL, OPT_SOURCE_NAME},
		{"progress", no_argument, NULL, 'P'},
		{"yes", no_argument, NULL, 'y'},
		{"limit", required_argument, NULL, 'n'},
		{"summary", no_argument, NULL, OPT_SUMMARY},
		{"on-conflict", required_argument, NULL, OPT_ON_CONFLICT},
		{"cascade", no_argument, NULL, OPT_CASCADE},
		{"preview", no_argument, NULL, OPT_PREVIEW},
		{"status", required_argument, NULL, OPT_STATUS},
		{"record-key", required_argument, NULL, OPT_RECORD_KEY},
		{"reason", required_argument, NULL, OPT_REASON},
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"applied", no_argument, NULL, OPT_APPLIED},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"json", no_argument, NULL, OPT_JSON},
		{"html", required_argument, NULL, OPT_HTML},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	Options		opts;
	int			given = 0;		/* O_* of the options given */
	int			c;
	const Command *cmd;
	int			nargs;

	memset(&opts, 0, sizeof(opts));
	/* the locale's character set: client_encoding "auto" and display widths */
	setlocale(LC_CTYPE, "");
	if (argc > 1)
	{
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0)
		{
			help();
			exit(EXIT_DONE);
		}
		if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		{
			printf("%s (import_rollback) %s\n", progname, IR_VERSION);
			exit(EXIT_DONE);
		}
	}

	while ((c = getopt_long(argc, argv, "d:h:p:U:wWt:m:k:o:Pyn:vV?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opts.dbname = optarg;
				break;
			case 'h':
				opts.host = optarg;
				break;
			case 'p':
				opts.port = optarg;
				break;
			case 'U':
				opts.username = optarg;
				break;
			case 'w':
				opts.prompt_password = -1;
				break;
			case 'W':
				opts.prompt_password = 1;
				break;
			case 't':
				opts.target = optarg;
				given |= O_TARGET;
				break;
			case 'm':
				{
					char	   *eq = strrchr(optarg, '=');
					char	   *src;

					if (eq == NULL || eq == optarg || eq[1] == '\0')
						usage_error("--map takes SRC=COL (a file column, \"=\", a table column), not \"%s\"", optarg);
					src = ir_strdup(optarg);
					src[eq - optarg] = '\0';
					push(&opts.map_from, src);
					push(&opts.map_to, eq + 1);
					free(src);
					given |= O_MAP;
				}
				break;
			case 'k':
				push(&opts.keys, optarg);
				given |= O_MAP;
				break;
			case OPT_MODE:
				opts.mode = optarg;
				given |= O_MAP;
				break;
			case 'o':
				opts.options_json = optarg;
				given |= O_OPTIONS;
				break;
			case OPT_RUN:
				positive_number("--run", optarg);
				opts.run_id = optarg;
				given |= O_RUN;
				break;
			case OPT_SOURCE_NAME:
				opts.source_name = optarg;
				given |= O_SOURCE;
				break;
			case 'P':
				opts.progress = true;
				given |= O_PROGRESS;
				break;
			case 'y':
				opts.yes = true;
				given |= O_YES;
				break;
			case 'n':
				opts.limit = positive_number("--limit", optarg);
				given |= O_LIMIT;
				break;
			case OPT_SUMMARY:
				opts.summary = true;
				given |= O_SUMMARY;
				break;
			case OPT_ON_CONFLICT:
				if (strcmp(optarg, "abort") != 0 && strcmp(optarg, "skip") != 0 && strcmp(optarg, "force") != 0)
					usage_error("--on-conflict must be abort, skip or force, not \"%s\"", optarg);
				opts.on_conflict = optarg;
				given |= O_ROLLBACK;
				break;
			case OPT_CASCADE:
				opts.cascade = true;
				given |= O_ROLLBACK;
				break;
			case OPT_PREVIEW:
				opts.preview = true;
				given |= O_PREVIEW;
				break;
			case OPT_STATUS:
				opts.status_filter = optarg;
				given |= O_PREVIEW;
				break;
			case OPT_RECORD_KEY:
				opts.record_key = optarg;
				given |= O_RECORD;
				break;
			case OPT_REASON:
				opts.reason = optarg;
				given |= O_REASON;
				break;
			case OPT_OLDER_THAN:
				opts.older_than = optarg;
				given |= O_PURGE;
				break;
			case OPT_APPLIED:
				opts.applied = true;
				given |= O_PURGE;
				break;
			case OPT_DRY_RUN:
				opts.dry_run = true;
				given |= O_PURGE;
				break;
			case OPT_JSON:
				opts.json = true;
				break;
			case OPT_HTML:
				opts.html_file = optarg;
				given |= O_HTML;
				break;
			case 'v':
				opts.verbose = true;
				break;
			case 'V':
				printf("%s (import_rollback) %s\n", progname, IR_VERSION);
				exit(EXIT_DONE);
			case '?':
				if (optopt == 0 && strcmp(argv[optind - 1], "-?") == 0)
				{
					help();
					exit(EXIT_DONE);
				}
				/* getopt_long said what was wrong */
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(EXIT_USAGE);
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(EXIT_USAGE);
		}
	}

	if (optind >= argc)
		usage_error("no command given");
	opts.command = argv[optind++];
	if (strcmp(opts.command, "help") == 0)
	{
		help();
		exit(EXIT_DONE);
	}
	for (cmd = commands; cmd->name; cmd++)
		if (strcmp(cmd->name, opts.command) == 0)
			break;
	if (cmd->name == NULL)
		usage_error("unknown command \"%s\"", opts.command);

	/* operands */
	nargs = argc - optind;
	if (cmd->operand == NONE && nargs > 0)
		usage_error("%s takes no argument (\"%s\")", cmd->name, argv[optind]);
	if (cmd->operand == FILE_OPERAND)
	{
		if (nargs != 1)
			usage_error("%s takes one FILE (\"-\" for standard input)", cmd->name);
		opts.file = argv[optind];
	}
	if (cmd->operand == BATCH_OPERAND)
	{
		if (nargs != 1)
			usage_error("%s takes one BATCH (a batch id)", cmd->name);
		opts.batch = positive_number("BATCH", argv[optind]);
	}

	/* options */
	if (given & ~cmd->accepts)
	{
		static const struct
		{
			int			bit;
			const char *names;
		}			names[] = {
			{O_TARGET, "--target"}, {O_MAP, "--map, --key or --mode"}, {O_OPTIONS, "--options"},
			{O_RUN, "--run"}, {O_SOURCE, "--source-name"}, {O_PROGRESS, "--progress"},
			{O_YES, "--yes"}, {O_LIMIT, "--limit"}, {O_SUMMARY, "--summary"},
			{O_ROLLBACK, "--on-conflict or --cascade"}, {O_PREVIEW, "--preview or --status"},
			{O_RECORD, "--record-key"}, {O_REASON, "--reason"},
			{O_PURGE, "--older-than, --applied or --dry-run"}, {O_HTML, "--html"}, {0, NULL}
		};

		for (int i = 0; names[i].bit; i++)
			if (given & ~cmd->accepts & names[i].bit)
				usage_error("%s does not take %s", cmd->name, names[i].names);
	}
	if (cmd->operand == FILE_OPERAND && opts.target == NULL)
		usage_error("%s needs --target TABLE", cmd->name);
	if (strcmp(cmd->name, "cancel") == 0 && opts.reason == NULL)
		usage_error("cancel needs --reason TEXT");
	if (strcmp(cmd->name, "purge") == 0 && opts.older_than == NULL)
		usage_error("purge needs --older-than INTERVAL");
	if (opts.status_filter && !opts.preview)
		usage_error("--status goes with --preview");
	if (opts.preview && (given & O_ROLLBACK))
		usage_error("--preview changes nothing: it takes no --on-conflict or --cascade");
	if (opts.html_file && opts.json)
		usage_error("--json and --html cannot go together");
	if (strcmp(cmd->name, "import") == 0 && !opts.yes)
	{
		if (opts.json)
			usage_error("import --json needs --yes: the review is in the JSON document, there is no question");
		if (strcmp(opts.file, "-") == 0)
			usage_error("import from standard input needs --yes: the confirmation is read from it");
		if (!isatty(STDIN_FILENO))
			usage_error("import asks before it applies, and standard input is not a terminal: "
						"give --yes to apply without asking");
	}

	return ir_run_command(&opts);
}
