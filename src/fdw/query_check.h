/*-------------------------------------------------------------------------
 *
 * query_check.h
 *	  Checking that a foreign table's "query" option is exactly one
 *	  GoogleSQL SELECT statement (see query_check.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FDW_QUERY_CHECK_H
#define FDW_QUERY_CHECK_H

/* What bq_query_scan() found; the first problem in text order wins. */
typedef enum BqQueryVerdict
{
	BQ_QUERY_OK = 0,			/* exactly one SELECT statement */
	BQ_QUERY_NOT_SELECT,		/* the first word is not SELECT or WITH */
	BQ_QUERY_SECOND_STATEMENT,	/* a ";" with more text after it */
	BQ_QUERY_FINAL_SEMICOLON,	/* a ";" with only blanks or comments after */
	BQ_QUERY_EXTRA_CLOSE,		/* a ")" that closes nothing */
	BQ_QUERY_UNCLOSED_PAREN,	/* a "(" still open at the end */
	BQ_QUERY_OPEN_STRING,		/* unterminated string literal */
	BQ_QUERY_OPEN_BYTES,		/* unterminated bytes literal */
	BQ_QUERY_OPEN_IDENTIFIER,	/* unterminated back-quoted identifier */
	BQ_QUERY_OPEN_COMMENT,		/* unterminated slash-star comment */
	BQ_QUERY_OPEN_LINE_COMMENT	/* "--" or "#" comment without a line end */
} BqQueryVerdict;

/*
 * Scan "len" bytes of GoogleSQL text.  On a problem, *offset is set to the
 * byte offset of the construct at fault (the ";", the parenthesis, the
 * start of the literal or comment, or the first word).  Pure: no
 * allocation, no error reporting.
 */
extern BqQueryVerdict bq_query_scan(const char *text, size_t len, size_t *offset);

/*
 * Raise an ERROR naming the problem unless "query" is exactly one SELECT
 * statement.  The option validator calls it for non-superusers.
 */
extern void bq_check_query_option(const char *query);

#endif							/* FDW_QUERY_CHECK_H */
