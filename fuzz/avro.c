/*-------------------------------------------------------------------------
 *
 * avro.c (fuzz target "avro")
 *	  Fuzzes src/fdw/avro.c (#included here for its static functions), the
 *	  decoder of the BigQuery Storage Read API's Avro rows:
 *	  bq_avro_plan_create() on a schema made from the input's header, then
 *	  bq_avro_block_init() and bq_avro_next_row() over the input's bytes,
 *	  with convert.c's bq_converter_init() / bq_convert_cell() behind the
 *	  values that are not made directly.
 *
 * Input, rows mode: a header line of column letters, each the Avro type
 * BigQuery sends and the foreign table's column type:
 *	t string->text  v string->varchar  i long->bigint  I long->text
 *	f double->float8  F double->text  b boolean->boolean  B boolean->text
 *	z timestamp-micros->timestamptz  Z timestamp-micros->text
 *	d date->date  D date->text  e time-micros->time  y bytes->bytea
 *	Y bytes->text  n decimal(38,9)->numeric  N decimal(77,38)->numeric
 *	j string(JSON)->jsonb  s string(DATETIME)->timestamp
 * each nullable (["null", T]) unless preceded by '!', or an array of T
 * (REPEATED, into T's array type) when preceded by '*'.  Then one byte,
 * the block's row_count, then the block's bytes.  For example
 * "ti\n\x01\x02\x02a\x02\x04" is one row ('a', 2).
 *
 * Input, decimal mode: '#', a scale byte (0..76), then up to 33 bytes of
 * an unscaled big-endian two's complement value.
 *
 * A bug is any ASan/UBSan/leak report, a stub reached, or:
 *	rows_exact		the decoder ended a block without an ERROR after other
 *					than row_count rows.
 *	datum_sane		a text value not valid UTF-8 or holding a NUL, an
 *					array not one-dimensional or of another element type.
 *	error_sane		an ERROR without an SQLSTATE of class 22 (data
 *					exception) or HV (FDW).
 *	decimal_exact	decimal_text() differs from a reference written with
 *					__int128 (values of up to 16 bytes).
 *
 *-------------------------------------------------------------------------
 */
#include "fdw/avro.c"

#include <stdint.h>

#include "pg_shim.h"

#define MAX_COLS 24

typedef struct Letter
{
	char		letter;
	const char *avro;			/* the type's schema */
	Oid			pg;
	Oid			pg_array;
} Letter;

static const Letter letters[] = {
	{'t', "\"string\"", TEXTOID, TEXTARRAYOID},
	{'v', "\"string\"", VARCHAROID, InvalidOid},
	{'i', "\"long\"", INT8OID, INT8ARRAYOID},
	{'I', "\"long\"", TEXTOID, TEXTARRAYOID},
	{'f', "\"double\"", FLOAT8OID, FLOAT8ARRAYOID},
	{'F', "\"double\"", TEXTOID, TEXTARRAYOID},
	{'b', "\"boolean\"", BOOLOID, BOOLARRAYOID},
	{'B', "\"boolean\"", TEXTOID, TEXTARRAYOID},
	{'z', "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}", TIMESTAMPTZOID, TIMESTAMPTZARRAYOID},
	{'Z', "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}", TEXTOID, TEXTARRAYOID},
	{'d', "{\"type\":\"int\",\"logicalType\":\"date\"}", DATEOID, DATEARRAYOID},
	{'D', "{\"type\":\"int\",\"logicalType\":\"date\"}", TEXTOID, TEXTARRAYOID},
	{'e', "{\"type\":\"long\",\"logicalType\":\"time-micros\"}", TIMEOID, InvalidOid},
	{'y', "\"bytes\"", BYTEAOID, BYTEAARRAYOID},
	{'Y', "\"bytes\"", TEXTOID, TEXTARRAYOID},
	{'n', "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":38,\"scale\":9}", NUMERICOID, NUMERICARRAYOID},
	{'N', "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":77,\"scale\":38}", NUMERICOID, NUMERICARRAYOID},
	{'j', "{\"type\":\"string\",\"sqlType\":\"JSON\"}", JSONBOID, JSONBARRAYOID},
	{'s', "{\"type\":\"string\",\"sqlType\":\"DATETIME\"}", TIMESTAMPOID, InvalidOid},
};

