/*-------------------------------------------------------------------------
 *
 * report.c
 *	  history --html FILE: the staff report of what each file did, as one
 *	  self-contained HTML page (inline CSS, no script, no external
 *	  resource), readable on screen and on paper: per batch the file (the
 *	  table it went into, its size and SHA-256), who started it and when, its counts, its state, its error
 *	  count (rows rejected) and whether it is safe to run again, above a
 *	  line of totals.  Every value is HTML-escaped; the page is UTF-8
 *	  (the connection's client encoding is UTF8 for it).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

static const char *style =
"body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;"
"margin:2rem;color:#1f2328;background:#fff;line-height:1.4}\n"
"h1{font-size:1.6rem;margin:0 0 .2rem}\n"
".meta{color:#57606a;margin:0 0 1.4rem}\n"
".cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:0 0 1.6rem;padding:0;list-style:none}\n"
".cards li{border:1px solid #d0d7de;border-radius:8px;padding:.55rem 1rem;min-width:7.5rem}\n"
".cards b{display:block;font-size:1.5rem;font-variant-numeric:tabular-nums}\n"
".cards span{color:#57606a;font-size:.85rem}\n"
"table{border-collapse:collapse;width:100%;font-size:.9rem}\n"
"th,td{border-bottom:1px solid #d8dee4;padding:.5rem .6rem;text-align:left;vertical-align:top}\n"
"th{background:#f6f8fa;font-weight:600;white-space:nowrap}\n"
"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
"td.err{color:#a40e26;font-weight:600}\n"
"td.f{min-width:14rem}\n"
".file{font-weight:600;overflow-wrap:break-word}\n"
"td.s{min-width:9rem}\n"
"td.when{white-space:nowrap}\n"
".sub{display:block;color:#57606a;font-size:.78rem;font-weight:400}\n"
".st{display:inline-block;border-radius:1rem;padding:.05rem .6rem;font-size:.8rem;font-weight:600;white-space:nowrap}\n"
".applied{background:#dafbe1;color:#116329}\n"
".rolled_back{background:#ddf4ff;color:#0550ae}\n"
".failed{background:#ffebe9;color:#a40e26}\n"
".cancelled{background:#eaeef2;color:#57606a}\n"
".received,.staged,.validated{background:#fff8c5;color:#7d4e00}\n"
".yes{color:#116329;font-weight:600}\n"
".no{color:#a40e26;font-weight:600}\n"
".why{display:block;color:#a40e26;font-size:.8rem;margin-top:.25rem;max-width:26rem;word-break:break-word}\n"
".legend{color:#57606a;font-size:.85rem;margin-top:1.2rem;max-width:60rem}\n"
".wrap{overflow-x:auto}\n"
"@media (max-width:1500px){body{margin:1rem}table{font-size:.8rem}th,td{padding:.4rem .3rem}"
"td.f{min-width:10rem}td.when{white-space:normal}th{white-space:normal}}\n"
"@media print{body{margin:1cm}th{background:#eee}.wrap{overflow:visible}}\n";

static void
put_html(FILE *out, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '&':
				fputs("&amp;", out);
				break;
			case '<':
				fputs("&lt;", out);
				break;
			case '>':
				fputs("&gt;", out);
				break;
			case '"':
				fputs("&quot;", out);
				break;
			case '\'':
				fputs("&#39;", out);
				break;
			default:
				fputc(*s, out);
		}
	}
}

static const char *
field(PGresult *res, int row, const char *name)
{
	int			c = PQfnumber(res, name);

	if (c < 0 || PQgetisnull(res, row, c))
		return NULL;
	return PQgetvalue(res, row, c);
}

/* a count cell; empty when not known yet (rows_valid before validation) */
static void
count_cell(FILE *out, PGresult *res, int row, const char *name, bool error)
{
	const char *v = field(res, row, name);

	fprintf(out, "<td class=\"n%s\">", error && v && atoll(v) > 0 ? " err" : "");
	if (v)
	{
		/* thousands separated by thin spaces */
		size_t		len = strlen(v);

		for (size_t i = 0; i < len; i++)
		{
			if (i > 0 && (len - i) % 3 == 0 && v[0] != '-')
				fputs("&#8201;", out);
			fputc(v[i], out);
		}
	}
	else
		fputs("&ndash;", out);
	fputs("</td>", out);
}

