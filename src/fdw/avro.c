/*-------------------------------------------------------------------------
 *
 * avro.c
 *	  The Avro binary rows of the BigQuery Storage Read API, decoded
 *	  straight into a foreign scan's Datums.  Owns the reading of the read
 *	  session's Avro schema and of ReadRows' serialized_binary_rows.
 *
 * Written from the Avro 1.11 specification: a row is its record's fields
 * one after the other, with no framing; long and int are zig-zag varints,
 * double is 8 bytes little-endian, boolean one byte, string and bytes a
 * long length then the bytes, a union a long branch index then the value,
 * an array blocks of items (a long count, negative when a long byte size
 * follows it) ending with a count of 0.  BigQuery's schema marks its types
 * with logicalType (timestamp-micros, date, time-micros, decimal) or
 * sqlType (DATETIME, GEOGRAPHY, JSON, INTERVAL); a NULLABLE column is a union with
 * "null", a REPEATED one an array.
 *
 * The schema is compiled once per session into one step per column.
 * Where the column has the natural type of its BigQuery type (bigint,
 * float8, boolean, timestamptz, date, time, bytea, numeric, text) the
 * value is made directly from the bytes; any other column type gets the
 * text BigQuery's JSON would have sent, through the same converter as the
 * JSON path (convert.c's bq_convert_cell), so both paths give the same
 * values and the same errors.  Types this decoder does not take (RECORD,
 * RANGE) make the caller read through JSON paging instead.
 *
 * Every length and count is checked against the bytes left before it is
 * used: hostile or truncated input is an ERROR, never a read past the end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "fdw/avro.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* the Avro encoding of a value, with BigQuery's logical types */
typedef enum AvroKind
{
	AK_LONG,					/* INT64 */
	AK_INT,						/* an Avro int that is no date */
	AK_TIMESTAMP,				/* long, timestamp-micros */
	AK_DATE,					/* int, date: days since 1970-01-01 */
	AK_TIME,					/* long, time-micros */
	AK_DOUBLE,					/* FLOAT64 */
	AK_FLOAT,					/* a 4-byte Avro float */
	AK_BOOLEAN,
	AK_STRING,					/* STRING, DATETIME, GEOGRAPHY, JSON */
	AK_BYTES,
	AK_DECIMAL					/* bytes, decimal: NUMERIC and BIGNUMERIC */
} AvroKind;

/* how a value becomes a Datum */
typedef enum AvroMake
{
	AM_CONVERT,					/* BigQuery's JSON text, through convert.c */
	AM_INT8,
	AM_TIMESTAMP,				/* timestamptz or timestamp: microseconds */
	AM_DATE,
	AM_TIME,
	AM_FLOAT8,
	AM_BOOL,
	AM_BYTEA,
	AM_NUMERIC,					/* numeric without typmod */
	AM_TEXT						/* text in a UTF-8 database: the bytes */
} AvroMake;

/* one value's decoding: a column's, or an array column's element's */
typedef struct AvroStep
{
	AvroKind	kind;
	AvroMake	make;
	int			null_branch;	/* union index of "null"; -1: not nullable */
	int			scale;			/* AK_DECIMAL */
	BqConverter *conv;			/* the JSON path's converter of the value */
} AvroStep;

typedef struct AvroColumnPlan
{
	const char *colname;
	int			index;			/* into values/isnull; -1: decoded, not kept */
	AvroStep	value;			/* the column (for an array: whether NULL) */
	bool		repeated;
	AvroStep	element;		/* an array column's items */
	BqConverter conv;
} AvroColumnPlan;

struct BqAvroPlan
{
	int			nfields;		/* in the schema's order */
	AvroColumnPlan *fields;
	int			current;		/* the field being decoded, for messages */
	StringInfoData scratch;
};

/* decimal(77,38) takes 32 bytes; one more is allowed for a sign byte */
#define MAX_DECIMAL_BYTES	33

/* ---------------------------------------------------------------------
 * the schema
 * ---------------------------------------------------------------------
 */