/* the shim's numeric is its text: so is this one's */
Numeric
int64_div_fast_to_numeric(int64 val1, int log10val2)
{
	char		digits[32];
	char	   *text;
	int			n;
	bool		neg = val1 < 0;
	uint64		mag = neg ? -(uint64) val1 : (uint64) val1;

	n = snprintf(digits, sizeof(digits), UINT64_FORMAT, mag);
	if (log10val2 >= n)
		text = psprintf("%s0.%0*d%s", neg ? "-" : "", log10val2 - n, 0, digits);
	else
		text = psprintf("%s%.*s%s%s", neg ? "-" : "", n - log10val2, digits,
						log10val2 > 0 ? "." : "", digits + n - log10val2);
	return (Numeric) cstring_to_text(text);
}

/*
 * datetime.c's j2date for bq_date_text(): the civil date of a Julian day,
 * by the usual era arithmetic over days since 1970-01-01
 */
void
j2date(int jd, int *year, int *month, int *day)
{
	int64		z = (int64) jd - 2440588 + 719468;
	int64		era = (z >= 0 ? z : z - 146096) / 146097;
	int64		doe = z - era * 146097;
	int64		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64		mp = (5 * doy + 2) / 153;
	int64		m = mp < 10 ? mp + 3 : mp - 9;

	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
	*month = (int) m;
	*year = (int) (yoe + era * 400 + (m <= 2));
}

static void
check_text(Datum d, const char *what)
{
	text	   *t = DatumGetTextPP(d);

	if (bqfuzz_check("datum_sane") &&
		!bqfuzz_valid_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)))
		bqfuzz_fail("datum_sane", "%s value not valid UTF-8 or with a NUL", what);
}

/* the reference: __int128 to text with the scale, trailing zeros dropped */
static void
check_decimal(const uint8 *data, size_t size)
{
	int			scale;
	const uint8 *bytes;
	size_t		len;
	char	   *got;
	__int128	v;
	unsigned __int128 mag;
	char		digits[128];
	int			n = 0;
	StringInfoData want;
	int			start;

	if (size < 3)
		return;
	scale = data[1] % 77;
	bytes = data + 2;
	len = Min(size - 2, MAX_DECIMAL_BYTES);
	got = decimal_text(bytes, len, scale);
	if (len > 16)
		return;
	v = (bytes[0] & 0x80) ? -1 : 0;
	for (size_t i = 0; i < len; i++)
		v = (__int128) (((unsigned __int128) v << 8) | bytes[i]);
	mag = v < 0 ? -(unsigned __int128) v : (unsigned __int128) v;
	do
	{
		digits[n++] = '0' + (int) (mag % 10);
		mag /= 10;
	} while (mag != 0);
	while (n <= scale)
		digits[n++] = '0';
	start = 0;
	while (start < scale && digits[start] == '0')
		start++;
	initStringInfo(&want);
	if (v < 0)
		appendStringInfoChar(&want, '-');
	for (int i = n - 1; i >= start; i--)
	{
		appendStringInfoChar(&want, digits[i]);
		if (i == scale && i > start)
			appendStringInfoChar(&want, '.');
	}
	if (strcmp(got, want.data) != 0)
		bqfuzz_fail("decimal_exact", "decimal_text gave %s, the reference %s", got, want.data);
}

