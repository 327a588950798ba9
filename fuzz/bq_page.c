/*-------------------------------------------------------------------------
 *
 * bq_page.c (fuzz target "bq_page")
 *	  Fuzzes how bqstream_fdw turns a BigQuery query answer into tuples:
 *	  the real bq_scan_next() -> fetch_page() -> call_cancellable() ->
 *	  parse_page() -> init_converters() -> next_row() of src/fdw/scan.c
 *	  (#included here for its static functions), from bq_scan_create()
 *	  on (the catalog it reads is stubbed below), with bq_converter_init(),
 *	  bq_convert_cell() and bq_convert_repeated() of src/fdw/convert.c.
 *	  HTTP is fake_http.c: the jobs.query request is answered with the fuzz
 *	  input; any later getQueryResults request (the job not complete yet,
 *	  or a pageToken) with a complete, empty last page holding the schema.
 *
 * Input: a header line naming the foreign table's columns, one letter
 * each: t text, i bigint, n numeric, f float8, b boolean, z timestamptz,
 * s timestamp, d date, y bytea, j jsonb; upper case for the array of the
 * type (T text[], I bigint[], ...).  The rest is the jobs.query answer.
 * For example:
 *	ti
 *	{"jobReference":{"jobId":"j1","location":"US"},"jobComplete":true,
 *	 "schema":{"fields":[{"name":"a","type":"STRING"},{"name":"b","type":"INT64"}]},
 *	 "rows":[{"f":[{"v":"x"},{"v":"1"}]}]}
 *
 * A bug is any ASan/UBSan/leak report, a stub reached, or:
 *	page_valid_json	the scan read a complete answer (its job complete, so
 *					its rows were read) to its end without an ERROR, but
 *					jansson refuses it (its integer/real range aside).
 *	page_same_cells	the text cells differ from jansson's reading of such
 *					an answer (answers with escapes or duplicate member
 *					names aside).
 *	datum_sane		a value made is not what its type allows: text not
 *					valid UTF-8 or holding a NUL, an array not
 *					one-dimensional or of another element type.
 *	timestamp_range	a timestamp outside PostgreSQL's range.
 *	timestamp_exact	a TIMESTAMP cell's microseconds (as strtol reads them)
 *					do not fit in int64, or the value made is not that
 *					number less the 2000-01-01 epoch (such answers as for
 *					page_same_cells).
 *
 * With BQFUZZ_SKIP=missing_v_cell the harness clears the row's cells
 * before each row (what the fix proposed for next_row() does), to fuzz on
 * past that bug: a cell object without "v" leaves its value unset.
 *	bounded			more than 8 requests for one answer.
 * PostgreSQL's type input functions are stand-ins (see pg_shim.c).
 *
 *-------------------------------------------------------------------------
 */
#include "fdw/scan.c"

#include <ctype.h>
#include <stdint.h>

#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/syscache.h"

#include "fake_http.h"
#include "pg_shim.h"

#define MAX_COLS 16

typedef struct ColType
{
	char		letter;
	Oid			pg;
	const char *bq;
} ColType;

static const ColType col_types[] = {
	{'t', TEXTOID, "STRING"}, {'i', INT8OID, "INT64"}, {'n', NUMERICOID, "NUMERIC"},
	{'f', FLOAT8OID, "FLOAT64"}, {'b', BOOLOID, "BOOL"}, {'z', TIMESTAMPTZOID, "TIMESTAMP"},
	{'s', TIMESTAMPOID, "DATETIME"}, {'d', DATEOID, "DATE"}, {'y', BYTEAOID, "BYTES"},
	{'j', JSONBOID, "JSON"},
	{'T', TEXTARRAYOID, "STRING"}, {'I', INT8ARRAYOID, "INT64"}, {'N', NUMERICARRAYOID, "NUMERIC"},
	{'F', FLOAT8ARRAYOID, "FLOAT64"}, {'B', BOOLARRAYOID, "BOOL"}, {'Z', TIMESTAMPTZARRAYOID, "TIMESTAMP"},
	{'D', DATEARRAYOID, "DATE"}, {'Y', BYTEAARRAYOID, "BYTES"}, {'J', JSONBARRAYOID, "JSON"},
};

static const ColType *cols[MAX_COLS];
static int	ncols;
static const char *answer;
static size_t answer_len;
static char *last_page;
static bool answered;
static BqScanState *scan;
static bool answer_incomplete;	/* asked again before reading its rows */