pg_attribute_noreturn()
static void
schema_error(const char *detail, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("could not read the Avro schema of a BigQuery read session"),
			 name ? errdetail("%s (field \"%s\").", detail, name) : errdetail("%s.", detail)));
}

static const char *
member_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* *kind set, and the BigQuery type returned */
static const char *
with_kind(AvroKind *kind, AvroKind value, const char *bq_type)
{
	*kind = value;
	return bq_type;
}

/*
 * A field's type: its Avro kind and BigQuery type (NULL with *why when this
 * decoder does not take it), and whether "null" is a branch of its union.
 */
static const char *
read_type(json_t *type, const char *name, AvroKind *kind, int *null_branch, int *scale,
		  bool *repeated, const char **why, bool element)
{
	const char *base;
	const char *logical;
	const char *sql;

	*null_branch = -1;
	if (json_is_array(type))
	{
		json_t	   *other = NULL;

		/* BigQuery's NULLABLE: a union of "null" and one type */
		if (json_array_size(type) != 2)
			schema_error("A union has other branches than null and one type", name);
		for (int i = 0; i < 2; i++)
		{
			json_t	   *branch = json_array_get(type, i);

			if (json_is_string(branch) && strcmp(json_string_value(branch), "null") == 0)
				*null_branch = i;
			else
				other = branch;
		}
		if (*null_branch < 0 || other == NULL)
			schema_error("A union has other branches than null and one type", name);
		type = other;
	}
	if (json_is_string(type))
	{
		base = json_string_value(type);
		logical = sql = NULL;
	}
	else if (json_is_object(type))
	{
		base = member_string(type, "type");
		logical = member_string(type, "logicalType");
		sql = member_string(type, "sqlType");
	}
	else
		schema_error("A type is neither a name nor an object", name);
	if (base == NULL)
		schema_error("A type has no name", name);

	if (strcmp(base, "array") == 0)
	{
		int			inner_null;
		bool		inner_repeated;
		const char *bq;

		if (element || *null_branch >= 0)
			schema_error("An array is nested in an array or nullable", name);
		*repeated = true;
		bq = read_type(json_object_get(type, "items"), name, kind, &inner_null, scale,
					   &inner_repeated, why, true);
		*null_branch = inner_null;	/* of the items */
		return bq;
	}
	if (strcmp(base, "record") == 0)
	{
		*why = psprintf("column \"%s\" is a RECORD", name);
		return NULL;
	}
	if (strcmp(base, "long") == 0)
	{
		if (logical && strcmp(logical, "timestamp-micros") == 0)
			return with_kind(kind, AK_TIMESTAMP, "TIMESTAMP");
		if (logical && strcmp(logical, "time-micros") == 0)
			return with_kind(kind, AK_TIME, "TIME");
		if (logical && strcmp(logical, "local-timestamp-micros") == 0)
		{
			*why = psprintf("column \"%s\" has logical type %s", name, logical);
			return NULL;
		}
		return with_kind(kind, AK_LONG, "INT64");
	}
	if (strcmp(base, "int") == 0)
	{
		if (logical && strcmp(logical, "date") == 0)
			return with_kind(kind, AK_DATE, "DATE");
		return with_kind(kind, AK_INT, "INT64");
	}
	if (strcmp(base, "double") == 0)
		return with_kind(kind, AK_DOUBLE, "FLOAT64");
	if (strcmp(base, "float") == 0)
		return with_kind(kind, AK_FLOAT, "FLOAT64");
	if (strcmp(base, "boolean") == 0)
		return with_kind(kind, AK_BOOLEAN, "BOOL");
	if (strcmp(base, "bytes") == 0)
	{
		if (logical && strcmp(logical, "decimal") == 0)
		{
			json_t	   *p = json_object_get(type, "precision");
			json_t	   *s = json_object_get(type, "scale");
			json_int_t	precision = json_is_integer(p) ? json_integer_value(p) : -1;
			json_int_t	sc = json_is_integer(s) ? json_integer_value(s) : (s ? -1 : 0);

			if (precision < 1 || precision > 77 || sc < 0 || sc > precision)
				schema_error("A decimal has a precision or scale out of range", name);
			*scale = (int) sc;
			*kind = AK_DECIMAL;
			return precision > 38 || sc > 9 ? "BIGNUMERIC" : "NUMERIC";
		}
		return with_kind(kind, AK_BYTES, "BYTES");
	}
	if (strcmp(base, "string") == 0)
	{
		const char *mark = sql ? sql : logical;

		*kind = AK_STRING;
		if (mark == NULL)
			return "STRING";
		if (pg_strcasecmp(mark, "DATETIME") == 0)
			return "DATETIME";
		if (pg_strcasecmp(mark, "GEOGRAPHY") == 0 || strcmp(mark, "geography_wkt") == 0)
			return "GEOGRAPHY";
		if (pg_strcasecmp(mark, "JSON") == 0)
			return "JSON";
		/* canonical '[-]Y-M [-]D [-]H:M:S[.F]', as in JSON: convert.c reads it */
		if (pg_strcasecmp(mark, "INTERVAL") == 0)
			return "INTERVAL";
		*why = psprintf("column \"%s\" is a BigQuery %s", name, mark);
		return NULL;
	}
	schema_error(psprintf("Type \"%s\" is not one BigQuery sends", base), name);
	pg_unreachable();
}

