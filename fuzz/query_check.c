/*-------------------------------------------------------------------------
 *
 * query_check.c (fuzz target "query_check")
 *	  Fuzzes src/fdw/query_check.c: bq_query_scan(), the GoogleSQL lexer
 *	  that decides whether a non-superuser's "query" option is exactly one
 *	  SELECT statement, and bq_check_query_option(), its ERROR.  The verdicts
 *	  are checked against a reference tokenizer written here, separately,
 *	  from the flex rules of ZetaSQL (zetasql/parser/flex_tokenizer.l):
 *	  each rule a matcher, the longest match winning at each position, the
 *	  earlier rule on a tie, and a "\n" appended to the text as ZetaSQL does.
 *
 * Input: the query text (up to its first NUL byte, as an option value is).
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	wrapped_safely	the query was accepted, yet what bqstream_fdw sends,
 *					WRAP_BEFORE <query> WRAP_AFTER, read by the reference
 *					tokenizer, has an unterminated literal or comment, a ";",
 *					a ")" closing below the outer level, a "(" of the
 *					wrapper closed anywhere but at the wrapper's ")", or
 *					tokens after it other than the wrapper's own.
 *	verdict_right	the verdict or its offset is not the one the reference
 *					tokens give (same rules: the first problem in text
 *					order; see ref_verdict()).
 *	error_sane		bq_check_query_option() returned for a refused query, or
 *					raised for an accepted one, or its ERROR is not
 *					'invalid value for option "query"' with a detail, SQLSTATE
 *					42501 (what a superuser could mean) or 22023 (what could
 *					work for nobody).
 *
 * Built with -DBQFUZZ_CLI it is instead a filter for
 * test_query_check_lexer.py: each input line is a query in hex, each output
 * line "<verdict number> <offset>" (the enum BqQueryVerdict).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>
#include <stdio.h>

#include "fdw/query_check.h"
#include "mb/pg_wchar.h"
#include "pg_shim.h"

/* what fdw.c builds around a query option (its shape; one line) */
#define WRAP_BEFORE "SELECT `a`, `b` FROM ("
#define WRAP_AFTER ") AS q WHERE `b` = @p1 GROUP BY 1 ORDER BY `a` LIMIT 10"

/* the backend's, over the shim's UTF-8 pg_mblen() */
int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			len = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		len++;
	}
	return len;
}

/* ---------------------------------------------------------------------
 * The reference tokenizer
 * ---------------------------------------------------------------------
 */

typedef enum RefKind
{
	REF_WORD,					/* identifier, keyword, number */
	REF_QUOTED_ID,				/* back-quoted identifier */
	REF_LITERAL,				/* string or bytes literal, prefix included */
	REF_PUNCT,					/* any other byte, alone */
	/* the error rules: the text ends there */
	REF_OPEN_STRING,
	REF_OPEN_BYTES,
	REF_OPEN_ID,
	REF_OPEN_COMMENT
} RefKind;

typedef struct RefToken
{
	RefKind		kind;
	size_t		start;
	size_t		end;
} RefToken;

typedef struct RefLex
{
	RefToken   *tok;
	int			ntok;
	bool		line_comment_at_end;	/* a -- or # comment ended by the
										 * appended "\n" */
	size_t		line_comment_start;
} RefLex;

static bool
ref_word_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
ref_word_char(char c)
{
	return ref_word_start(c) || (c >= '0' && c <= '9');
}

/* {whitespace_character}, ASCII part (the UTF-8 spaces: see the header) */
static bool
ref_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\b' ||
		c == '\f' || c == '\v';
}

/* {any_escape} at s[i] (a backslash): its length, or 0 */
static size_t
m_escape(const char *s, size_t n, size_t i)
{
	if (i + 1 >= n)
		return 0;
	if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
		return 3;
	return 2;
}

/*
 * {sqtext_0} (or dq, bq) at p: the quote, then ({no_backslash_q_newline} |
 * {any_escape})*, the longest.
 */
static size_t
m_text_0(const char *s, size_t n, size_t p)
{
	char		q = s[p];
	size_t		i = p + 1;

	for (;;)
	{
		size_t		e;

		if (i >= n)
			break;
		if (s[i] == '\\')
		{
			if ((e = m_escape(s, n, i)) == 0)
				break;
			i += e;
		}
		else if (s[i] != q && s[i] != '\n' && s[i] != '\r')
			i++;
		else
			break;
	}
	return i - p;
}

