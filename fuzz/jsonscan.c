/*-------------------------------------------------------------------------
 *
 * jsonscan.c (fuzz target "jsonscan")
 *	  Fuzzes src/gcp/jsonscan.c, the validating JSON scanner under every
 *	  hot-path parser (pull responses, payload validation, query result
 *	  pages), against jansson as the reference.
 *
 * Input: any bytes, read as one JSON document (and, separately, as base64).
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	scanner_agrees	  js_skip() + js_at_end() accept a text jansson refuses,
 *					  or refuse one jansson accepts.  Not counted: jansson's
 *					  own limits (integers beyond int64, reals beyond
 *					  double) and nesting deeper than the scanner's 64
 *					  levels, which the scanner refuses on purpose, and a
 *					  NUL byte after the value, where jansson stops reading.
 *	same_values		  on a document both accept (without duplicate keys),
 *					  walking it with js_value/js_object_next/js_array_next
 *					  gives the same structure, keys and string values
 *					  (js_string_value) as jansson's tree.
 *	unchecked_skip	  js_skip_unchecked() ends where js_skip() does on a
 *					  valid document.
 *	tree_size		  js_tree_size() accepts exactly what js_skip() does,
 *					  and on a document jansson parses it is no less than
 *					  the peak of jansson's allocations, each counted as
 *					  glibc's malloc rounds it (what gcp_http_parse_json()
 *					  relies on to refuse a tree before it is built).
 *	base64			  js_base64_decode() differs from a plain reference
 *					  decoder of the same dialect (standard alphabet,
 *					  optional '=' padding), or writes past len / 4 * 3 + 3.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include <jansson.h>

#include "gcp/jsonscan.h"
#include "pg_shim.h"

static StringInfoData scratch;

/*
 * jansson's allocations, counted as glibc would make them (a chunk of the
 * request plus 8 bytes, in steps of 16, at least 32): the size is kept in
 * a header in front of each block.
 */
#define GLIBC_CHUNK(n)	Max(32, ((size_t) (n) + 8 + 15) & ~(size_t) 15)
static size_t jansson_now;
static size_t jansson_peak;

static void *
counting_malloc(size_t n)
{
	size_t	   *p = malloc(n + 16);

	if (p == NULL)
		return NULL;
	p[0] = n;
	jansson_now += GLIBC_CHUNK(n);
	jansson_peak = Max(jansson_peak, jansson_now);
	return (char *) p + 16;
}

static void
counting_free(void *ptr)
{
	size_t	   *p;

	if (ptr == NULL)
		return;
	p = (size_t *) ((char *) ptr - 16);
	jansson_now -= GLIBC_CHUNK(p[0]);
	free(p);
}

/* Walk one value with the scanner and compare it with jansson's. */
static void
walk(JsonScan *s, json_t *j)
{
	JsToken	tok;
	JsToken	key;
	bool		first = true;
	size_t		n = 0;

	switch (js_value(s, &tok))
	{
		case JT_ERROR:
			bqfuzz_fail("same_values", "the scanner failed (%s) walking a document it accepted",
						s->error ? s->error : "?");
		case JT_OBJECT:
			if (!json_is_object(j))
				bqfuzz_fail("same_values", "an object where jansson has type %d", json_typeof(j));
			while (js_object_next(s, &key, &first))
			{
				char	   *k = pstrdup(js_string_value(&key, &scratch));
				json_t	   *member = json_object_get(j, k);

				if (member == NULL)
					bqfuzz_fail("same_values", "key \"%s\" unknown to jansson", k);
				walk(s, member);
				n++;
			}
			if (n != json_object_size(j))
				bqfuzz_fail("same_values", "%zu members, jansson has %zu", n, json_object_size(j));
			break;
		case JT_ARRAY:
			if (!json_is_array(j))
				bqfuzz_fail("same_values", "an array where jansson has type %d", json_typeof(j));
			while (js_array_next(s, &first))
			{
				if (n >= json_array_size(j))
					bqfuzz_fail("same_values", "more elements than jansson's %zu", json_array_size(j));
				walk(s, json_array_get(j, n));
				n++;
			}
			if (n != json_array_size(j))
				bqfuzz_fail("same_values", "%zu elements, jansson has %zu", n, json_array_size(j));
			break;
		case JT_STRING:
			{
				const char *v = js_string_value(&tok, &scratch);

				if (!json_is_string(j))
					bqfuzz_fail("same_values", "a string where jansson has type %d", json_typeof(j));
				if ((size_t) scratch.len != json_string_length(j) ||
					memcmp(v, json_string_value(j), scratch.len) != 0)
					bqfuzz_fail("same_values", "string value differs from jansson's (%d vs %zu bytes)",
								scratch.len, json_string_length(j));
				if (strlen(v) != (size_t) scratch.len || !bqfuzz_valid_utf8(v, scratch.len))
					bqfuzz_fail("same_values", "js_string_value gave a NUL or invalid UTF-8");
				break;
			}
		case JT_NUMBER:
			if (!json_is_number(j))
				bqfuzz_fail("same_values", "a number where jansson has type %d", json_typeof(j));
			break;
		case JT_TRUE:
			if (!json_is_true(j))
				bqfuzz_fail("same_values", "true where jansson has type %d", json_typeof(j));
			break;
		case JT_FALSE:
			if (!json_is_false(j))
				bqfuzz_fail("same_values", "false where jansson has type %d", json_typeof(j));
			break;
		case JT_NULL:
			if (!json_is_null(j))
				bqfuzz_fail("same_values", "null where jansson has type %d", json_typeof(j));
			break;
	}
}