/* the fastest way to the column's type that gives what convert.c would */
static AvroMake
choose_make(AvroKind kind, BqConverter *conv)
{
	Oid			t = conv->pg_type;

	switch (kind)
	{
		case AK_LONG:
		case AK_INT:
			return t == INT8OID ? AM_INT8 : AM_CONVERT;
		case AK_TIMESTAMP:
			return conv->cell == BQC_TIMESTAMP_MICROS ? AM_TIMESTAMP : AM_CONVERT;
		case AK_DATE:
			return t == DATEOID ? AM_DATE : AM_CONVERT;
		case AK_TIME:
			return t == TIMEOID && conv->typmod < 0 ? AM_TIME : AM_CONVERT;
		case AK_DOUBLE:
		case AK_FLOAT:
			return t == FLOAT8OID ? AM_FLOAT8 : AM_CONVERT;
		case AK_BOOLEAN:
			return t == BOOLOID ? AM_BOOL : AM_CONVERT;
		case AK_BYTES:
			return conv->cell == BQC_BYTES ? AM_BYTEA : AM_CONVERT;
		case AK_DECIMAL:
			return t == NUMERICOID && conv->typmod < 0 ? AM_NUMERIC : AM_CONVERT;
		case AK_STRING:
			return t == TEXTOID && GetDatabaseEncoding() == PG_UTF8 ? AM_TEXT : AM_CONVERT;
	}
	return AM_CONVERT;
}

