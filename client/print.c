/*-------------------------------------------------------------------------
 *
 * print.c
 *	  Results as people and programs read them: aligned tables laid out
 *	  as psql lays them out (headers centred, numbers right-aligned, a
 *	  cell's lines continued with "+", "(N rows)"), one record as
 *	  "column | value" lines, and JSON documents whose every value the
 *	  server made (one json column per row).  A table whose rows are
 *	  blocks of lines (the review's one line per column) can leave out
 *	  the "+" markers (plain_lines).
 *
 *	  On a terminal a table that is wider than the screen has its widest
 *	  columns wrapped (continued with "."), as psql's wrapped format
 *	  does, so that nothing is cut; into a pipe or a file every line is
 *	  written whole.  Widths are display widths in the client encoding
 *	  (PQmblen, PQdsplen), so non-ASCII text lines up.
 *
 *	  Memory: a table's cells are split into lines once; everything is
 *	  freed before returning.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "client.h"

/* one displayed line of a cell: a piece of its text */
typedef struct Line
{
	const char *s;
	int			len;			/* bytes */
	int			width;			/* display columns */
	char		marker;			/* after it: ' ' last, '+' newline, '.' wrapped */
} Line;

typedef struct Cell
{
	char	   *text;			/* a sanitised copy */
	Line	   *lines;
	int			nlines;
} Cell;

/* type OIDs whose values psql right-aligns */
static bool
is_numeric_type(Oid type)
{
	switch (type)
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 26:				/* oid */
		case 28:				/* xid */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 790:				/* money */
		case 1700:				/* numeric */
			return true;
		default:
			return false;
	}
}

/* display width of len bytes of s */
int
ir_display_width(const char *s, int len, int encoding)
{
	int			width = 0;
	int			i = 0;

	while (i < len)
	{
		int			l = PQmblen(s + i, encoding);
		int			w = PQdsplen(s + i, encoding);

		if (l < 1 || i + l > len)
			l = 1;
		width += w > 0 ? w : 0;
		i += l;
	}
	return width;
}

/* terminal width of out, or 0 when out is not a terminal */
static int
terminal_width(FILE *out)
{
	struct winsize ws;

	if (!isatty(fileno(out)))
		return 0;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (getenv("COLUMNS") && atoi(getenv("COLUMNS")) > 0)
		return atoi(getenv("COLUMNS"));
	return 0;
}

/* control characters other than newlines become spaces */
static char *
sanitise(const char *s)
{
	char	   *copy = ir_strdup(s);

	for (char *p = copy; *p; p++)
		if ((unsigned char) *p < 0x20 && *p != '\n')
			*p = ' ';
		else if ((unsigned char) *p == 0x7f)
			*p = ' ';
	return copy;
}

/*
 * Split text into lines at newlines and, with max > 0, wherever a line
 * is wider than max display columns.
 */
static void
split_cell(Cell *cell, const char *text, int max, int encoding)
{
	int			cap = 4;
	const char *p;

	cell->text = sanitise(text);
	cell->lines = ir_malloc(sizeof(Line) * cap);
	cell->nlines = 0;
	p = cell->text;
	for (;;)
	{
		const char *nl = strchr(p, '\n');
		int			len = nl ? (int) (nl - p) : (int) strlen(p);
		int			i = 0;

		/* one logical line, cut into pieces of at most max columns */
		do
		{
			int			start = i;
			int			width = 0;

			while (i < len)
			{
				int			l = PQmblen(p + i, encoding);
				int			w = PQdsplen(p + i, encoding);

				if (l < 1 || i + l > len)
					l = 1;
				if (w < 0)
					w = 0;
				if (max > 0 && width + w > max && i > start)
					break;
				width += w;
				i += l;
			}
			if (cell->nlines == cap)
			{
				Line	   *bigger = ir_malloc(sizeof(Line) * cap * 2);

				memcpy(bigger, cell->lines, sizeof(Line) * cap);
				free(cell->lines);
				cell->lines = bigger;
				cap *= 2;
			}
			cell->lines[cell->nlines].s = p + start;
			cell->lines[cell->nlines].len = i - start;
			cell->lines[cell->nlines].width = width;
			cell->lines[cell->nlines].marker = i < len ? '.' : (nl ? '+' : ' ');
			cell->nlines++;
		} while (i < len);
		if (!nl)
			break;
		p = nl + 1;
	}
}