static void
run_rows(const uint8 *data, size_t size)
{
	const uint8 *nl = memchr(data, '\n', size);
	BqAvroColumn cols[MAX_COLS];
	Oid			array_of[MAX_COLS];
	int			ncols = 0;
	StringInfoData schema;
	bool		nullable = true;
	bool		array = false;
	const uint8 *block;
	size_t		block_len;
	int64		row_count;

	if (nl == NULL || (size_t) (nl - data) + 2 > size)
		return;
	initStringInfo(&schema);
	appendStringInfoString(&schema, "{\"type\":\"record\",\"name\":\"__root__\",\"fields\":[");
	for (const uint8 *p = data; p < nl && ncols < MAX_COLS; p++)
	{
		const Letter *l = NULL;
		char	   *type;

		if (*p == '!')
		{
			nullable = false;
			continue;
		}
		if (*p == '*')
		{
			array = true;
			continue;
		}
		for (int i = 0; i < lengthof(letters); i++)
			if (letters[i].letter == *p)
				l = &letters[i];
		if (l == NULL || (array && l->pg_array == InvalidOid))
			return;
		type = array ? psprintf("{\"type\":\"array\",\"items\":%s}", l->avro)
			: nullable ? psprintf("[\"null\",%s]", l->avro) : pstrdup(l->avro);
		appendStringInfo(&schema, "%s{\"name\":\"c%d\",\"type\":%s}", ncols ? "," : "", ncols, type);
		cols[ncols].bq_name = psprintf("c%d", ncols);
		cols[ncols].colname = cols[ncols].bq_name;
		cols[ncols].index = ncols;
		cols[ncols].pg_type = array ? l->pg_array : l->pg;
		cols[ncols].typmod = -1;
		array_of[ncols] = array ? l->pg : InvalidOid;
		ncols++;
		nullable = true;
		array = false;
	}
	appendStringInfoString(&schema, "]}");
	row_count = nl[1];
	block = nl + 2;
	block_len = size - (block - data);

	PG_TRY();
	{
		const char *why;
		BqAvroPlan *plan = bq_avro_plan_create(schema.data, schema.len, cols, ncols, &why);
		BqAvroBlock b;
		Datum		values[MAX_COLS];
		bool		isnull[MAX_COLS];
		int64		rows = 0;

		if (plan == NULL)
			bqfuzz_fail("harness", "schema refused: %s", why);
		/* the block copied to its own allocation, so ASan sees its end */
		{
			uint8	   *copy = palloc(Max(block_len, 1));

			memcpy(copy, block, block_len);
			bq_avro_block_init(&b, copy, block_len, row_count);
		}
		while (bq_avro_next_row(plan, &b, values, isnull))
		{
			rows++;
			for (int c = 0; c < ncols; c++)
			{
				if (isnull[c])
					continue;
				if (cols[c].pg_type == TEXTOID || cols[c].pg_type == VARCHAROID)
					check_text(values[c], "a text");
				if (array_of[c] != InvalidOid)
				{
					ArrayType  *a = DatumGetArrayTypeP(values[c]);

					if (bqfuzz_check("datum_sane") &&
						(ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != array_of[c]))
						bqfuzz_fail("datum_sane", "an array of %d dimensions, element type %u",
									ARR_NDIM(a), ARR_ELEMTYPE(a));
				}
			}
		}
		if (rows != row_count && bqfuzz_check("rows_exact"))
			bqfuzz_fail("rows_exact", "%lld rows decoded of %lld", (long long) rows,
						(long long) row_count);
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		if (bqfuzz_check("error_sane") &&
			ERRCODE_TO_CATEGORY(e->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			ERRCODE_TO_CATEGORY(e->sqlerrcode) != ERRCODE_FDW_ERROR)
			bqfuzz_fail("error_sane", "SQLSTATE %s: %s", unpack_sql_state(e->sqlerrcode),
						e->message);
		bqfuzz_print_error();
		bqfuzz_flush_error();
	}
	PG_END_TRY();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bqfuzz_init();
	bqfuzz_begin();
	if (size > 0 && data[0] == '#')
		check_decimal(data, size);
	else
		run_rows(data, size);
	bqfuzz_end();
	return 0;
}