static void
handler(const GcpHttpRequest *req, long *status, const char **body, size_t *len)
{
	*status = 200;
	if (fake_http_requests > 8)
		bqfuzz_fail("bounded", "more than 8 requests for one answer");
	if (!answered)
	{
		if (strcmp(req->method, "POST") != 0 || strstr(req->url, "/queries") == NULL)
			bqfuzz_fail("harness", "the first request is %s %s", req->method, req->url);
		answered = true;
		*body = answer;
		*len = answer_len;
	}
	else
	{
		if (strcmp(req->method, "GET") != 0 || strstr(req->url, "/queries/") == NULL)
			bqfuzz_fail("harness", "a later request is %s %s", req->method, req->url);
		if (scan->pages == 0)
			answer_incomplete = true;
		*body = last_page;
		*len = strlen(last_page);
	}
}

static char *
make_last_page(void)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"kind\":\"bigquery#getQueryResultsResponse\",\"schema\":{\"fields\":[");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&b, "%s{\"name\":\"c%d\",\"type\":\"%s\",\"mode\":\"%s\"}", i ? "," : "", i,
						 cols[i]->bq, cols[i]->letter >= 'A' && cols[i]->letter <= 'Z' ? "REPEATED" : "NULLABLE");
	appendStringInfoString(&b, "]},\"jobReference\":{\"projectId\":\"fuzz-project\",\"jobId\":\"job_fuzz\","
						   "\"location\":\"US\"},\"totalRows\":\"0\",\"jobComplete\":true,\"cacheHit\":false}");
	return b.data;
}

/*
 * The catalog, as bq_scan_create() and gcp_server_lookup() read it: one
 * foreign table "fuzz_table" of server "fuzz" (no options), whose
 * endpoints come from BIGQUERY_EMULATOR_HOST and PUBSUB_EMULATOR_HOST (no
 * credential needed) and whose project from GOOGLE_CLOUD_PROJECT.
 */
#define FUZZ_RELID		16384
#define FUZZ_SERVERID	16385
#define FUZZ_FDWID		16386

ForeignTable *
GetForeignTable(Oid relid)
{
	ForeignTable *ft = palloc0(sizeof(ForeignTable));

	ft->relid = relid;
	ft->serverid = FUZZ_SERVERID;
	return ft;
}

ForeignServer *
GetForeignServer(Oid serverid)
{
	ForeignServer *fs = palloc0(sizeof(ForeignServer));

	fs->serverid = serverid;
	fs->fdwid = FUZZ_FDWID;
	fs->servername = pstrdup("fuzz");
	return fs;
}

ForeignServer *
GetForeignServerByName(const char *name, bool missing_ok)
{
	if (strcmp(name, "fuzz") != 0)
		elog(ERROR, "server \"%s\" does not exist", name);
	return GetForeignServer(FUZZ_SERVERID);
}

ForeignDataWrapper *
GetForeignDataWrapper(Oid fdwid)
{
	ForeignDataWrapper *fdw = palloc0(sizeof(ForeignDataWrapper));

	fdw->fdwid = fdwid;
	fdw->fdwname = pstrdup("bqstream_fdw");
	return fdw;
}

AclResult
pg_foreign_server_aclcheck(Oid srv_oid, Oid roleid, AclMode mode)
{
	return ACLCHECK_OK;
}

Oid
GetUserId(void)
{
	return BOOTSTRAP_SUPERUSERID;
}

HeapTuple
SearchSysCache2(int cacheId, Datum key1, Datum key2)
{
	return NULL;				/* no user mapping */
}

char *
get_rel_name(Oid relid)
{
	return pstrdup("fuzz_table");
}

static BqScanState *
make_scan(void)
{
	TupleDesc	desc = palloc0(offsetof(struct TupleDescData, attrs) +
							   Max(ncols, 1) * sizeof(FormData_pg_attribute));
	List	   *retrieved = NIL;
	List	   *averages = NIL;
	List	   *scales = NIL;

	desc->natts = ncols;
	desc->tdtypeid = RECORDOID;
	desc->tdtypmod = -1;
	desc->tdrefcount = -1;
	for (int i = 0; i < ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		snprintf(NameStr(att->attname), NAMEDATALEN, "c%d", i);
		att->attnum = i + 1;
		att->atttypid = cols[i]->pg;
		att->atttypmod = -1;
		/* the plan's lists: every column retrieved, no average, no scale */
		retrieved = lappend_int(retrieved, i + 1);
		averages = lappend_int(averages, 0);
		scales = lappend_int(scales, -1);
	}
	return bq_scan_create(FUZZ_RELID, InvalidOid, "SELECT `c0` FROM `fuzz-project.bqstream.fuzz_table`",
							 retrieved, averages, scales, desc);
}

