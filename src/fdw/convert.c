/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  From BigQuery's result encoding to the foreign table's declared column
 *	  types, and from BigQuery's types to PostgreSQL's for IMPORT FOREIGN
 *	  SCHEMA.
 *
 * Cells are converted by the column type's own input function, so NUMERIC
 * and INT64 (which BigQuery sends as strings) never pass through a C double,
 * and a value that does not fit is an error naming the column and both
 * types.  TIMESTAMP is requested as int64 microseconds and converted
 * exactly; BYTES arrive in base64; REPEATED values become arrays.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "fdw/fdw.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"

static bool
is_repeated(const char *mode)
{
	return mode && strcmp(mode, "REPEATED") == 0;
}

BqCellType
bq_cell_type(const char *type, const char *mode)
{
	if (is_repeated(mode))
		return bq_cell_type(type, NULL) == BQC_UNSUPPORTED ? BQC_UNSUPPORTED : BQC_REPEATED;
	if (type == NULL)
		return BQC_TEXT;
	if (strcmp(type, "TIMESTAMP") == 0)
		return BQC_TIMESTAMP_MICROS;
	if (strcmp(type, "BYTES") == 0)
		return BQC_BYTES;
	if (strcmp(type, "RECORD") == 0 || strcmp(type, "STRUCT") == 0)
		return BQC_UNSUPPORTED;
	return BQC_TEXT;
}

const char *
bq_pg_type_for(const char *type, const char *mode)
{
	static const struct
	{
		const char *bq;
		const char *pg;
	}			map[] = {
		{"STRING", "text"},
		{"INTEGER", "bigint"},
		{"INT64", "bigint"},
		{"FLOAT", "double precision"},
		{"FLOAT64", "double precision"},
		{"NUMERIC", "numeric"},
		{"BIGNUMERIC", "numeric"},
		{"BOOLEAN", "boolean"},
		{"BOOL", "boolean"},
		{"TIMESTAMP", "timestamp with time zone"},
		{"DATETIME", "timestamp without time zone"},
		{"DATE", "date"},
		{"TIME", "time without time zone"},
		{"BYTES", "bytea"},
		{"JSON", "jsonb"},
		{"GEOGRAPHY", "text"},
	};

	if (type == NULL || bq_cell_type(type, mode) == BQC_UNSUPPORTED)
		return NULL;
	for (int i = 0; i < lengthof(map); i++)
		if (strcmp(map[i].bq, type) == 0)
			return is_repeated(mode) ? psprintf("%s[]", map[i].pg) : map[i].pg;
	return NULL;
}

void
bq_append_identifier(StringInfo buf, const char *name)
{
	/* names that need no escaping only: then back-quotes cannot be broken out of */
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ':' || *p == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("BigQuery name \"%s\" has characters bqstream_fdw does not quote", name),
					 errhint("Use the column_name option to name a column with letters, digits and underscores.")));
	appendStringInfoChar(buf, '`');
	appendStringInfoString(buf, name);
	appendStringInfoChar(buf, '`');
}

void
bq_converter_init(BqConverter *conv, const char *colname, const char *bq_type,
				  const char *mode, Oid pg_type, int32 typmod)
{
	Oid			infunc;

	conv->colname = colname;
	conv->bq_type = bq_type ? bq_type : "?";
	conv->cell = bq_cell_type(bq_type, mode);
	conv->pg_type = pg_type;
	conv->typmod = typmod;
	if (conv->cell == BQC_UNSUPPORTED)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" has BigQuery type %s%s, which bqstream_fdw does not convert yet",
						colname, is_repeated(mode) ? "REPEATED " : "", conv->bq_type)));
	if (conv->cell == BQC_REPEATED)
	{
		Oid			elem = get_element_type(pg_type);

		if (!OidIsValid(elem))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" is an array in BigQuery (REPEATED %s) but %s here",
							colname, conv->bq_type, format_type_be(pg_type)),
					 errhint("Declare the column as an array, such as %s.",
							 bq_pg_type_for(conv->bq_type, mode) ? bq_pg_type_for(conv->bq_type, mode) : "text[]")));
		conv->element = palloc0(sizeof(BqConverter));
		bq_converter_init(conv->element, colname, bq_type, NULL, elem, typmod);
		get_typlenbyvalalign(elem, &conv->elmlen, &conv->elmbyval, &conv->elmalign);
		return;
	}
	if (conv->cell == BQC_TIMESTAMP_MICROS &&
		pg_type != TIMESTAMPTZOID && pg_type != TIMESTAMPOID)
		conv->cell = BQC_TEXT;	/* e.g. into text: the microseconds as digits */
	if (conv->cell == BQC_BYTES && pg_type != BYTEAOID)
		conv->cell = BQC_TEXT;
	getTypeInputInfo(pg_type, &infunc, &conv->ioparam);
	fmgr_info(infunc, &conv->input);
}

typedef struct ConvertContext
{
	BqConverter *conv;
} ConvertContext;

static void
convert_error_callback(void *arg)
{
	BqConverter *conv = (BqConverter *) arg;

	errcontext("converting column \"%s\" from BigQuery %s to PostgreSQL %s",
			   conv->colname, conv->bq_type, format_type_with_typemod(conv->pg_type, conv->typmod));
}

