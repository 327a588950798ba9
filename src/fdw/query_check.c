/*-------------------------------------------------------------------------
 *
 * query_check.c
 *	  A GoogleSQL lexer deciding whether a foreign table's "query" option is
 *	  exactly one SELECT statement, as it must be when the role setting it
 *	  is not a superuser.
 *
 * The query is sent as a subquery, "SELECT ... FROM (<query>) AS q ...",
 * with the credentials of whoever scans the table, and BigQuery runs a text
 * holding a ";" as a script of several statements.  So the text must not
 * hold a ";", must not close the parenthesis it is wrapped in, and must not
 * leave open a literal or comment that would swallow what bqstream_fdw
 * appends.  Finding those takes only the rules for where literals, quoted
 * identifiers and comments begin and end, which are ZetaSQL's tokenizer's
 * (zetasql/parser/flex_tokenizer.l), the one BigQuery uses:
 *
 * - A string or bytes literal starts at ' or ".  Three quotes open a
 *   triple-quoted literal, which ends at the next three unescaped quotes and
 *   may span lines; one quote opens a literal ending at the next unescaped
 *   quote, which may not hold a raw CR or LF.  The prefixes r, b, rb and br
 *   (any case) change how escapes are read, not where the literal ends.
 * - In every literal and back-quoted identifier, raw literals included, a
 *   backslash takes the byte after it (CR LF counts as one), so an escaped
 *   quote never ends it: r'\'' is one raw literal, to BigQuery as here.
 * - A back-quoted identifier is read like a single-quoted literal.
 * - "--" and "#" start a comment that ends at the next CR or LF; slash-star
 *   starts one that ends at the next star-slash (they do not nest).
 *
 * On top of that: the first word, after any opening parentheses, is SELECT
 * or WITH; parentheses are balanced and never close below the level the
 * text starts at (else the text could rewrite the rest of bqstream_fdw's
 * query, its WHERE and LIMIT); no literal or comment is left open, and no
 * line comment runs to the end of the text (it would hide the ") AS q ..."
 * after it).
 *
 * Why that is enough: in a BigQuery script a statement starts only at the
 * beginning of the text or after a ";".  Without one, what bqstream_fdw
 * sends is a single statement, and it starts with bqstream_fdw's own
 * SELECT, so the script keywords (BEGIN, DECLARE, SET, EXECUTE IMMEDIATE,
 * CALL, IF, LOOP...), DML and DDL can only land inside that query's FROM
 * clause, where the grammar has no place for them: a syntax error at worst.
 * (A statement starting with WITH is a query in GoogleSQL.)  The first-word
 * check is thus not what keeps other statements out; it makes a refusal of
 * "DELETE FROM t" say so at once.  Likewise a leading "#legacySQL" comment
 * would switch dialects only at the very start of the request's text.
 *
 * Decisions: a ";" is refused even at the very end (followed by blanks or
 * comments only), since "(SELECT 1;)" fails in BigQuery anyway; bytes that
 * start none of the above (operators, numbers, words, non-ASCII bytes,
 * Unicode spaces, a stray backslash) are passed over, and lexical errors
 * that cannot move a boundary (such as 123abc) are left to BigQuery.  What
 * a superuser could mean (another statement, a closing parenthesis) is
 * refused as a missing privilege; what could work for nobody (an open
 * literal, comment or parenthesis, a final ";") as an invalid value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "fdw/query_check.h"

static inline bool
is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_';
}

/* ZetaSQL's ASCII whitespace; its Unicode spaces are merely passed over */
static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v' || c == '\b';
}

static inline char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Is s[0..len) "word" (given in lower case), ignoring case? */
static bool
word_is(const char *s, size_t len, const char *word)
{
	if (len != strlen(word))
		return false;
	for (size_t i = 0; i < len; i++)
		if (lower(s[i]) != word[i])
			return false;
	return true;
}

