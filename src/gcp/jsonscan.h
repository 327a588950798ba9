/*-------------------------------------------------------------------------
 *
 * jsonscan.h
 *	  A validating, allocation-free JSON scanner for the hot paths: pull
 *	  responses and order payloads, thousands per second per worker.
 *
 * jansson builds a tree of malloc'd nodes for every document; a worker
 * only needs a few fields of each message and a yes/no on each payload,
 * so it walks the text instead.  Strings and numbers are returned as spans
 * of the input; the scanner checks the full JSON grammar (RFC 8259),
 * escapes and UTF-8 as it goes, so a span it accepted can be spliced into
 * a request body as it is.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_JSONSCAN_H
#define GCP_JSONSCAN_H

#include "lib/stringinfo.h"

typedef enum JsTokenKind
{
	JT_ERROR,
	JT_OBJECT,					/* the scanner is now inside the object */
	JT_ARRAY,					/* the scanner is now inside the array */
	JT_STRING,
	JT_NUMBER,
	JT_TRUE,
	JT_FALSE,
	JT_NULL
} JsTokenKind;

typedef struct JsToken
{
	JsTokenKind type;
	const char *start;			/* strings: the text between the quotes */
	size_t		len;
	bool		escaped;		/* a string holding backslash escapes */
} JsToken;

typedef struct JsonScan
{
	const char *p;
	const char *end;
	int			depth;
	const char *error;			/* set once, on the first error */
	const char *error_at;
} JsonScan;

extern void js_init(JsonScan *s, const char *data, size_t len);

/* Read one value; an object or array is entered, not skipped. */
extern JsTokenKind js_value(JsonScan *s, JsToken *tok);

/*
 * Iterate an entered object: each call reads the next key (and its colon)
 * into *key and returns true, or consumes the closing brace and returns
 * false.  "first" must be true on the first call for an object.
 */
extern bool js_object_next(JsonScan *s, JsToken *key, bool *first);

/* Iterate an entered array the same way; the element is read by the caller. */
extern bool js_array_next(JsonScan *s, bool *first);

/*
 * Consume the rest of an object or array that js_value() has just entered
 * (whatever "entered" is, as js_value returned it; other types need
 * nothing).  A caller that does not read such a value must call this, or
 * the scan loses its place.
 */
extern void js_finish(JsonScan *s, JsTokenKind entered);

/*
 * For a string value expected to hold only plain bytes (printable ASCII
 * but '"' and '\\'), such as base64: set *tok to the text from its opening
 * quote to the next '"', unchecked, and return true; false when the next
 * value is no string or that quote is missing.  The scanner does not move.
 * A caller that then checked every byte of the span itself (decoding
 * base64 does) takes the value with js_take_plain_string(), saving a scan
 * of its own; otherwise it reads the value with js_value() as usual.
 */
extern bool js_peek_string(JsonScan *s, JsToken *tok);
extern void js_take_plain_string(JsonScan *s, const JsToken *tok);

/* Skip a whole value, checking it; span and len (if not NULL) get its text. */
extern bool js_skip(JsonScan *s, const char **span, size_t *len);

/*
 * Find the end of an array or object without checking what is inside
 * (only strings and nesting are followed): for a value that is then read
 * with the functions above, which check every byte they read.
 */
extern bool js_skip_unchecked(JsonScan *s);

/* true when only whitespace is left and no error happened */
extern bool js_at_end(JsonScan *s);

/*
 * Does a string token equal a plain (escape-free) C string?  Inline, so
 * that strlen() of the literal member names it is called with folds to a
 * constant and most keys are told apart by their length alone.
 */
static inline bool
js_string_is(const JsToken *tok, const char *str)
{
	size_t		n = strlen(str);

	return n == tok->len && !tok->escaped && memcmp(tok->start, str, n) == 0;
}

/* The string's value, unescaped, as a NUL-terminated copy in buf. */
extern char *js_string_value(const JsToken *tok, StringInfo buf);

/* standard base64 into dst (room for len / 4 * 3 + 3); -1 if not base64 */
extern int	js_base64_decode(const char *src, size_t len, char *dst);

/* byte offset of the first error, for messages */
extern int	js_error_offset(const JsonScan *s, const char *data);

/*
 * The memory jansson would take to parse the value at the scanner into a
 * tree (its nodes, strings and tables, as malloc rounds them, and its
 * lexer's buffer), counted by walking the text without building anything:
 * 20 MB of "[[],[],..." make a tree of a gigabyte, and this says so before
 * jansson allocates any of it.  The count is an upper bound, never far
 * above.  The walk checks the text as the other functions do and stops at
 * an error or once the count passes "limit"; the caller then looks at
 * s->error and js_at_end().
 */
extern size_t js_tree_size(JsonScan *s, size_t limit);

#endif							/* GCP_JSONSCAN_H */