/* the plan of a parsed schema; the tree is the caller's to free */
static BqAvroPlan *
compile_schema(json_t *root, const BqAvroColumn *columns, int ncolumns, const char **why)
{
	BqAvroPlan *plan;
	json_t	   *fields = json_object_get(root, "fields");
	bool	   *matched;
	size_t		i;
	json_t	   *f;

	if (!json_is_object(root) || member_string(root, "type") == NULL ||
		strcmp(member_string(root, "type"), "record") != 0 || !json_is_array(fields))
		schema_error("The schema is not a record with fields", NULL);

	plan = palloc0(sizeof(BqAvroPlan));
	plan->nfields = json_array_size(fields);
	plan->fields = palloc0(sizeof(AvroColumnPlan) * Max(plan->nfields, 1));
	plan->current = -1;
	initStringInfo(&plan->scratch);
	matched = palloc0(sizeof(bool) * Max(ncolumns, 1));

	json_array_foreach(fields, i, f)
	{
		AvroColumnPlan *fp = &plan->fields[i];
		const char *name = member_string(f, "name");
		const BqAvroColumn *col = NULL;
		const char *bq_type;
		AvroKind	kind = AK_LONG;
		int			null_branch;
		int			scale = 0;
		bool		repeated = false;

		if (name == NULL)
			schema_error("A field has no name", NULL);
		/* BigQuery's column names ignore case */
		for (int c = 0; c < ncolumns && col == NULL; c++)
			if (!matched[c] && pg_strcasecmp(columns[c].bq_name, name) == 0)
			{
				col = &columns[c];
				matched[c] = true;
			}
		if (col == NULL)
			schema_error("A field was not asked for", name);
		bq_type = read_type(json_object_get(f, "type"), name, &kind, &null_branch, &scale,
							&repeated, why, false);
		if (bq_type == NULL)
			return NULL;
		fp->colname = pstrdup(col->colname);
		fp->index = col->index;
		fp->repeated = repeated;
		/* the JSON path's checks of the column type, and its conversion */
		bq_converter_init(&fp->conv, fp->colname, bq_type, repeated ? "REPEATED" : NULL,
						  col->pg_type, col->typmod);
		if (fp->conv.cell == BQC_JSON)
		{
			*why = psprintf("column \"%s\" is an array read as JSON", fp->colname);
			return NULL;
		}
		if (repeated)
		{
			fp->value.null_branch = -1;
			fp->element.kind = kind;
			fp->element.null_branch = null_branch;
			fp->element.scale = scale;
			fp->element.conv = fp->conv.element;
			fp->element.make = choose_make(kind, fp->conv.element);
		}
		else
		{
			fp->value.kind = kind;
			fp->value.null_branch = null_branch;
			fp->value.scale = scale;
			fp->value.conv = &fp->conv;
			fp->value.make = choose_make(kind, &fp->conv);
		}
	}
	for (int c = 0; c < ncolumns; c++)
		if (!matched[c])
			schema_error("A column asked for is not in the schema", columns[c].bq_name);
	return plan;
}

BqAvroPlan *
bq_avro_plan_create(const char *schema, size_t len, const BqAvroColumn *columns, int ncolumns,
					const char **why)
{
	json_t	   *root;
	json_error_t jerr;
	BqAvroPlan *volatile plan = NULL;

	*why = NULL;
	if (len > BQ_AVRO_MAX_SCHEMA_BYTES)
		schema_error("The schema is longer than 1 MB", NULL);
	root = json_loadb(schema, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read the Avro schema of a BigQuery read session"),
				 errdetail("The schema is not valid JSON: %s.", jerr.text)));
	PG_TRY();
	{
		plan = compile_schema(root, columns, ncolumns, why);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
	return plan;
}

/* ---------------------------------------------------------------------
 * the rows
 * ---------------------------------------------------------------------
 */

void
bq_avro_block_init(BqAvroBlock *block, const uint8 *data, size_t len, int64 row_count)
{
	block->p = data;
	block->end = data + len;
	block->rows_left = row_count;
}

static void
avro_context(void *arg)
{
	BqAvroPlan *plan = (BqAvroPlan *) arg;

	if (plan->current >= 0)
		errcontext("reading column \"%s\" of a BigQuery Storage Read API row",
				   plan->fields[plan->current].colname);
}

pg_attribute_noreturn()
static void
bad_rows(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("could not read the Avro rows of a BigQuery read stream"),
			 errdetail("%s", detail)));
}

/* a zig-zag varint of at most 10 bytes */
static inline int64
read_long(BqAvroBlock *b)
{
	uint64		v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8		byte;

		if (b->p >= b->end)
			bad_rows("A number runs past the end of the block.");
		byte = *b->p++;
		if (shift == 63 && (byte & 0x7e) != 0)
			bad_rows("A number is longer than 64 bits.");
		v |= (uint64) (byte & 0x7f) << shift;
		if ((byte & 0x80) == 0)
			break;
		shift += 7;
		if (shift > 63)
			bad_rows("A number is longer than 64 bits.");
	}
	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