/* standard base64, optional padding: the dialect js_base64_decode() reads */
static int
reference_base64(const char *src, size_t len, unsigned char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;

	if (len > 0 && len % 4 == 0 && src[len - 1] == '=')
	{
		len--;
		if (src[len - 1] == '=')
			len--;
	}
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		const char *c = src[i] ? memchr(alphabet, src[i], 64) : NULL;

		if (c == NULL)
			return -1;
		acc = (acc << 6) | (uint32) (c - alphabet);
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return n;
}

static void
check_base64(const uint8_t *data, size_t size)
{
	/* exactly the room the header promises, so that ASan sees an overrun */
	char	   *dst = palloc(size / 4 * 3 + 3);
	unsigned char *ref = palloc(size / 4 * 3 + 3);
	int			n = js_base64_decode((const char *) data, size, dst);
	int			r = reference_base64((const char *) data, size, ref);

	if (bqfuzz_check("base64") &&
		(n != r || (n > 0 && memcmp(dst, ref, n) != 0)))
		bqfuzz_fail("base64", "js_base64_decode gave %d, the reference %d", n, r);
}

static void
run(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	JsonScan	s;
	bool		js_ok;
	json_error_t jerr;
	json_t	   *j;
	const char *end_of_doc;
	size_t		tree_size;
	size_t		before;

	initStringInfo(&scratch);

	js_init(&s, text, size);
	js_ok = js_skip(&s, NULL, NULL) && js_at_end(&s);

	js_init(&s, text, size);
	tree_size = js_tree_size(&s, SIZE_MAX);
	if (bqfuzz_check("tree_size") && js_at_end(&s) != js_ok)
		bqfuzz_fail("tree_size", "js_tree_size %s what js_skip %s",
					js_ok ? "refuses" : "accepts", js_ok ? "accepts" : "refuses");

	before = jansson_peak = jansson_now;
	j = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
	if (j != NULL && js_ok && bqfuzz_check("tree_size") &&
		jansson_peak - before > tree_size)
		bqfuzz_fail("tree_size", "jansson took %zu bytes at its peak, js_tree_size said %zu",
					jansson_peak - before, tree_size);
	if (bqfuzz_check("scanner_agrees"))
	{
		if (js_ok && j == NULL && !bqfuzz_jansson_limit(jerr.text))
			bqfuzz_fail("scanner_agrees", "the scanner accepts what jansson refuses: %s (line %d column %d)",
						jerr.text, jerr.line, jerr.column);
		/* jansson stops at a NUL byte after a value; JSON has no NUL */
		if (!js_ok && j != NULL && strcmp(s.error, "nesting too deep") != 0 &&
			memchr(data, '\0', size) == NULL)
			bqfuzz_fail("scanner_agrees", "the scanner refuses what jansson accepts: %s at byte %d",
						s.error, js_error_offset(&s, text));
	}

	if (js_ok && j != NULL)
	{
		json_t	   *strict = json_loadb(text, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

		if (strict != NULL && bqfuzz_check("same_values"))
		{
			js_init(&s, text, size);
			walk(&s, strict);
			if (!js_at_end(&s))
				bqfuzz_fail("same_values", "the walk did not end at the end: %s", s.error);
		}
		json_decref(strict);

		/* js_skip_unchecked lands where js_skip does */
		js_init(&s, text, size);
		js_skip(&s, NULL, NULL);
		end_of_doc = s.p;
		js_init(&s, text, size);
		if (bqfuzz_check("unchecked_skip") &&
			(!js_skip_unchecked(&s) || s.p != end_of_doc))
			bqfuzz_fail("unchecked_skip", "js_skip_unchecked ended at byte %d, js_skip at %d (%s)",
						(int) (s.p - text), (int) (end_of_doc - text), s.error ? s.error : "no error");
	}
	json_decref(j);

	/* on anything at all: no crash */
	js_init(&s, text, size);
	(void) js_skip_unchecked(&s);
	(void) js_at_end(&s);

	check_base64(data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool counting = false;

	/* before jansson allocates anything: blocks must come back to their allocator */
	if (!counting)
	{
		json_set_alloc_funcs(counting_malloc, counting_free);
		counting = true;
	}
	bqfuzz_begin();
	PG_TRY();
	{
		run(data, size);
	}
	PG_CATCH();
	{
		/* nothing here raises an ERROR below 1 GB of input */
		bqfuzz_fail("no_error", "an ERROR was raised: %s", bqfuzz_error()->message);
	}
	PG_END_TRY();
	bqfuzz_end();
	return 0;
}
