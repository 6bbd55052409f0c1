/*-------------------------------------------------------------------------
 *
 * formats.c
 *	  The built-in formats of the "format" rule, checked in C:
 *	  import_rollback.ir_format(value, format) is true when value is a
 *	  valid
 *	    1 email  local@domain.tld: one "@", something before it, a domain
 *	             with a dot that has something on both sides, no blank
 *	    2 phone  an optional leading "+", then digits, spaces, "(", ")",
 *	             "." and "-" only, with 6 to 15 digits
 *	    3 url    http:// or https://, a host (no "/", "?" or "#" first),
 *	             no blank anywhere
 *	  A blank is ASCII white space and, in a UTF-8 database, any Unicode
 *	  White_Space character (no-break space included).
 *
 * These were regular expressions; each is a few comparisons per byte
 * here, where PostgreSQL's regex engine costs microseconds per value (a
 * million emails took 0.4 of a COPY of their file).  User "pattern"s stay
 * regular expressions, compiled once per statement by the engine.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "compat.h"
#include "formats.h"

PG_FUNCTION_INFO_V1(ir_format);

/* Unicode White_Space beyond ASCII. */
static bool
unicode_blank(pg_wchar c)
{
	return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
		c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Does s[0..len) hold a blank? */
static bool
has_blank(const char *s, int len)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	for (int i = 0; i < len;)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x80)
		{
			if (c == ' ' || (c >= '\t' && c <= '\r'))
				return true;
			i++;
			continue;
		}
		if (!utf8)
		{
			i++;
			continue;
		}
		if (unicode_blank(utf8_to_unicode((const unsigned char *) s + i)))
			return true;
		i += pg_utf_mblen((const unsigned char *) s + i);
	}
	return false;
}

static bool
valid_email(const char *s, int len)
{
	const char *at = memchr(s, '@', len);
	const char *domain;
	int			dlen;
	int			lastdot = -1;

	if (at == NULL || at == s || memchr(at + 1, '@', len - (at + 1 - s)) != NULL)
		return false;
	domain = at + 1;
	dlen = len - (domain - s);
	for (int i = 0; i < dlen; i++)
		if (domain[i] == '.')
			lastdot = i;
	/* something before the last dot, something after it */
	if (lastdot < 1 || lastdot == dlen - 1)
		return false;
	return !has_blank(s, len);
}

static bool
valid_phone(const char *s, int len)
{
	int			digits = 0;

	for (int i = (len > 0 && s[0] == '+') ? 1 : 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
			digits++;
		else if (c != ' ' && c != '(' && c != ')' && c != '.' && c != '-')
			return false;
	}
	return digits >= 6 && digits <= 15;
}

static bool
valid_url(const char *s, int len)
{
	int			start;

	if (len > 7 && strncmp(s, "http://", 7) == 0)
		start = 7;
	else if (len > 8 && strncmp(s, "https://", 8) == 0)
		start = 8;
	else
		return false;
	if (s[start] == '/' || s[start] == '?' || s[start] == '#')
		return false;
	return !has_blank(s, len);
}

/* Is s[0..len) valid under format (IrFormat)? */
bool
ir_format_valid(IrFormat format, const char *s, int len)
{
	switch (format)
	{
		case IR_FORMAT_EMAIL:
			return valid_email(s, len);
		case IR_FORMAT_PHONE:
			return valid_phone(s, len);
		case IR_FORMAT_URL:
			return valid_url(s, len);
	}
	elog(ERROR, "unknown format %d", (int) format);
	pg_unreachable();
}

/* ir_format(value text, format int) RETURNS boolean, STRICT */
Datum
ir_format(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(ir_format_valid((IrFormat) PG_GETARG_INT32(1), VARDATA_ANY(value),
								   VARSIZE_ANY_EXHDR(value)));
}