static inline int32
read_int(BqAvroBlock *b)
{
	int64		v = read_long(b);

	if (v < PG_INT32_MIN || v > PG_INT32_MAX)
		bad_rows("An int is out of its 32-bit range.");
	return (int32) v;
}

/* the length of a string or bytes, checked against the bytes left */
static inline size_t
read_length(BqAvroBlock *b)
{
	int64		n = read_long(b);

	if (n < 0 || n > b->end - b->p)
		bad_rows("A length is negative or runs past the end of the block.");
	if (n >= MaxAllocSize - VARHDRSZ)
		bad_rows("A value is longer than PostgreSQL's 1 GB limit.");
	return (size_t) n;
}

static inline void
need(BqAvroBlock *b, size_t n)
{
	if ((size_t) (b->end - b->p) < n)
		bad_rows("A value runs past the end of the block.");
}

/* the text BigQuery's JSON would carry, into the column through convert.c */
static Datum
convert_text(AvroStep *step, const char *text, size_t len, StringInfo scratch)
{
	JsToken		tok;
	bool		isnull;

	tok.type = JT_STRING;
	tok.start = text;
	tok.len = len;
	tok.escaped = false;
	return bq_convert_cell(step->conv, &tok, scratch, &isnull);
}

/* a string's bytes: UTF-8 without NUL, as BigQuery's JSON strings are */
static void
check_utf8(const char *s, size_t len)
{
	if (pg_encoding_verifymbstr(PG_UTF8, s, (int) len) != (int) len)
		bad_rows("A string is not valid UTF-8 or holds a NUL byte.");
}

/* BigQuery's NUMERIC text of an unscaled big-endian two's complement value */
static char *
decimal_text(const uint8 *bytes, size_t len, int scale)
{
	uint32		words[(MAX_DECIMAL_BYTES + 3) / 4 + 1];
	int			nwords = 0;
	bool		negative = len > 0 && (bytes[0] & 0x80);
	uint8		mag[MAX_DECIMAL_BYTES];
	char		digits[MAX_DECIMAL_BYTES * 3 + 2];
	int			ndigits = 0;
	StringInfoData out;
	int			start;

	/* magnitude: the two's complement of a negative value */
	for (size_t i = 0; i < len; i++)
		mag[i] = negative ? (uint8) ~bytes[i] : bytes[i];
	if (negative)
		for (size_t i = len; i-- > 0;)
			if (++mag[i] != 0)
				break;
	/* into 32-bit words, most significant first */
	for (size_t i = 0; i < len; i++)
	{
		if ((len - i) % 4 == 0 || i == 0)
			words[nwords++] = 0;
		words[nwords - 1] = (words[nwords - 1] << 8) | mag[i];
	}
	/* decimal digits, least significant first, by division by 10 */
	for (;;)
	{
		bool		zero = true;
		uint64		rem = 0;

		for (int w = 0; w < nwords; w++)
		{
			uint64		cur = (rem << 32) | words[w];

			words[w] = (uint32) (cur / 10);
			rem = cur % 10;
			if (words[w] != 0)
				zero = false;
		}
		digits[ndigits++] = (char) ('0' + rem);
		if (zero)
			break;
	}
	/* at least one digit before the point */
	while (ndigits <= scale)
		digits[ndigits++] = '0';
	/* no trailing zeros in the fraction: BigQuery's canonical form */
	start = 0;
	while (start < scale && digits[start] == '0')
		start++;
	initStringInfo(&out);
	if (negative)
		appendStringInfoChar(&out, '-');
	for (int i = ndigits - 1; i >= start; i--)
	{
		appendStringInfoChar(&out, digits[i]);
		if (i == scale && i > start)
			appendStringInfoChar(&out, '.');
	}
	if (strcmp(out.data, "-0") == 0)
		return pstrdup("0");
	return out.data;
}

