/*-------------------------------------------------------------------------
 *
 * jsonscan.c
 *	  A validating, allocation-free JSON scanner (see jsonscan.h).
 *
 * Everything here is a plain function of the input: no palloc, no ereport,
 * so it is safe anywhere and cheap enough for every message of a pull.
 * Errors set s->error and make every later call fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"

#include "gcp/jsonscan.h"

/* deeper documents are refused, as jansson refuses past its own limit */
#define JS_MAX_DEPTH 64

static inline void
skip_ws(JsonScan *s)
{
	/*
	 * Compact JSON (what Pub/Sub and the generator send) has no whitespace:
	 * every byte that may start a token lies above ' ', so one comparison
	 * settles the usual case.
	 */
	if (likely(s->p < s->end && (unsigned char) *s->p > ' '))
		return;
	while (s->p < s->end &&
		   (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static bool
fail(JsonScan *s, const char *why)
{
	if (s->error == NULL)
	{
		s->error = why;
		s->error_at = s->p;
	}
	s->p = s->end;
	return false;
}

void
js_init(JsonScan *s, const char *data, size_t len)
{
	s->p = data;
	s->end = data + len;
	s->depth = 0;
	s->error = NULL;
	s->error_at = NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
read_hex4(const char *p)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			h = hexval(p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* bytes a string may hold as they are: printable ASCII but '"' and '\\' */
static bool plain_byte[256];
static bool plain_ready = false;

static void
init_plain(void)
{
	for (int c = 0x20; c < 0x80; c++)
		plain_byte[c] = c != '"' && c != '\\';
	plain_ready = true;
}

#define JS_ONES		UINT64CONST(0x0101010101010101)
#define JS_HIGHS	UINT64CONST(0x8080808080808080)

/*
 * How many of the eight bytes at p are plain (as plain_byte[] says) before
 * the first that is not; 8 when all are.  The usual bit trick: a byte below
 * 0x20, equal to '"' or '\\', or with its high bit set sets the high bit of
 * its lane.  Borrows only run from a lane that is not plain into the lanes
 * above it (later bytes on a little-endian machine), so the lowest lane
 * flagged is exactly the first byte that is not plain.  Base64 data and IDs
 * are long runs of plain bytes: eight at a time is most of the scanning
 * saved.
 */
static inline int
plain_prefix8(const char *p)
{
	uint64		x;
	uint64		flags;

	memcpy(&x, p, sizeof(x));
#ifdef WORDS_BIGENDIAN
	x = pg_bswap64(x);
#endif
	flags = ((x - JS_ONES * 0x20) |
			 ((x ^ (JS_ONES * '"')) - JS_ONES) |
			 ((x ^ (JS_ONES * '\\')) - JS_ONES) |
			 x) & JS_HIGHS;
	return flags == 0 ? 8 : pg_rightmost_one_pos64(flags) / 8;
}

/*
 * The general case of scan_string(): tok is set up, and p is at the first
 * byte that the fast path did not take (escapes, UTF-8, errors, the end of
 * the input near).
 */
static pg_noinline bool
scan_string_rest(JsonScan *s, JsToken *tok, const char *p)
{
	if (unlikely(!plain_ready))
		init_plain();
	while (p < s->end)
	{
		unsigned char c;

		/* the common case, base64 and identifiers: a run of plain bytes */
		while (s->end - p >= 8)
		{
			int			n = plain_prefix8(p);

			p += n;
			if (n < 8)
				break;
		}
		if (s->end - p < 8)
			while (p < s->end && plain_byte[(unsigned char) *p])
				p++;
		if (p >= s->end)
			break;
		c = (unsigned char) *p;

		if (c == '"')
		{
			tok->len = p - tok->start;
			s->p = p + 1;
			return true;
		}
		if (c < 0x20)
		{
			s->p = p;
			return fail(s, "control character in a string");
		}
		if (c == '\\')
		{
			tok->escaped = true;
			if (p + 1 >= s->end)
				break;
			switch (p[1])
			{
				case '"':
				case '\\':
				case '/':
				case 'b':
				case 'f':
				case 'n':
				case 'r':
				case 't':
					p += 2;
					continue;
				case 'u':
					{
						int			cp;

						if (p + 6 > s->end || (cp = read_hex4(p + 2)) < 0)
						{
							s->p = p;
							return fail(s, "invalid \\u escape");
						}
						if (cp == 0)
						{
							s->p = p;
							return fail(s, "\\u0000 in a string");
						}
						p += 6;
						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							int			lo;

							if (p + 6 > s->end || p[0] != '\\' || p[1] != 'u' ||
								(lo = read_hex4(p + 2)) < 0xDC00 || lo > 0xDFFF)
							{
								s->p = p;
								return fail(s, "unpaired surrogate in a string");
							}
							p += 6;
						}
						else if (cp >= 0xDC00 && cp <= 0xDFFF)
						{
							s->p = p;
							return fail(s, "unpaired surrogate in a string");
						}
						continue;
					}
				default:
					s->p = p;
					return fail(s, "invalid escape in a string");
			}
		}
		if (c < 0x80)
		{
			p++;
			continue;
		}
		{
			int			l = pg_utf_mblen((const unsigned char *) p);

			if (p + l > s->end || !pg_utf8_islegal((const unsigned char *) p, l))
			{
				s->p = p;
				return fail(s, "invalid UTF-8 in a string");
			}
			p += l;
		}
	}
	s->p = p;
	return fail(s, "unterminated string");
}

/*
 * s->p is at the opening quote.  Inline, for the strings that are plain
 * bytes up to the closing quote (all the keys and most values a worker
 * reads): the rest is left to scan_string_rest().
 */
static inline bool
scan_string(JsonScan *s, JsToken *tok)
{
	const char *p = s->p + 1;

	tok->type = JT_STRING;
	tok->start = p;
	tok->escaped = false;
	while (s->end - p >= 8)
	{
		int			n = plain_prefix8(p);

		p += n;
		if (n < 8)
		{
			if (*p != '"')
				break;
			tok->len = p - tok->start;
			s->p = p + 1;
			return true;
		}
	}
	return scan_string_rest(s, tok, p);
}

static bool
scan_number(JsonScan *s, JsToken *tok)
{
	const char *p = s->p;

	tok->type = JT_NUMBER;
	tok->start = p;
	if (p < s->end && *p == '-')
		p++;
	if (p < s->end && *p == '0')
		p++;
	else if (p < s->end && *p >= '1' && *p <= '9')
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	else
		return fail(s, "invalid number");
	if (p < s->end && *p == '.')
	{
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return fail(s, "invalid number");
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return fail(s, "invalid number");
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	tok->len = p - tok->start;
	s->p = p;
	return true;
}

static bool
scan_literal(JsonScan *s, JsToken *tok, const char *word, JsTokenKind type)
{
	size_t		n = strlen(word);

	if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return fail(s, "invalid literal");
	tok->type = type;
	tok->start = s->p;
	tok->len = n;
	s->p += n;
	return true;
}

JsTokenKind
js_value(JsonScan *s, JsToken *tok)
{
	tok->type = JT_ERROR;
	skip_ws(s);
	if (s->p >= s->end)
	{
		fail(s, "unexpected end of input");
		return JT_ERROR;
	}
	switch (*s->p)
	{
		case '{':
		case '[':
			if (++s->depth > JS_MAX_DEPTH)
			{
				fail(s, "nesting too deep");
				return JT_ERROR;
			}
			tok->type = *s->p == '{' ? JT_OBJECT : JT_ARRAY;
			tok->start = s->p++;
			tok->len = 1;
			return tok->type;
		case '"':
			return scan_string(s, tok) ? JT_STRING : JT_ERROR;
		case 't':
			return scan_literal(s, tok, "true", JT_TRUE) ? JT_TRUE : JT_ERROR;
		case 'f':
			return scan_literal(s, tok, "false", JT_FALSE) ? JT_FALSE : JT_ERROR;
		case 'n':
			return scan_literal(s, tok, "null", JT_NULL) ? JT_NULL : JT_ERROR;
		default:
			return scan_number(s, tok) ? JT_NUMBER : JT_ERROR;
	}
}

bool
js_peek_string(JsonScan *s, JsToken *tok)
{
	const char *q;

	skip_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return false;
	q = memchr(s->p + 1, '"', s->end - s->p - 1);
	if (q == NULL)
		return false;
	tok->type = JT_STRING;
	tok->start = s->p + 1;
	tok->len = q - tok->start;
	tok->escaped = false;
	return true;
}

void
js_take_plain_string(JsonScan *s, const JsToken *tok)
{
	Assert(tok->start == s->p + 1 && tok->start[tok->len] == '"');
	s->p = tok->start + tok->len + 1;
}

/* After a member or element: a comma, or the closing bracket. */
static bool
next_member(JsonScan *s, bool *first, char close)
{
	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, "unexpected end of input");
	if (*s->p == close)
	{
		s->p++;
		s->depth--;
		return false;
	}
	if (!*first)
	{
		if (*s->p != ',')
			return fail(s, "expected a comma");
		s->p++;
		skip_ws(s);
	}
	*first = false;
	return true;
}

bool
js_object_next(JsonScan *s, JsToken *key, bool *first)
{
	if (!next_member(s, first, '}'))
		return false;
	if (s->p >= s->end || *s->p != '"')
		return fail(s, "expected a member name");
	if (!scan_string(s, key))
		return false;
	skip_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return fail(s, "expected a colon");
	s->p++;
	return true;
}

bool
js_array_next(JsonScan *s, bool *first)
{
	return next_member(s, first, ']');
}

bool
js_skip(JsonScan *s, const char **span, size_t *len)
{
	JsToken	tok;
	JsToken	key;
	const char *start;
	bool		first = true;

	skip_ws(s);
	start = s->p;
	switch (js_value(s, &tok))
	{
		case JT_ERROR:
			return false;
		case JT_OBJECT:
			while (js_object_next(s, &key, &first))
				if (!js_skip(s, NULL, NULL))
					return false;
			break;
		case JT_ARRAY:
			while (js_array_next(s, &first))
				if (!js_skip(s, NULL, NULL))
					return false;
			break;
		default:
			break;
	}
	if (s->error)
		return false;
	if (span)
	{
		*span = start;
		*len = s->p - start;
	}
	return true;
}

void
js_finish(JsonScan *s, JsTokenKind entered)
{
	JsToken	key;
	bool		first = true;

	if (entered == JT_OBJECT)
	{
		while (js_object_next(s, &key, &first))
			js_skip(s, NULL, NULL);
	}
	else if (entered == JT_ARRAY)
	{
		while (js_array_next(s, &first))
			js_skip(s, NULL, NULL);
	}
}

bool
js_skip_unchecked(JsonScan *s)
{
	const char *p;
	int			depth = 0;

	skip_ws(s);
	p = s->p;
	if (p >= s->end || (*p != '[' && *p != '{'))
		return js_skip(s, NULL, NULL);
	while (p < s->end)
	{
		switch (*p)
		{
			case '"':
				/* to the closing quote: one not escaped by an odd run of backslashes */
				for (;;)
				{
					const char *q = memchr(p + 1, '"', s->end - p - 1);
					const char *b;

					if (q == NULL)
					{
						s->p = s->end;
						return fail(s, "unterminated string");
					}
					for (b = q; b[-1] == '\\'; b--)
						;
					p = q;
					if ((q - b) % 2 == 0)
						break;
				}
				break;
			case '[':
			case '{':
				depth++;
				break;
			case ']':
			case '}':
				if (--depth == 0)
				{
					s->p = p + 1;
					return true;
				}
				break;
			default:
				break;
		}
		p++;
	}
	s->p = s->end;
	return fail(s, "unterminated array or object");
}

bool
js_at_end(JsonScan *s)
{
	skip_ws(s);
	if (s->error == NULL && s->depth > 0)
		fail(s, "unterminated array or object");
	if (s->error == NULL && s->p < s->end)
		fail(s, "text after the end of the document");
	return s->error == NULL;
}

static void
append_utf8(StringInfo buf, pg_wchar cp)
{
	unsigned char tmp[4];
	int			n;

	unicode_to_utf8(cp, tmp);
	n = pg_utf_mblen(tmp);
	appendBinaryStringInfo(buf, (char *) tmp, n);
}

char *
js_string_value(const JsToken *tok, StringInfo buf)
{
	const char *p = tok->start;
	const char *end = tok->start + tok->len;

	resetStringInfo(buf);
	if (!tok->escaped)
	{
		appendBinaryStringInfo(buf, tok->start, tok->len);
		return buf->data;
	}
	/* the scanner checked the escapes already */
	while (p < end)
	{
		if (*p != '\\')
		{
			appendStringInfoChar(buf, *p++);
			continue;
		}
		switch (p[1])
		{
			case 'b':
				appendStringInfoChar(buf, '\b');
				break;
			case 'f':
				appendStringInfoChar(buf, '\f');
				break;
			case 'n':
				appendStringInfoChar(buf, '\n');
				break;
			case 'r':
				appendStringInfoChar(buf, '\r');
				break;
			case 't':
				appendStringInfoChar(buf, '\t');
				break;
			case 'u':
				{
					pg_wchar	cp = read_hex4(p + 2);

					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						cp = 0x10000 + ((cp - 0xD800) << 10) + (read_hex4(p + 8) - 0xDC00);
						p += 6;
					}
					append_utf8(buf, cp);
					p += 6;
					continue;
				}
			default:
				appendStringInfoChar(buf, p[1]);
				break;
		}
		p += 2;
	}
	return buf->data;
}

int
js_error_offset(const JsonScan *s, const char *data)
{
	return s->error_at ? (int) (s->error_at - data) : 0;
}

/*
 * What jansson 2.x allocates per node, as glibc's malloc rounds it (a chunk
 * of the request plus 8 bytes, in steps of 16, at least 32), with what it
 * holds for a while (a table it outgrew, a key's copy, the lexer's
 * buffer): measured with counting allocation functions, the sum lies above
 * jansson's real peak by 5 to 30% on Google's answers and on the cheapest
 * shapes ([], {}, ""), and the fuzz target jsonscan checks that it never
 * lies below.
 */
#define JS_CHUNK(n)			Max(32, ((size_t) (n) + 8 + 15) & ~(size_t) 15)
/* json_array_t and its first table of 8 slots */
#define JS_ARRAY_BYTES		(JS_CHUNK(40) + JS_CHUNK(8 * sizeof(void *)))
/* json_object_t and its first 8 hash buckets */
#define JS_OBJECT_BYTES		(JS_CHUNK(72) + JS_CHUNK(8 * 2 * sizeof(void *)))
/*
 * An element's share of its array's table: tables double, and the old one
 * is freed only once the new one is filled, so three slots an element.
 */
#define JS_ELEMENT_BYTES	(3 * sizeof(void *))
/* a member's pair with its key, and its share of the buckets, likewise */
#define JS_MEMBER_BYTES(keylen) (JS_CHUNK(56 + (keylen) + 1) + 3 * 2 * sizeof(void *))
/* the lexer's copy of a key, kept while the member's value is parsed */
#define JS_KEY_COPY_BYTES(keylen)	JS_CHUNK((keylen) + 1)
/* json_string_t and its text (an escaped span is never shorter) */
#define JS_STRING_BYTES(len)	(JS_CHUNK(32) + JS_CHUNK((len) + 1))
/* json_integer_t or json_real_t; true, false and null are shared */
#define JS_NUMBER_BYTES		JS_CHUNK(24)

size_t
js_tree_size(JsonScan *s, size_t limit)
{
	JsTokenKind open[JS_MAX_DEPTH + 1];
	bool		first[JS_MAX_DEPTH + 1];
	size_t		key_copy[JS_MAX_DEPTH + 1];
	int			depth = 0;
	size_t		bytes = 0;
	size_t		longest = 0;
	size_t		keys = 0;		/* key copies on the path to the value */
	size_t		most_keys = 0;
	JsToken	tok;
	JsToken	key;
	JsTokenKind type = js_value(s, &tok);

	for (;;)
	{
		switch (type)
		{
			case JT_ERROR:
				return bytes;
			case JT_OBJECT:
			case JT_ARRAY:
				/* js_value() refused anything deeper than the stack */
				Assert(depth < lengthof(open));
				bytes += type == JT_OBJECT ? JS_OBJECT_BYTES : JS_ARRAY_BYTES;
				open[depth] = type;
				key_copy[depth] = 0;
				first[depth++] = true;
				break;
			case JT_STRING:
				bytes += JS_STRING_BYTES(tok.len);
				longest = Max(longest, tok.len);
				break;
			case JT_NUMBER:
				bytes += JS_NUMBER_BYTES;
				longest = Max(longest, tok.len);
				break;
			default:
				break;
		}

		/* on to the next value, closing the containers that end here */
		for (;;)
		{
			if (depth == 0)
			{
				/*
				 * The lexer's buffer: 16 bytes, doubled until the longest
				 * token fits with its quotes and a NUL, the old one freed
				 * after the copy.
				 */
				size_t		cap = 16;

				while (cap < longest + 3)
					cap *= 2;
				return bytes + most_keys + JS_CHUNK(cap) + JS_CHUNK(cap / 2);
			}
			keys -= key_copy[depth - 1];
			key_copy[depth - 1] = 0;
			if (open[depth - 1] == JT_OBJECT)
			{
				if (js_object_next(s, &key, &first[depth - 1]))
				{
					bytes += JS_MEMBER_BYTES(key.len);
					longest = Max(longest, key.len);
					key_copy[depth - 1] = JS_KEY_COPY_BYTES(key.len);
					keys += key_copy[depth - 1];
					most_keys = Max(most_keys, keys);
					break;
				}
			}
			else if (js_array_next(s, &first[depth - 1]))
			{
				bytes += JS_ELEMENT_BYTES;
				break;
			}
			if (s->error)
				return bytes;
			depth--;
		}
		if (bytes > limit)
			return bytes;
		type = js_value(s, &tok);
	}
}

/*
 * Decode standard base64 (with or without padding) into dst, which has
 * room for len / 4 * 3 + 3 bytes; return the length, or -1 when the input
 * is not base64.  Pub/Sub data is most of what a worker reads, so a group
 * of four characters costs four lookups in tables that hold each
 * character's six bits already shifted into place (or a sign bit when it is
 * no base64 character): OR them, one test of the sign, three bytes out.
 * Two groups go together while at least one more follows: one test, and
 * their six bytes written as one 8-byte store (the two bytes too many are
 * overwritten by the next group, and stay within the room promised).
 */
static int32 b64_shifted[4][256];
static bool b64_ready = false;

static void
init_base64(void)
{
	const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (int t = 0; t < 4; t++)
		for (int c = 0; c < 256; c++)
			b64_shifted[t][c] = PG_INT32_MIN;
	for (int k = 0; k < 64; k++)
		for (int t = 0; t < 4; t++)
			b64_shifted[t][(unsigned char) alphabet[k]] = k << (18 - 6 * t);
	b64_ready = true;
}

int
js_base64_decode(const char *src, size_t len, char *dst)
{
	const unsigned char *p = (const unsigned char *) src;
	char	   *out = dst;
	size_t		i = 0;

	if (unlikely(!b64_ready))
		init_base64();

	/* one or two '=' may pad the last group; '=' anywhere else is invalid */
	if (len > 0 && len % 4 == 0 && src[len - 1] == '=')
	{
		len--;
		if (src[len - 1] == '=')
			len--;
	}
	if (len % 4 == 1)
		return -1;

	for (; i + 12 <= len; i += 8)
	{
		int32		v1 = b64_shifted[0][p[i]] | b64_shifted[1][p[i + 1]] |
			b64_shifted[2][p[i + 2]] | b64_shifted[3][p[i + 3]];
		int32		v2 = b64_shifted[0][p[i + 4]] | b64_shifted[1][p[i + 5]] |
			b64_shifted[2][p[i + 6]] | b64_shifted[3][p[i + 7]];
		uint64		w;

		if ((v1 | v2) < 0)
			return -1;
		/* the six bytes, first in memory first */
		w = ((uint64) v1 << 40) | ((uint64) v2 << 16);
		w = pg_hton64(w);
		memcpy(out, &w, sizeof(w));
		out += 6;
	}
	for (; i + 4 <= len; i += 4)
	{
		int32		v = b64_shifted[0][p[i]] | b64_shifted[1][p[i + 1]] |
			b64_shifted[2][p[i + 2]] | b64_shifted[3][p[i + 3]];

		if (v < 0)
			return -1;
		out[0] = (char) (v >> 16);
		out[1] = (char) (v >> 8);
		out[2] = (char) v;
		out += 3;
	}
	if (len - i >= 2)
	{
		int32		v = b64_shifted[0][p[i]] | b64_shifted[1][p[i + 1]] |
			(len - i == 3 ? b64_shifted[2][p[i + 2]] : 0);

		if (v < 0)
			return -1;
		*out++ = (char) (v >> 16);
		if (len - i == 3)
			*out++ = (char) (v >> 8);
	}
	return (int) (out - dst);
}