static const char *
human_bytes(long long bytes, char *buf, size_t size)
{
	if (bytes >= 1024LL * 1024 * 1024)
		snprintf(buf, size, "%.1f GB", bytes / (1024.0 * 1024 * 1024));
	else if (bytes >= 1024 * 1024)
		snprintf(buf, size, "%.1f MB", bytes / (1024.0 * 1024));
	else if (bytes >= 1024)
		snprintf(buf, size, "%.1f kB", bytes / 1024.0);
	else
		snprintf(buf, size, "%lld bytes", bytes);
	return buf;
}

static void
card(FILE *out, long long n, const char *what)
{
	fprintf(out, "<li><b>%lld</b><span>", n);
	put_html(out, what);
	fputs("</span></li>\n", out);
}

/*
 * Write the report of the batches in res (history's query: one row per
 * batch, newest first) to path ("-": standard output).
 */
void
ir_write_html(PGconn *conn, const char *path, PGresult *res, const char *filter)
{
	FILE	   *out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	int			nrows = PQntuples(res);
	long long	applied = 0,
				rolled_back = 0,
				failed = 0,
				cancelled = 0,
				pending = 0,
				rejected = 0,
				not_safe = 0;
	char		when[64];
	time_t		t = time(NULL);

	if (out == NULL)
	{
		ir_error("could not open file \"%s\" for writing: %s", path, strerror(errno));
		ir_disconnect(conn);
		exit(EXIT_ERROR);
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
	for (int r = 0; r < nrows; r++)
	{
		const char *state = field(res, r, "state");
		const char *rej = field(res, r, "rows_rejected");
		const char *safe = field(res, r, "safe_to_retry");

		if (state == NULL)
			continue;
		if (strcmp(state, "applied") == 0)
			applied++;
		else if (strcmp(state, "rolled_back") == 0)
			rolled_back++;
		else if (strcmp(state, "failed") == 0)
			failed++;
		else if (strcmp(state, "cancelled") == 0)
			cancelled++;
		else
			pending++;
		if (rej)
			rejected += atoll(rej);
		if (safe && strcmp(safe, "f") == 0)
			not_safe++;
	}

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Import history: ", out);
	put_html(out, PQdb(conn));
	fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
	fputs("<h1>Import history</h1>\n<p class=\"meta\">Database <b>", out);
	put_html(out, PQdb(conn));
	fputs("</b>", out);
	if (filter)
	{
		fputs(", target <b>", out);
		put_html(out, filter);
		fputs("</b>", out);
	}
	fprintf(out, " &middot; %d batch%s, newest first &middot; generated %s by import_rollback %s</p>\n",
			nrows, nrows == 1 ? "" : "es", when, IR_VERSION);

	fputs("<ul class=\"cards\">\n", out);
	card(out, applied, "applied");
	card(out, rolled_back, "rolled back");
	card(out, failed, "failed");
	card(out, cancelled, "cancelled");
	card(out, pending, "not applied yet");
	card(out, rejected, "rows rejected");
	card(out, not_safe, "not safe to retry");
	fputs("</ul>\n", out);

	fputs("<div class=\"wrap\"><table>\n<thead><tr><th class=\"n\">Batch</th><th>File</th><th>Started by</th>"
		  "<th>Started at</th><th class=\"n\">Rows</th><th class=\"n\">Valid</th><th class=\"n\">Errors</th>"
		  "<th class=\"n\">Inserted</th><th class=\"n\">Updated</th><th class=\"n\">Unchanged</th>"
		  "<th>State</th><th>Safe to retry</th></tr></thead>\n<tbody>\n", out);
	for (int r = 0; r < nrows; r++)
	{
		const char *state = field(res, r, "state");
		const char *safe = field(res, r, "safe_to_retry");
		const char *err = field(res, r, "why");
		const char *bytes = field(res, r, "source_bytes");
		const char *sha = field(res, r, "source_sha256");
		const char *rolled = field(res, r, "rolled_back_at");
		char		buf[32];

		fputs("<tr>", out);
		fprintf(out, "<td class=\"n\">%s</td>", field(res, r, "batch_id"));
		fputs("<td class=\"f\"><span class=\"file\">", out);
		put_html(out, field(res, r, "source_name") ? field(res, r, "source_name") : "");
		fputs("</span>", out);
		/* into which table, how big, which bytes */
		fputs("<span class=\"sub\">into ", out);
		put_html(out, field(res, r, "target") ? field(res, r, "target") : "?");
		if (bytes)
			fprintf(out, " &middot; %s", human_bytes(atoll(bytes), buf, sizeof(buf)));
		if (sha)
			fprintf(out, " &middot; SHA-256 %.12s&hellip;", sha);
		fputs("</span></td><td>", out);
		put_html(out, field(res, r, "started_by") ? field(res, r, "started_by") : "");
		fputs("</td><td class=\"when\">", out);
		put_html(out, field(res, r, "started_at") ? field(res, r, "started_at") : "");
		fputs("</td>", out);
		count_cell(out, res, r, "rows_total", false);
		count_cell(out, res, r, "rows_valid", false);
		count_cell(out, res, r, "rows_rejected", true);
		count_cell(out, res, r, "inserted", false);
		count_cell(out, res, r, "updated", false);
		count_cell(out, res, r, "unchanged", false);
		fprintf(out, "<td class=\"s\"><span class=\"st %s\">", state ? state : "");
		for (const char *p = state ? state : ""; *p; p++)
			fputc(*p == '_' ? ' ' : *p, out);
		fputs("</span>", out);
		if (rolled)
		{
			fputs("<span class=\"sub\">", out);
			put_html(out, rolled);
			fputs("</span>", out);
		}
		if (err)
		{
			fputs("<span class=\"why\">", out);
			put_html(out, err);
			fputs("</span>", out);
		}
		else if (state && strcmp(state, "rolled_back") == 0 && safe && strcmp(safe, "f") == 0)
			fputs("<span class=\"why\">fields changed since were left as they are (conflicts)</span>", out);
		fputs("</td>", out);
		if (safe && strcmp(safe, "t") == 0)
			fputs("<td class=\"yes\">yes</td>", out);
		else
			fputs("<td class=\"no\">no</td>", out);
		fputs("</tr>\n", out);
	}
	if (nrows == 0)
		fputs("<tr><td colspan=\"12\">No batches.</td></tr>\n", out);
	fputs("</tbody>\n</table></div>\n", out);
	fputs("<p class=\"legend\"><b>Errors</b>: rows of the file that were rejected (wrong number of fields, "
		  "values their column cannot take, failed rules); they were never written. "
		  "<b>Safe to retry</b>: live data holds none of the batch's writes (it was never applied, or it "
		  "was rolled back completely), so the file can be run again. "
		  "An applied batch is undone with <code>import_rollback rollback BATCH</code>.</p>\n", out);
	fputs("</body>\n</html>\n", out);

	if (out != stdout)
	{
		if (fclose(out) != 0)
		{
			ir_error("could not write file \"%s\": %s", path, strerror(errno));
			ir_disconnect(conn);
			exit(EXIT_ERROR);
		}
		ir_info("wrote \"%s\": %d batch%s", path, nrows, nrows == 1 ? "" : "es");
	}
	else
		fflush(stdout);
}