static void
check_text(const char *what, Datum d)
{
	text	   *t = DatumGetTextPP(d);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (memchr(p, '\0', len) != NULL || !bqfuzz_valid_utf8(p, len))
		bqfuzz_fail("datum_sane", "%s is not valid UTF-8 text", what);
}

static void
check_scalar(Oid type, Datum d)
{
	switch (type)
	{
		case TEXTOID:
			check_text("a text value", d);
			break;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			if (!IS_VALID_TIMESTAMP(DatumGetTimestamp(d)) &&
				!TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d)) && bqfuzz_check("timestamp_range"))
				bqfuzz_fail("timestamp_range", "timestamp " INT64_FORMAT " is outside PostgreSQL's range",
							DatumGetTimestamp(d));
			break;
		case BYTEAOID:
		case NUMERICOID:
		case JSONBOID:
			(void) VARSIZE_ANY(DatumGetPointer(d));
			break;
		default:
			break;
	}
}

static void
check_value(int col, Datum d)
{
	Oid			type = cols[col]->pg;
	Oid			elem = get_element_type(type);

	if (!OidIsValid(elem))
	{
		check_scalar(type, d);
		return;
	}
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		int16		elmlen;
		bool		elmbyval;
		char		elmalign;
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != elem)
			bqfuzz_fail("datum_sane", "array of %d dimensions, element type %u for %u",
						ARR_NDIM(a), ARR_ELEMTYPE(a), elem);
		if (ARR_NDIM(a) == 0)
			return;
		get_typlenbyvalalign(elem, &elmlen, &elmbyval, &elmalign);
		/* deconstruct_array, by hand: the shim has no arrayfuncs.c */
		n = ARR_DIMS(a)[0];
		elems = palloc(sizeof(Datum) * Max(n, 1));
		nulls = palloc(sizeof(bool) * Max(n, 1));
		{
			char	   *p = ARR_DATA_PTR(a);
			bits8	   *bitmap = ARR_NULLBITMAP(a);

			for (int i = 0; i < n; i++)
			{
				nulls[i] = bitmap && !(bitmap[i / 8] & (1 << (i % 8)));
				if (nulls[i])
					continue;
				elems[i] = fetch_att(p, elmbyval, elmlen);
				p = att_addlength_pointer(p, elmlen, p);
				p = (char *) att_align_nominal(p, elmalign);
				if (p > (char *) a + VARSIZE(a))
					bqfuzz_fail("datum_sane", "array elements overrun the array");
			}
		}
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				check_scalar(elem, elems[i]);
	}
}

/* a text cell the scan made: for the comparison with jansson */
typedef struct TextCell
{
	int			row;
	int			col;
	char	   *value;			/* a text cell's value, or */
	bool		is_micros;		/* a TIMESTAMP cell's, in microseconds since 2000 */
	int64		micros;
} TextCell;

/* BigQuery's int64 microseconds as strtol() reads them, exactly: false past int64 */
static bool
exact_micros(const char *s, int64 *result)
{
	bool		neg = false;
	int64		v = 0;

	while (isspace((unsigned char) *s))
		s++;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!isdigit((unsigned char) *s))
		return false;
	for (; isdigit((unsigned char) *s); s++)
		if (__builtin_mul_overflow(v, 10, &v) ||
			(neg ? __builtin_sub_overflow(v, *s - '0', &v) : __builtin_add_overflow(v, *s - '0', &v)))
			return false;
	if (*s != '\0')
		return false;
	*result = v;
	return true;
}

static TextCell *text_cells;
static int	ntext_cells;