/*
 * {sq3text_0} and {sq3text} (or dq) at p, which starts with three quotes:
 * the quotes, then (({q}|{q}{q})?({no_backslash_q}|{any_escape}))*, as an
 * automaton whose accepting positions are those after a whole element;
 * the longest of each.
 */
static void
m_text3(const char *s, size_t n, size_t p, size_t *open_len, size_t *closed_len)
{
	char		q = s[p];
	size_t		i = p + 3;
	int			quotes = 0;		/* quotes read since the last element */

	*open_len = 3;
	*closed_len = 0;
	for (;;)
	{
		size_t		e;

		if (quotes == 0)
		{
			*open_len = i - p;
			if (i + 2 < n && s[i] == q && s[i + 1] == q && s[i + 2] == q)
				*closed_len = i + 3 - p;
		}
		if (i >= n)
			return;
		if (s[i] == q)
		{
			if (quotes == 2)
				return;
			quotes++;
			i++;
		}
		else if (s[i] == '\\')
		{
			if ((e = m_escape(s, n, i)) == 0)
				return;
			i += e;
			quotes = 0;
		}
		else
		{
			i++;
			quotes = 0;
		}
	}
}

/*
 * The rules for what starts at the quote s[q] (a prefix before it changes
 * no length): the longest of {string_literal}, {bytes_literal} or
 * {identifier} and of the unterminated rules.  Returns the closed length,
 * or 0 when an unterminated rule wins (the earlier, closed rule wins a tie).
 */
static size_t
m_literal(const char *s, size_t n, size_t q)
{
	size_t		open = m_text_0(s, n, q);
	size_t		closed = (q + open < n && s[q + open] == s[q]) ? open + 1 : 0;

	if (s[q] != '`' && q + 2 < n && s[q + 1] == s[q] && s[q + 2] == s[q])
	{
		size_t		open3,
					closed3;

		m_text3(s, n, q, &open3, &closed3);
		open = Max(open, open3);
		closed = Max(closed, closed3);
	}
	return closed >= open ? closed : 0;
}

/* the prefix (r, b, rb, br in any case) that flex would take at p, or 0 */
static size_t
m_prefix(const char *s, size_t n, size_t p)
{
	char		a = p < n ? s[p] | 0x20 : 0;
	char		b = p + 1 < n ? s[p + 1] | 0x20 : 0;

	if ((a == 'r' && b == 'b') || (a == 'b' && b == 'r'))
	{
		if (p + 2 < n && (s[p + 2] == '\'' || s[p + 2] == '"'))
			return 2;
	}
	if ((a == 'r' || a == 'b') && p + 1 < n && (s[p + 1] == '\'' || s[p + 1] == '"'))
		return 1;
	return 0;
}