/*
 * A FLOAT64 as BigQuery's JSON writes it, which is Java's Double.toString:
 * the shortest digits that read back as the value, positional from 10^-3
 * to below 10^7 with at least one digit after the point, else d.dddE<n>;
 * NaN, Infinity and -Infinity by name.  "buf" holds 64 bytes.
 */
static int
float_text(double v, char *buf)
{
	char		shortest[64];
	char		digits[32];
	int			ndigits = 0;
	int			exp10 = 0;
	int			point = -1;
	bool		negative = false;
	int			n = 0;
	double		mag = fabs(v);

	if (isnan(v))
		return snprintf(buf, 64, "NaN");
	if (isinf(v))
		return snprintf(buf, 64, v > 0 ? "Infinity" : "-Infinity");
	if (v == 0)
		return snprintf(buf, 64, signbit(v) ? "-0.0" : "0.0");

	/* the shortest digits and their decimal exponent, from d2s's text */
	(void) double_to_shortest_decimal_buf(v, shortest);
	for (const char *p = shortest; *p; p++)
	{
		if (*p == '-')
			negative = true;
		else if (*p == '.')
			point = ndigits;
		else if (*p == 'e' || *p == 'E')
		{
			exp10 = atoi(p + 1);
			break;
		}
		else if (ndigits < (int) sizeof(digits) - 1)
			digits[ndigits++] = *p;
	}
	if (point < 0)
		point = ndigits;
	/* leading and trailing zeros out: d.ddd x 10^e */
	{
		int			lead = 0;

		while (lead < ndigits - 1 && digits[lead] == '0')
			lead++;
		memmove(digits, digits + lead, ndigits - lead);
		ndigits -= lead;
		exp10 += point - lead - 1;
		while (ndigits > 1 && digits[ndigits - 1] == '0')
			ndigits--;
	}
	if (negative)
		buf[n++] = '-';
	if (mag >= 1e-3 && mag < 1e7)
	{
		if (exp10 >= 0)
		{
			for (int i = 0; i <= exp10; i++)
				buf[n++] = i < ndigits ? digits[i] : '0';
			buf[n++] = '.';
			if (ndigits > exp10 + 1)
				for (int i = exp10 + 1; i < ndigits; i++)
					buf[n++] = digits[i];
			else
				buf[n++] = '0';
		}
		else
		{
			buf[n++] = '0';
			buf[n++] = '.';
			for (int i = 0; i < -exp10 - 1; i++)
				buf[n++] = '0';
			for (int i = 0; i < ndigits; i++)
				buf[n++] = digits[i];
		}
		buf[n] = '\0';
		return n;
	}
	buf[n++] = digits[0];
	buf[n++] = '.';
	if (ndigits > 1)
		for (int i = 1; i < ndigits; i++)
			buf[n++] = digits[i];
	else
		buf[n++] = '0';
	return n + snprintf(buf + n, 64 - n, "E%d", exp10);
}

/* microseconds since the Unix epoch to PostgreSQL's, exactly, or an ERROR */
static int64
unix_micros_to_pg(int64 us)
{
	if (pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
							&us) ||
		!IS_VALID_TIMESTAMP(us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("TIMESTAMP value out of range")));
	return us;
}