static void
free_cell(Cell *cell)
{
	free(cell->text);
	free(cell->lines);
}

static void
put_spaces(FILE *out, int n)
{
	while (n-- > 0)
		fputc(' ', out);
}

static void
put_dashes(FILE *out, int n)
{
	while (n-- > 0)
		fputc('-', out);
}

/* widest lines of each column: its natural width */
static void
natural_widths(PGresult *res, int ncols, int *widths, int encoding)
{
	for (int c = 0; c < ncols; c++)
	{
		const char *name = PQfname(res, c);

		widths[c] = ir_display_width(name, (int) strlen(name), encoding);
		for (int r = 0; r < PQntuples(res); r++)
		{
			const char *v = PQgetvalue(res, r, c);
			const char *p = v;

			for (;;)
			{
				const char *nl = strchr(p, '\n');
				int			len = nl ? (int) (nl - p) : (int) strlen(p);
				int			w = ir_display_width(p, len, encoding);

				if (w > widths[c])
					widths[c] = w;
				if (!nl)
					break;
				p = nl + 1;
			}
		}
	}
}

/*
 * Narrow the widest columns until the table fits in width columns (or
 * every column is down to a few characters).
 */
static void
fit_widths(int *widths, int ncols, int width)
{
	int			total = 0;

	for (int c = 0; c < ncols; c++)
		total += widths[c] + 3;
	total -= 1;
	while (total > width)
	{
		int			widest = -1;

		for (int c = 0; c < ncols; c++)
			if (widths[c] > 8 && (widest < 0 || widths[c] > widths[widest]))
				widest = c;
		if (widest < 0)
			break;
		widths[widest]--;
		total--;
	}
}

/* print up to width columns of the line, trailing spaces trimmed */
static void
put_trimmed(FILE *out, const char *line, size_t len)
{
	while (len > 0 && line[len - 1] == ' ')
		len--;
	fwrite(line, 1, len, out);
	fputc('\n', out);
}

/*
 * An aligned table of every row of res, laid out as psql's aligned
 * format with border 1.
 */