typedef enum LiteralPrefix
{
	PREFIX_NONE,
	PREFIX_RAW,
	PREFIX_BYTES
} LiteralPrefix;

/* Is the word p[0..len) a literal's prefix?  Only messages need to know. */
static LiteralPrefix
literal_prefix(const char *p, size_t len)
{
	if (word_is(p, len, "r"))
		return PREFIX_RAW;
	if (word_is(p, len, "b") || word_is(p, len, "rb") || word_is(p, len, "br"))
		return PREFIX_BYTES;
	return PREFIX_NONE;
}

/*
 * Advance *pos over blanks and comments.  Returns BQ_QUERY_OK, or the
 * verdict for a comment that the text leaves open, with its start in *at.
 */
static BqQueryVerdict
skip_blanks(const char *s, size_t len, size_t *pos, size_t *at)
{
	size_t		i = *pos;

	for (;;)
	{
		if (i < len && is_blank(s[i]))
			i++;
		else if (i < len &&
				 (s[i] == '#' || (s[i] == '-' && i + 1 < len && s[i + 1] == '-')))
		{
			*at = i;
			while (i < len && s[i] != '\n' && s[i] != '\r')
				i++;
			if (i == len)
			{
				*pos = len;
				return BQ_QUERY_OPEN_LINE_COMMENT;
			}
		}
		else if (i + 1 < len && s[i] == '/' && s[i + 1] == '*')
		{
			*at = i;
			i += 2;
			while (i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			if (i + 1 >= len)
			{
				*pos = len;
				return BQ_QUERY_OPEN_COMMENT;
			}
			i += 2;
		}
		else
			break;
	}
	*pos = i;
	return BQ_QUERY_OK;
}

/*
 * The literal or back-quoted identifier whose opening quote is s[i]: the
 * offset just past its closing quote, or 0 when it is not terminated.
 */
static size_t
quoted_end(const char *s, size_t len, size_t i)
{
	char		q = s[i];
	bool		triple = q != '`' && i + 2 < len && s[i + 1] == q && s[i + 2] == q;
	size_t		j = i + (triple ? 3 : 1);

	while (j < len)
	{
		if (s[j] == '\\')
		{
			if (j + 1 >= len)
				return 0;
			j += (s[j + 1] == '\r' && j + 2 < len && s[j + 2] == '\n') ? 3 : 2;
		}
		else if (!triple && s[j] == q)
			return j + 1;
		else if (triple && s[j] == q && j + 2 < len && s[j + 1] == q && s[j + 2] == q)
			return j + 3;
		else if (!triple && (s[j] == '\n' || s[j] == '\r'))
			return 0;
		else
			j++;
	}
	return 0;
}

BqQueryVerdict
bq_query_scan(const char *s, size_t len, size_t *offset)
{
	size_t		i = 0;
	size_t		depth = 0;
	size_t		outer_open = 0; /* the "(" that left depth 0 last */
	bool		first = true;	/* the first word is still to come */
	size_t		word_start = 0;
	size_t		word_end = 0;	/* 0: no word yet (a word ends at 1 or later) */

	*offset = 0;
	for (;;)
	{
		BqQueryVerdict v;
		size_t		at = 0;
		char		c;

		v = skip_blanks(s, len, &i, &at);
		if (v != BQ_QUERY_OK)
		{
			*offset = at;
			return v;
		}
		if (i >= len)
			break;
		c = s[i];

		if (first && c != '(')
		{
			size_t		k = i;

			while (k < len && is_word_char(s[k]))
				k++;
			if (!word_is(s + i, k - i, "select") && !word_is(s + i, k - i, "with"))
			{
				*offset = i;
				return BQ_QUERY_NOT_SELECT;
			}
			first = false;
		}

		if (c == '\'' || c == '"' || c == '`')
		{
			size_t		end = quoted_end(s, len, i);

			if (end == 0)
			{
				LiteralPrefix prefix = PREFIX_NONE;

				*offset = i;
				if (c == '`')
					return BQ_QUERY_OPEN_IDENTIFIER;
				/* name it as BigQuery would: a prefix right before it counts */
				if (word_end == i)
					prefix = literal_prefix(s + word_start, word_end - word_start);
				if (prefix != PREFIX_NONE)
					*offset = word_start;
				return prefix == PREFIX_BYTES ? BQ_QUERY_OPEN_BYTES : BQ_QUERY_OPEN_STRING;
			}
			i = end;
		}
		else if (c == ';')
		{
			size_t		j = i + 1;
			size_t		ignored;

			/* a comment left open after it is the end of the text, too */
			*offset = i;
			if (skip_blanks(s, len, &j, &ignored) != BQ_QUERY_OK || j >= len)
				return BQ_QUERY_FINAL_SEMICOLON;
			return BQ_QUERY_SECOND_STATEMENT;
		}
		else if (c == '(')
		{
			if (depth++ == 0)
				outer_open = i;
			i++;
		}
		else if (c == ')')
		{
			if (depth == 0)
			{
				*offset = i;
				return BQ_QUERY_EXTRA_CLOSE;
			}
			depth--;
			i++;
		}
		else if (is_word_char(c))
		{
			word_start = i;
			while (i < len && is_word_char(s[i]))
				i++;
			word_end = i;
		}
		else
			i++;
	}

	if (first)
	{
		*offset = i;
		return BQ_QUERY_NOT_SELECT;
	}
	if (depth > 0)
	{
		*offset = outer_open;
		return BQ_QUERY_UNCLOSED_PAREN;
	}
	return BQ_QUERY_OK;
}

#define ONLY_SUPERUSERS_HINT \
	"Only superusers may use a query that is not exactly one SELECT statement."

void
bq_check_query_option(const char *query)
{
	size_t		offset;
	BqQueryVerdict v = bq_query_scan(query, strlen(query), &offset);
	int			at;

	if (v == BQ_QUERY_OK)
		return;

	/* a 1-based character position, as PostgreSQL's own messages give */
	at = pg_mbstrlen_with_len(query, (int) offset) + 1;

	switch (v)
	{
		case BQ_QUERY_OK:
			break;
		case BQ_QUERY_NOT_SELECT:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The query does not start with SELECT or WITH."),
					 errhint(ONLY_SUPERUSERS_HINT)));
			break;
		case BQ_QUERY_SECOND_STATEMENT:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The query holds a second statement after the \";\" at character %d.", at),
					 errhint(ONLY_SUPERUSERS_HINT)));
			break;
		case BQ_QUERY_EXTRA_CLOSE:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The \")\" at character %d closes a parenthesis that the query did not open.", at),
					 errhint(ONLY_SUPERUSERS_HINT)));
			break;
		case BQ_QUERY_FINAL_SEMICOLON:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The query ends with a \";\" at character %d.", at),
					 errhint("Remove the \";\": the query is used as a subquery.")));
			break;
		case BQ_QUERY_UNCLOSED_PAREN:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The \"(\" at character %d is not closed.", at)));
			break;
		case BQ_QUERY_OPEN_STRING:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The string literal at character %d is not terminated.", at)));
			break;
		case BQ_QUERY_OPEN_BYTES:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The bytes literal at character %d is not terminated.", at)));
			break;
		case BQ_QUERY_OPEN_IDENTIFIER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The quoted identifier at character %d is not terminated.", at)));
			break;
		case BQ_QUERY_OPEN_COMMENT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The comment at character %d is not terminated.", at)));
			break;
		case BQ_QUERY_OPEN_LINE_COMMENT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"query\""),
					 errdetail("The comment at character %d runs to the end of the query.", at),
					 errhint("End the comment with a line break: the query is used as a subquery, and what follows it would be part of the comment.")));
			break;
	}
}