/* the scan read the whole answer: jansson agrees it is JSON, and with the text cells */
static void
compare_with_jansson(bool compare_cells)
{
	json_error_t jerr;
	json_t	   *root = json_loadb(answer, answer_len, JSON_DECODE_ANY, &jerr);
	json_t	   *rows;

	if (root == NULL)
	{
		if (!bqfuzz_jansson_limit(jerr.text) && bqfuzz_check("page_valid_json"))
			bqfuzz_fail("page_valid_json", "the scan accepted an answer jansson refuses: %s (line %d column %d)",
						jerr.text, jerr.line, jerr.column);
		return;
	}
	json_decref(root);
	root = json_loadb(answer, answer_len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return;					/* duplicate keys: which counts is moot */
	rows = json_is_true(json_object_get(root, "jobComplete")) ? json_object_get(root, "rows") : NULL;
	for (int i = 0; compare_cells && bqfuzz_check("page_same_cells") && i < ntext_cells; i++)
	{
		TextCell   *cell = &text_cells[i];
		json_t	   *v = json_object_get(json_array_get(json_object_get(json_array_get(rows, cell->row), "f"),
													   cell->col), "v");

		if (cell->is_micros && bqfuzz_check("timestamp_exact"))
		{
			int64		us;

			if (!json_is_string(v) || !exact_micros(json_string_value(v), &us) ||
				us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY != cell->micros)
				bqfuzz_fail("timestamp_exact", "row %d column %d: TIMESTAMP cell \"%s\" became " INT64_FORMAT,
							cell->row, cell->col, json_string_value(v) ? json_string_value(v) : "?",
							cell->micros);
		}
		else if (!cell->is_micros &&
				 (!json_is_string(v) || strcmp(json_string_value(v), cell->value) != 0))
			bqfuzz_fail("page_same_cells", "row %d column %d is \"%s\", jansson reads another value",
						cell->row, cell->col, cell->value);
	}
	json_decref(root);
}

static void
run(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', Min(size, MAX_COLS * 2 + 1));
	BqScanState *st;
	Datum	   *values;
	bool	   *isnull;
	int			row = 0;

	if (nl == NULL)
		return;
	ncols = 0;
	for (const uint8_t *p = data; p < nl && ncols < MAX_COLS; p++)
		for (int i = 0; i < lengthof(col_types); i++)
			if (col_types[i].letter == *p)
				cols[ncols++] = &col_types[i];
	answer_len = size - (nl + 1 - data);
	answer = memcpy(palloc(answer_len + 1), nl + 1, answer_len);
	last_page = make_last_page();
	answered = false;
	fake_http_requests = 0;
	fake_http_handler = handler;

	text_cells = palloc(sizeof(TextCell) * 16);
	ntext_cells = 0;
	st = scan = make_scan();
	answer_incomplete = false;
	values = palloc(sizeof(Datum) * Max(ncols, 1));
	isnull = palloc(sizeof(bool) * Max(ncols, 1));
	for (;;)
	{
		if (!bqfuzz_check("missing_v_cell"))
		{
			memset(st->cells, 0, sizeof(Datum) * Max(ncols, 1));
			memset(st->cell_nulls, true, sizeof(bool) * Max(ncols, 1));
		}
		if (!bq_scan_next(st, values, isnull))
			break;
		for (int i = 0; i < ncols; i++)
		{
			if (isnull[i])
				continue;
			check_value(i, values[i]);
			if (st->pages == 1 &&
				(cols[i]->pg == TEXTOID ||
				 (cols[i]->pg == TIMESTAMPTZOID && st->conv[i].cell == BQC_TIMESTAMP_MICROS)))
			{
				TextCell   *cell;

				if (ntext_cells % 16 == 0)
					text_cells = repalloc(text_cells, sizeof(TextCell) * (ntext_cells + 16));
				cell = &text_cells[ntext_cells++];
				cell->row = row;
				cell->col = i;
				cell->is_micros = cols[i]->pg != TEXTOID;
				if (cell->is_micros)
					cell->micros = DatumGetTimestampTz(values[i]);
				else
					cell->value = text_to_cstring(DatumGetTextPP(values[i]));
			}
		}
		if (st->pages == 1)
			row++;
	}
	/*
	 * Cells are compared only in answers without escapes: member names
	 * written with escapes ("\u0066" for "f") are not read as BigQuery
	 * writes them, on purpose.
	 */
	/* the rows of an answer whose job was not complete are not read: not checked either */
	if (!answer_incomplete)
		compare_with_jansson(memchr(answer, '\\', answer_len) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setenv("GOOGLE_CLOUD_PROJECT", "fuzz-project", 1);
	setenv("BIGQUERY_EMULATOR_HOST", "bigquery.fuzz:9050", 1);
	setenv("PUBSUB_EMULATOR_HOST", "pubsub.fuzz:8085", 1);
	bqfuzz_begin();
	PG_TRY();
	{
		run(data, size);
	}
	PG_CATCH();
	{
		/* an ERROR is the expected answer to a bad page */
		bqfuzz_print_error();
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	bqfuzz_end();
	return 0;
}