/* Tokenize s[0..n), which ends with the "\n" ZetaSQL appends. */
static void
ref_lex(const char *s, size_t n, RefLex *lx)
{
	size_t		p = 0;

	lx->tok = palloc((n + 1) * sizeof(RefToken));
	lx->ntok = 0;
	lx->line_comment_at_end = false;
	while (p < n)
	{
		RefToken   *t = &lx->tok[lx->ntok];
		char		c = s[p];

		if (ref_space(c))
		{
			p++;
			continue;
		}
		/* {dash_comment}, {pound_comment}: [^\r\n]* then \r, \n or \r\n */
		if (c == '#' || (c == '-' && p + 1 < n && s[p + 1] == '-'))
		{
			size_t		i = p;

			while (i < n && s[i] != '\r' && s[i] != '\n')
				i++;
			if (i < n)
			{
				/* ended by the appended "\n" itself, not by the text's own */
				if (i == n - 1)
				{
					lx->line_comment_at_end = true;
					lx->line_comment_start = p;
				}
				i += (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
				p = i;
				continue;
			}
			/* no line end at all: only "-" or "#" alone would match */
		}
		/* {cs_comment}, else {cs_comment_begin}: an error */
		if (c == '/' && p + 1 < n && s[p + 1] == '*')
		{
			size_t		i = p + 2;
			bool		star = false;

			while (i < n && !(star && s[i] == '/'))
				star = s[i++] == '*';
			if (i >= n)
			{
				*t = (RefToken) {REF_OPEN_COMMENT, p, n};
				lx->ntok++;
				return;
			}
			p = i + 1;
			continue;
		}
		t->start = p;
		if (c == '\'' || c == '"' || c == '`' || m_prefix(s, n, p) > 0)
		{
			size_t		plen = m_prefix(s, n, p);
			size_t		len = m_literal(s, n, p + plen);

			if (len == 0)
			{
				bool		bytes = plen == 2 || (plen == 1 && (s[p] | 0x20) == 'b');

				t->kind = c == '`' ? REF_OPEN_ID : bytes ? REF_OPEN_BYTES : REF_OPEN_STRING;
				t->end = n;
				lx->ntok++;
				return;
			}
			t->kind = c == '`' ? REF_QUOTED_ID : REF_LITERAL;
			p += plen + len;
		}
		else if (ref_word_char(c))
		{
			/* {unquoted_identifier}, keywords, numbers: one word */
			t->kind = REF_WORD;
			while (p < n && ref_word_char(s[p]))
				p++;
		}
		else
		{
			t->kind = REF_PUNCT;
			p++;
		}
		t->end = p;
		lx->ntok++;
	}
}

static bool
ref_is(const char *s, const RefToken *t, char c)
{
	return t->kind == REF_PUNCT && s[t->start] == c;
}

static bool
ref_word_is(const char *s, const RefToken *t, const char *word)
{
	size_t		len = strlen(word);

	if (t->kind != REF_WORD || t->end - t->start != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((s[t->start + i] | 0x20) != word[i])
			return false;
	return true;
}

/*
 * The verdict on a query of "len" bytes from the reference tokens of the
 * query plus "\n": the first problem in text order, as query_check.c
 * promises.  An error rule ends the tokens; an unterminated comment after
 * a ";" counts as the end of the text.
 */
static BqQueryVerdict
ref_verdict(const char *s, size_t len, const RefLex *lx, size_t *offset)
{
	size_t		depth = 0;
	size_t		outer_open = 0;
	bool		first = true;

	*offset = 0;
	for (int k = 0; k < lx->ntok; k++)
	{
		const RefToken *t = &lx->tok[k];

		*offset = t->start;
		if (t->kind == REF_OPEN_COMMENT)
			return BQ_QUERY_OPEN_COMMENT;
		if (first && !ref_is(s, t, '('))
		{
			if (!ref_word_is(s, t, "select") && !ref_word_is(s, t, "with"))
				return BQ_QUERY_NOT_SELECT;
			first = false;
		}
		switch (t->kind)
		{
			case REF_OPEN_STRING:
				return BQ_QUERY_OPEN_STRING;
			case REF_OPEN_BYTES:
				return BQ_QUERY_OPEN_BYTES;
			case REF_OPEN_ID:
				return BQ_QUERY_OPEN_IDENTIFIER;
			default:
				break;
		}
		if (ref_is(s, t, ';'))
		{
			if (k + 1 == lx->ntok || lx->tok[k + 1].kind == REF_OPEN_COMMENT)
				return BQ_QUERY_FINAL_SEMICOLON;
			return BQ_QUERY_SECOND_STATEMENT;
		}
		if (ref_is(s, t, '('))
		{
			if (depth++ == 0)
				outer_open = t->start;
		}
		else if (ref_is(s, t, ')'))
		{
			if (depth == 0)
				return BQ_QUERY_EXTRA_CLOSE;
			depth--;
		}
	}
	if (lx->line_comment_at_end)
	{
		*offset = lx->line_comment_start;
		return BQ_QUERY_OPEN_LINE_COMMENT;
	}
	if (first)
	{
		*offset = len;
		return BQ_QUERY_NOT_SELECT;
	}
	if (depth > 0)
	{
		*offset = outer_open;
		return BQ_QUERY_UNCLOSED_PAREN;
	}
	*offset = 0;
	return BQ_QUERY_OK;
}

/* ---------------------------------------------------------------------
 * The properties
 * ---------------------------------------------------------------------
 */

static char *
with_newline(const char *a, size_t alen, const char *b, const char *c)
{
	size_t		blen = strlen(b);
	size_t		clen = strlen(c);
	char	   *s = palloc(alen + blen + clen + 2);

	memcpy(s, a, alen);
	memcpy(s + alen, b, blen);
	memcpy(s + alen + blen, c, clen);
	s[alen + blen + clen] = '\n';
	s[alen + blen + clen + 1] = '\0';
	return s;
}

static void
check_wrapped(const char *query, size_t len)
{
	size_t		before = strlen(WRAP_BEFORE);
	size_t		close_at = before + len;
	char	   *w = with_newline(WRAP_BEFORE, before, query, WRAP_AFTER);
	size_t		n = close_at + strlen(WRAP_AFTER) + 1;
	RefLex		lx;
	RefLex		after;
	size_t		depth = 0;
	int			k;

	ref_lex(w, n, &lx);
	for (k = 0; k < lx.ntok; k++)
	{
		const RefToken *t = &lx.tok[k];

		if (t->kind >= REF_OPEN_STRING)
			bqfuzz_fail("wrapped_safely", "an unterminated literal or comment at %zu", t->start);
		if (ref_is(w, t, ';'))
			bqfuzz_fail("wrapped_safely", "a \";\" at %zu", t->start);
		if (ref_is(w, t, '('))
			depth++;
		else if (ref_is(w, t, ')'))
		{
			if (depth == 0)
				bqfuzz_fail("wrapped_safely", "a \")\" closing below the outer level at %zu", t->start);
			if (--depth == 0)
				break;
		}
	}
	if (k == lx.ntok || lx.tok[k].start != close_at)
		bqfuzz_fail("wrapped_safely", "the wrapper's \"(\" is not closed by its own \")\"");

	/* what follows is the wrapper's, token for token */
	ref_lex(w + close_at, n - close_at, &after);
	if (lx.ntok - k != after.ntok)
		bqfuzz_fail("wrapped_safely", "%d tokens after the query, not %d", lx.ntok - k, after.ntok);
	for (int j = 0; j < after.ntok; j++)
		if (lx.tok[k + j].kind != after.tok[j].kind ||
			lx.tok[k + j].start != close_at + after.tok[j].start ||
			lx.tok[k + j].end != close_at + after.tok[j].end)
			bqfuzz_fail("wrapped_safely", "token %d after the query differs", j);
}

static void
check_error(const char *query, BqQueryVerdict verdict)
{
	volatile bool raised = false;

	PG_TRY();
	{
		bq_check_query_option(query);
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();
		bool		privilege = verdict == BQ_QUERY_NOT_SELECT ||
			verdict == BQ_QUERY_SECOND_STATEMENT || verdict == BQ_QUERY_EXTRA_CLOSE;

		raised = true;
		if (e->elevel != ERROR ||
			e->sqlerrcode != (privilege ? ERRCODE_INSUFFICIENT_PRIVILEGE : ERRCODE_INVALID_PARAMETER_VALUE) ||
			e->message == NULL || strcmp(e->message, "invalid value for option \"query\"") != 0 ||
			e->detail == NULL)
			bqfuzz_fail("error_sane", "verdict %d: SQLSTATE %d, message %s, detail %s",
						(int) verdict, e->sqlerrcode, e->message ? e->message : "(none)",
						e->detail ? e->detail : "(none)");
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	if (raised != (verdict != BQ_QUERY_OK))
		bqfuzz_fail("error_sane", "verdict %d, yet %s", (int) verdict,
					raised ? "an ERROR" : "no ERROR");
}

static BqQueryVerdict
check(const char *query)
{
	size_t		len = strlen(query);
	size_t		offset;
	BqQueryVerdict verdict = bq_query_scan(query, len, &offset);

	if (bqfuzz_check("verdict_right"))
	{
		char	   *q = with_newline(query, len, "", "");
		RefLex		lx;
		size_t		ref_offset;
		BqQueryVerdict ref;

		ref_lex(q, len + 1, &lx);
		ref = ref_verdict(q, len, &lx, &ref_offset);
		if (verdict != ref || (verdict != BQ_QUERY_OK && offset != ref_offset))
			bqfuzz_fail("verdict_right", "verdict %d at %zu, the reference's %d at %zu",
						(int) verdict, offset, (int) ref, ref_offset);
	}
	if (offset > len)
		bqfuzz_fail("verdict_right", "offset %zu past the end (%zu)", offset, len);
	if (verdict == BQ_QUERY_OK && bqfuzz_check("wrapped_safely"))
		check_wrapped(query, len);
	if (bqfuzz_check("error_sane"))
		check_error(query, verdict);
	return verdict;
}

#ifndef BQFUZZ_CLI

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bqfuzz_begin();
	check(bqfuzz_cstring(data, size));
	bqfuzz_end();
	return 0;
}

#else

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
main(void)
{
	static char line[1 << 20];

	bqfuzz_init();
	while (fgets(line, sizeof(line), stdin))
	{
		size_t		len = strcspn(line, "\r\n");
		char	   *query;
		size_t		offset;
		BqQueryVerdict verdict;

		bqfuzz_begin();
		query = palloc(len / 2 + 1);
		for (size_t i = 0; i + 1 < len; i += 2)
			query[i / 2] = (char) (hexval(line[i]) * 16 + hexval(line[i + 1]));
		query[len / 2] = '\0';
		check(query);
		verdict = bq_query_scan(query, strlen(query), &offset);
		printf("%d %zu\n", (int) verdict, offset);
		fflush(stdout);
		bqfuzz_end();
	}
	return 0;
}

#endif