/* one value of a step: false for NULL */
static bool
read_value(BqAvroPlan *plan, AvroStep *step, BqAvroBlock *b, Datum *result)
{
	char		buf[64];
	StringInfo	scratch = &plan->scratch;

	if (step->null_branch >= 0)
	{
		int64		branch = read_long(b);

		if (branch != 0 && branch != 1)
			bad_rows("A union branch index is neither 0 nor 1.");
		if (branch == step->null_branch)
			return false;
	}
	switch (step->kind)
	{
		case AK_LONG:
		case AK_INT:
			{
				int64		v = step->kind == AK_INT ? read_int(b) : read_long(b);

				if (step->make == AM_INT8)
					*result = Int64GetDatum(v);
				else
				{
					int			n = snprintf(buf, sizeof(buf), INT64_FORMAT, v);

					*result = convert_text(step, buf, n, scratch);
				}
				return true;
			}
		case AK_TIMESTAMP:
			{
				int64		us = read_long(b);

				if (step->make == AM_TIMESTAMP)
					*result = Int64GetDatum(unix_micros_to_pg(us));
				else
				{
					/* as the JSON path reads it: int64 microseconds */
					int			n = snprintf(buf, sizeof(buf), INT64_FORMAT, us);

					*result = convert_text(step, buf, n, scratch);
				}
				return true;
			}
		case AK_DATE:
			{
				int32		days = read_int(b);
				int64		d = (int64) days - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE);

				if (!IS_VALID_DATE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("DATE value out of range")));
				if (step->make == AM_DATE)
					*result = DateADTGetDatum((DateADT) d);
				else
				{
					char	   *text = bq_date_text((DateADT) d);

					*result = convert_text(step, text, strlen(text), scratch);
				}
				return true;
			}
		case AK_TIME:
			{
				int64		us = read_long(b);

				if (us < 0 || us >= USECS_PER_DAY)
					bad_rows("A TIME is outside one day.");
				if (step->make == AM_TIME)
					*result = TimeADTGetDatum(us);
				else
				{
					/* as BigQuery's JSON: a fraction only when there is one */
					int			n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d",
											 (int) (us / USECS_PER_HOUR),
											 (int) (us / USECS_PER_MINUTE % 60),
											 (int) (us / USECS_PER_SEC % 60));

					if (us % USECS_PER_SEC != 0)
						n += snprintf(buf + n, sizeof(buf) - n, ".%06d",
									  (int) (us % USECS_PER_SEC));

					*result = convert_text(step, buf, n, scratch);
				}
				return true;
			}
		case AK_DOUBLE:
		case AK_FLOAT:
			{
				double		v;

				if (step->kind == AK_DOUBLE)
				{
					uint64		bits = 0;

					need(b, 8);
					for (int i = 7; i >= 0; i--)
						bits = (bits << 8) | b->p[i];
					b->p += 8;
					memcpy(&v, &bits, sizeof(v));
				}
				else
				{
					uint32		bits = 0;
					float		f;

					need(b, 4);
					for (int i = 3; i >= 0; i--)
						bits = (bits << 8) | b->p[i];
					b->p += 4;
					memcpy(&f, &bits, sizeof(f));
					v = f;
				}
				if (step->make == AM_FLOAT8)
					*result = Float8GetDatum(v);
				else
				{
					int			n;

					n = float_text(v, buf);
					*result = convert_text(step, buf, n, scratch);
				}
				return true;
			}
		case AK_BOOLEAN:
			{
				uint8		v;

				need(b, 1);
				v = *b->p++;
				if (v > 1)
					bad_rows("A boolean is neither 0 nor 1.");
				if (step->make == AM_BOOL)
					*result = BoolGetDatum(v == 1);
				else
					*result = convert_text(step, v ? "true" : "false", v ? 4 : 5, scratch);
				return true;
			}
		case AK_STRING:
			{
				size_t		len = read_length(b);
				const char *s = (const char *) b->p;

				b->p += len;
				check_utf8(s, len);
				if (step->make == AM_TEXT)
					*result = PointerGetDatum(cstring_to_text_with_len(s, (int) len));
				else
					*result = convert_text(step, s, len, scratch);
				return true;
			}
		case AK_BYTES:
			{
				size_t		len = read_length(b);
				const char *s = (const char *) b->p;

				b->p += len;
				if (step->make == AM_BYTEA)
				{
					bytea	   *v = palloc(VARHDRSZ + len);

					memcpy(VARDATA(v), s, len);
					SET_VARSIZE(v, VARHDRSZ + len);
					*result = PointerGetDatum(v);
				}
				else
				{
					/* base64, as BigQuery's JSON sends BYTES */
					int			enclen = pg_b64_enc_len((int) len);
					char	   *enc = palloc(enclen + 1);
					int			n = pg_b64_encode(s, (int) len, enc, enclen);

					if (n < 0)
						bad_rows("A BYTES value could not be encoded.");
					*result = convert_text(step, enc, n, scratch);
				}
				return true;
			}
		case AK_DECIMAL:
			{
				size_t		len = read_length(b);
				const uint8 *bytes = b->p;

				b->p += len;
				if (len == 0 || len > MAX_DECIMAL_BYTES)
					bad_rows("A decimal has no bytes or more than 33.");
				if (step->make == AM_NUMERIC && len <= 8)
				{
					/* sign-extended into an int64, trailing zeros dropped */
					int64		v = (bytes[0] & 0x80) ? -1 : 0;
					int			scale = step->scale;

					for (size_t i = 0; i < len; i++)
						v = (int64) (((uint64) v << 8) | bytes[i]);
					while (scale > 0 && v % 10 == 0)
					{
						v /= 10;
						scale--;
					}
					*result = NumericGetDatum(int64_div_fast_to_numeric(v, scale));
				}
				else
				{
					char	   *text = decimal_text(bytes, len, step->scale);

					*result = convert_text(step, text, strlen(text), scratch);
				}
				return true;
			}
	}
	pg_unreachable();
}