Datum
bq_convert_cell(BqConverter *conv, const JsonToken *tok, StringInfo scratch, bool *isnull)
{
	ErrorContextCallback errcb;
	Datum		result;

	*isnull = false;
	if (tok->type == JT_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}

	errcb.callback = convert_error_callback;
	errcb.arg = conv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (tok->type != JT_STRING || conv->cell == BQC_REPEATED)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent a cell that is not a string or null")));

	switch (conv->cell)
	{
		case BQC_TIMESTAMP_MICROS:
			{
				char	   *end;
				int64		us;

				errno = 0;
				us = strtoi64(js_string_value(tok, scratch), &end, 10);
				if (*end != '\0' || scratch->len == 0 || errno == ERANGE)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("invalid TIMESTAMP cell \"%s\"", scratch->data),
							 errhint("bqstream_fdw asks for int64 microseconds (formatOptions.useInt64Timestamp).")));
				/* Unix epoch to PostgreSQL's 2000-01-01, exactly */
				if (pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
										&us) ||
					!IS_VALID_TIMESTAMP(us))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("TIMESTAMP cell \"%s\" out of range", scratch->data)));
				result = Int64GetDatum(us);
				break;
			}
		case BQC_BYTES:
			{
				bytea	   *b = palloc(VARHDRSZ + tok->len / 4 * 3 + 4);
				int			n = js_base64_decode(tok->start, tok->len, VARDATA(b));

				if (tok->escaped || n < 0)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("invalid BYTES cell: not base64")));
				SET_VARSIZE(b, VARHDRSZ + n);
				result = PointerGetDatum(b);
				break;
			}
		default:
			{
				const char *str = tok->start;
				size_t		len = tok->len;

				/* BigQuery speaks UTF-8 (checked by the scanner) */
				if (tok->escaped || GetDatabaseEncoding() != PG_UTF8)
				{
					str = js_string_value(tok, scratch);
					len = scratch->len;
					if (GetDatabaseEncoding() != PG_UTF8)
					{
						str = pg_any_to_server(str, len, PG_UTF8);
						len = strlen(str);
					}
				}
				/* text needs no parsing: the bytes are the value */
				if (conv->pg_type == TEXTOID)
					result = PointerGetDatum(cstring_to_text_with_len(str, len));
				else if (str == tok->start)
				{
					/* input functions want a NUL-terminated string */
					resetStringInfo(scratch);
					appendBinaryStringInfo(scratch, str, len);
					result = InputFunctionCall(&conv->input, scratch->data,
											   conv->ioparam, conv->typmod);
				}
				else
					result = InputFunctionCall(&conv->input, (char *) str,
											   conv->ioparam, conv->typmod);
				break;
			}
	}
	error_context_stack = errcb.previous;
	return result;
}

/*
 * A REPEATED cell, whose array the scanner has just entered: its elements
 * ({"v": ...} each; BigQuery arrays hold no NULLs) into a one-dimensional
 * PostgreSQL array.
 */
Datum
bq_convert_repeated(BqConverter *conv, JsonScan *s, StringInfo scratch)
{
	int			n = 0;
	int			room = 8;
	Datum	   *values = palloc(sizeof(Datum) * room);
	bool	   *nulls = palloc(sizeof(bool) * room);
	bool		first = true;
	int			dims[1];
	int			lbs[1] = {1};

	while (js_array_next(s, &first))
	{
		JsonToken	key;
		JsonToken	tok;
		bool		first_key = true;
		bool		seen = false;

		if (js_value(s, &tok) != JT_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent an array element that is not a {\"v\": ...} cell for column \"%s\"",
							conv->colname)));
		while (js_object_next(s, &key, &first_key))
		{
			if (!js_string_is(&key, "v") || seen)
			{
				js_skip(s, NULL, NULL);
				continue;
			}
			seen = true;
			if (n == room)
			{
				room *= 2;
				values = repalloc(values, sizeof(Datum) * room);
				nulls = repalloc(nulls, sizeof(bool) * room);
			}
			tok.type = js_value(s, &tok);
			if (tok.type == JT_ERROR)
				break;
			if (tok.type == JT_OBJECT || tok.type == JT_ARRAY)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery sent a nested array element for column \"%s\"",
								conv->colname)));
			values[n] = bq_convert_cell(conv->element, &tok, scratch, &nulls[n]);
			n++;
		}
	}
	if (s->error)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read the array in column \"%s\"", conv->colname),
				 errdetail("%s", s->error)));
	dims[0] = n;
	return PointerGetDatum(construct_md_array(values, nulls, n > 0 ? 1 : 0, dims, lbs,
											  conv->element->pg_type, conv->elmlen,
											  conv->elmbyval, conv->elmalign));
}

/*
 * DATE and TIMESTAMP values as BigQuery reads them in parameters and in
 * insertAll rows: ISO, in UTC for timestamps, whatever DateStyle says.
 * BigQuery's range is the years 1 to 9999.
 */
char *
bq_date_text(DateADT d)
{
	int			y,
				m,
				dd;

	if (DATE_NOT_FINITE(d))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("infinite dates cannot be sent to BigQuery")));
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	if (y < 1 || y > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of BigQuery's range (years 1 to 9999)")));
	return psprintf("%04d-%02d-%02d", y, m, dd);
}

char *
bq_timestamp_text(Timestamp ts, bool utc_offset)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of BigQuery's range (years 1 to 9999)")));
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d%s",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					tm.tm_sec, (int) fsec, utc_offset ? "+00:00" : "");
}