void
ir_print_table(FILE *out, PGresult *res, const PrintOpts *po)
{
	int			ncols = po->columns > 0 && po->columns < PQnfields(res) ? po->columns : PQnfields(res);
	int			nrows = PQntuples(res);
	int		   *widths;
	bool	   *right;
	int			term = terminal_width(out);
	char	   *buf;
	size_t		bufsize;
	FILE	   *line;

	if (po->title)
		fprintf(out, "%s\n", po->title);
	if (ncols == 0)
		return;
	widths = ir_malloc(sizeof(int) * ncols);
	right = ir_malloc(sizeof(bool) * ncols);
	natural_widths(res, ncols, widths, po->encoding);
	if (term > 0)
		fit_widths(widths, ncols, term);
	for (int c = 0; c < ncols; c++)
		right[c] = is_numeric_type(PQftype(res, c));

	/* header: names centred; psql ends it with a space */
	for (int c = 0; c < ncols; c++)
	{
		const char *name = PQfname(res, c);
		int			w = ir_display_width(name, (int) strlen(name), po->encoding);
		int			left = w < widths[c] ? (widths[c] - w) / 2 : 0;

		fputs(c == 0 ? " " : "| ", out);
		put_spaces(out, left);
		fputs(name, out);
		put_spaces(out, widths[c] - w - left);
		fputc(' ', out);
	}
	fputc('\n', out);
	for (int c = 0; c < ncols; c++)
	{
		if (c > 0)
			fputc('+', out);
		put_dashes(out, widths[c] + 2);
	}
	fputc('\n', out);

	/* rows, each as many lines as its tallest cell; lines trimmed at the end */
	for (int r = 0; r < nrows; r++)
	{
		Cell	   *cells = ir_malloc(sizeof(Cell) * ncols);
		int			height = 1;

		for (int c = 0; c < ncols; c++)
		{
			split_cell(&cells[c], PQgetvalue(res, r, c), widths[c], po->encoding);
			if (cells[c].nlines > height)
				height = cells[c].nlines;
		}
		for (int l = 0; l < height; l++)
		{
			line = open_memstream(&buf, &bufsize);
			if (line == NULL)
				ir_fatal("out of memory");
			for (int c = 0; c < ncols; c++)
			{
				Line	   *ln = l < cells[c].nlines ? &cells[c].lines[l] : NULL;
				int			w = ln ? ln->width : 0;

				fputs(c == 0 ? " " : "| ", line);
				if (right[c])
					put_spaces(line, widths[c] - w);
				if (ln)
					fwrite(ln->s, 1, ln->len, line);
				if (!right[c])
					put_spaces(line, widths[c] - w);
				fputc(ln && !(po->plain_lines && ln->marker == '+') ? ln->marker : ' ', line);
			}
			fclose(line);
			put_trimmed(out, buf, bufsize);
			free(buf);
		}
		for (int c = 0; c < ncols; c++)
			free_cell(&cells[c]);
		free(cells);
	}
	if (po->footer)
		fprintf(out, "(%d %s)\n", nrows, nrows == 1 ? "row" : "rows");
	free(widths);
	free(right);
}

/*
 * One row of res as "column | value" lines (psql's expanded display),
 * values wrapped to the terminal.
 */
void
ir_print_record(FILE *out, PGresult *res, int row, const PrintOpts *po)
{
	int			ncols = po->columns > 0 && po->columns < PQnfields(res) ? po->columns : PQnfields(res);
	int			namew = 0;
	int			term = terminal_width(out);
	int			max = 0;

	if (po->title)
		fprintf(out, "%s\n", po->title);
	for (int c = 0; c < ncols; c++)
	{
		int			w = ir_display_width(PQfname(res, c), (int) strlen(PQfname(res, c)), po->encoding);

		if (w > namew)
			namew = w;
	}
	if (term > 0 && term - namew - 4 > 20)
		max = term - namew - 4;
	for (int c = 0; c < ncols; c++)
	{
		Cell		cell;
		const char *name = PQfname(res, c);
		int			w = ir_display_width(name, (int) strlen(name), po->encoding);

		split_cell(&cell, PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c), max, po->encoding);
		for (int l = 0; l < cell.nlines; l++)
		{
			char	   *buf;
			size_t		bufsize;
			FILE	   *line = open_memstream(&buf, &bufsize);

			if (line == NULL)
				ir_fatal("out of memory");
			if (l == 0)
			{
				fputs(name, line);
				put_spaces(line, namew - w);
			}
			else
				put_spaces(line, namew);
			fputs(" | ", line);
			fwrite(cell.lines[l].s, 1, cell.lines[l].len, line);
			if (cell.lines[l].marker != ' ')
				fputc(cell.lines[l].marker, line);
			fclose(line);
			put_trimmed(out, buf, bufsize);
			free(buf);
		}
		free_cell(&cell);
	}
}

/*
 * res has one json column per row, made by the server.  one: print the
 * only row's document; else an array of every row's, one per line.
 */
void
ir_print_json(FILE *out, PGresult *res, bool one)
{
	int			nrows = PQntuples(res);

	if (one)
	{
		fprintf(out, "%s\n", nrows > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "null");
		return;
	}
	if (nrows == 0)
	{
		fputs("[]\n", out);
		return;
	}
	fputs("[\n", out);
	for (int r = 0; r < nrows; r++)
		fprintf(out, "  %s%s\n", PQgetvalue(res, r, 0), r + 1 < nrows ? "," : "");
	fputs("]\n", out);
}