/* a REPEATED column: the array's blocks of items into a one-dimensional array */
static Datum
read_array(BqAvroPlan *plan, AvroColumnPlan *fp, BqAvroBlock *b)
{
	int			n = 0;
	int			cap = 8;
	Datum	   *elems = palloc(sizeof(Datum) * cap);
	bool	   *nulls = palloc(sizeof(bool) * cap);
	bool		any_null = false;
	int			dims[1];
	int			lbs[1] = {1};

	for (;;)
	{
		int64		count = read_long(b);

		if (count == 0)
			break;
		if (count < 0)
		{
			/* a negative count is followed by the block's size in bytes */
			int64		size = read_long(b);

			if (count == PG_INT64_MIN || size < 0 || size > b->end - b->p)
				bad_rows("An array block's size is negative or runs past the end of the block.");
			count = -count;
		}
		/* every item takes one byte at least */
		if (count > b->end - b->p || count > (int64) (MaxAllocSize / sizeof(Datum)) - n)
			bad_rows("An array's item count exceeds the bytes left.");
		if (n + count > cap)
		{
			cap = (int) (n + count);
			elems = repalloc(elems, sizeof(Datum) * cap);
			nulls = repalloc(nulls, sizeof(bool) * cap);
		}
		for (int64 i = 0; i < count; i++, n++)
		{
			nulls[n] = !read_value(plan, &fp->element, b, &elems[n]);
			any_null |= nulls[n];
		}
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, any_null ? nulls : NULL, 1, dims, lbs,
											  fp->conv.element->pg_type, fp->conv.elmlen,
											  fp->conv.elmbyval, fp->conv.elmalign));
}

bool
bq_avro_next_row(BqAvroPlan *plan, BqAvroBlock *block, Datum *values, bool *isnull)
{
	ErrorContextCallback errcb;

	if (block->rows_left <= 0)
	{
		if (block->p != block->end)
			bad_rows("The block holds more bytes than its row count.");
		return false;
	}
	if (block->p >= block->end && plan->nfields > 0)
		bad_rows("The block ends before its row count.");

	errcb.callback = avro_context;
	errcb.arg = plan;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (int i = 0; i < plan->nfields; i++)
	{
		AvroColumnPlan *fp = &plan->fields[i];
		Datum		v = (Datum) 0;
		bool		present;

		plan->current = i;
		if (fp->repeated)
		{
			/* BigQuery sends an empty array for NULL: so does the JSON path */
			v = read_array(plan, fp, block);
			present = true;
		}
		else
			present = read_value(plan, &fp->value, block, &v);
		values[fp->index] = v;
		isnull[fp->index] = !present;
	}
	plan->current = -1;
	error_context_stack = errcb.previous;
	block->rows_left--;
	return true;
}
