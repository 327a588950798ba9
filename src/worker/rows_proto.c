/*-------------------------------------------------------------------------
 *
 * rows_proto.c
 *	  Rows for the Storage Write API: the row message type made from the
 *	  target table's schema (a proto2 DescriptorProto, sent as the writer
 *	  schema of each AppendRows connection) and the encoding of validated
 *	  JSON payloads as that message.
 *
 * The message has one optional (or, for REQUIRED columns, required) field
 * per column, numbered from 1 in the schema's order, of the protocol buffer
 * type BigQuery documents as the preferred one for the column's type
 * ("Supported protocol buffer and Arrow data types"): INT64 int64, FLOAT64
 * double, BOOL bool, TIMESTAMP int64 microseconds since the Unix epoch,
 * DATE int32 days since the Unix epoch, BYTES bytes, and string for
 * STRING, NUMERIC, BIGNUMERIC, DATETIME, TIME, JSON, GEOGRAPHY and
 * INTERVAL (their literals, as insertAll takes them).  A JSON null leaves
 * the field out.  Columns of other shapes (RECORD, REPEATED, RANGE) are
 * refused when the pipeline starts: such a table needs insert_all.
 *
 * The payloads have passed the pipeline's validation, which checked the
 * JSON grammar and the types of STRING, INT64, FLOAT64, BOOL and TIMESTAMP
 * columns; the encoder still checks what it converts, since the other
 * types pass validation unjudged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "gcp/gcp_json.h"

#include <math.h>

#include "common/string.h"
#include "datatype/timestamp.h"
#include "utils/datetime.h"

#include "gcp/bigquery.h"
#include "gcp/jsonscan.h"
#include "gcp/protobuf.h"
#include "worker/rows_proto.h"
#include "worker/validate.h"

/* google.protobuf.FieldDescriptorProto's enums */
#define LABEL_OPTIONAL	1
#define LABEL_REQUIRED	2
#define TYPE_DOUBLE		1
#define TYPE_INT64		3
#define TYPE_INT32		5
#define TYPE_BOOL		8
#define TYPE_STRING		9
#define TYPE_BYTES		12

typedef enum ColumnEncoding
{
	ENC_STRING,					/* the JSON string's value, or a number's text */
	ENC_JSON,					/* the JSON text of any value (JSON columns) */
	ENC_INT64,
	ENC_DOUBLE,
	ENC_BOOL,
	ENC_TIMESTAMP,
	ENC_DATE,
	ENC_BYTES
} ColumnEncoding;

typedef struct RowColumn
{
	char	   *name;
	int			number;			/* the field's number */
	ColumnEncoding enc;
} RowColumn;

struct RowProtoSchema
{
	int			ncolumns;
	RowColumn  *columns;
	StringInfoData descriptor;
	StringInfoData scratch;
};

/* a protocol buffer field name, which the writer schema's fields must be */
static bool
proto_field_name(const char *name)
{
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
		  name[0] == '_'))
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

RowProtoSchema *
row_proto_schema(json_t *table, const char *table_name)
{
	json_t	   *fields = bq_table_schema_fields(table, table_name);
	RowProtoSchema *schema;
	size_t		i;
	json_t	   *f;

	schema = palloc0(sizeof(RowProtoSchema));
	schema->columns = palloc0(sizeof(RowColumn) * json_array_size(fields));
	initStringInfo(&schema->descriptor);
	initStringInfo(&schema->scratch);
	/* DescriptorProto.name */
	pb_put_string(&schema->descriptor, 1, "bqstream_row");
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		RowColumn  *col = &schema->columns[schema->ncolumns];
		StringInfoData field;
		int			pbtype;

		if (name == NULL || !proto_field_name(name))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of BigQuery table \"%s\" cannot be written through the Storage Write API",
							name ? name : "", table_name),
					 errdetail("Its name is not a protocol buffer field name."),
					 errhint("Use write_mode => 'insert_all' for this table.")));
		if (mode && strcmp(mode, "REPEATED") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of BigQuery table \"%s\" cannot be written through the Storage Write API",
							name, table_name),
					 errdetail("Repeated columns are not encoded by bqstream's Storage Write API path."),
					 errhint("Use write_mode => 'insert_all' for this table.")));
		switch (bq_type_from_name(type))
		{
			case BQ_TYPE_STRING:
			case BQ_TYPE_NUMERIC:
			case BQ_TYPE_BIGNUMERIC:
			case BQ_TYPE_DATETIME:
			case BQ_TYPE_TIME:
			case BQ_TYPE_GEOGRAPHY:
			case BQ_TYPE_INTERVAL:
				col->enc = ENC_STRING;
				pbtype = TYPE_STRING;
				break;
			case BQ_TYPE_JSON:
				col->enc = ENC_JSON;
				pbtype = TYPE_STRING;
				break;
			case BQ_TYPE_INT64:
				col->enc = ENC_INT64;
				pbtype = TYPE_INT64;
				break;
			case BQ_TYPE_FLOAT64:
				col->enc = ENC_DOUBLE;
				pbtype = TYPE_DOUBLE;
				break;
			case BQ_TYPE_BOOL:
				col->enc = ENC_BOOL;
				pbtype = TYPE_BOOL;
				break;
			case BQ_TYPE_TIMESTAMP:
				col->enc = ENC_TIMESTAMP;
				pbtype = TYPE_INT64;
				break;
			case BQ_TYPE_DATE:
				col->enc = ENC_DATE;
				pbtype = TYPE_INT32;
				break;
			case BQ_TYPE_BYTES:
				col->enc = ENC_BYTES;
				pbtype = TYPE_BYTES;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("column \"%s\" of BigQuery table \"%s\" cannot be written through the Storage Write API",
								name, table_name),
						 errdetail("Columns of type %s are not encoded by bqstream's Storage Write API path.",
								   type ? type : "(none)"),
						 errhint("Use write_mode => 'insert_all' for this table.")));
				pbtype = 0;		/* keep the compiler quiet */
		}
		col->name = pstrdup(name);
		col->number = schema->ncolumns + 1;
		schema->ncolumns++;

		/* FieldDescriptorProto: name 1, number 3, label 4, type 5 */
		initStringInfo(&field);
		pb_put_string(&field, 1, col->name);
		pb_put_int64(&field, 3, col->number);
		pb_put_int64(&field, 4, mode && strcmp(mode, "REQUIRED") == 0 ? LABEL_REQUIRED : LABEL_OPTIONAL);
		pb_put_int64(&field, 5, pbtype);
		/* DescriptorProto.field */
		pb_put_bytes(&schema->descriptor, 2, field.data, field.len);
		pfree(field.data);
	}
	return schema;
}

const char *
row_proto_descriptor(const RowProtoSchema *schema, size_t *len)
{
	*len = schema->descriptor.len;
	return schema->descriptor.data;
}

static const RowColumn *
find_column(const RowProtoSchema *schema, const JsToken *key)
{
	for (int c = 0; c < schema->ncolumns; c++)
		if (js_string_is(key, schema->columns[c].name))
			return &schema->columns[c];
	return NULL;
}

/* the text of a JSON number or the value of a JSON string, NUL-terminated */
static char *
scalar_text(RowProtoSchema *schema, JsTokenKind type, const JsToken *tok)
{
	if (type == JT_STRING)
		return js_string_value(tok, &schema->scratch);
	resetStringInfo(&schema->scratch);
	appendBinaryStringInfo(&schema->scratch, tok->start, tok->len);
	return schema->scratch.data;
}

/* YYYY-MM-DD as days since 1970-01-01 */
static bool
parse_date_days(const char *s, int32 *days)
{
	int			y,
				m,
				d;
	char		tail;

	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(s) != 10 ||
		y < 1 || m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*days = date2j(y, m, d) - UNIX_EPOCH_JDATE;
	return true;
}

/* Encode one value into its field; false with *why when it does not fit. */
static bool
encode_value(RowProtoSchema *schema, const RowColumn *col, JsonScan *s,
			 StringInfo buf, char **why)
{
	JsToken		tok;
	JsTokenKind type;
	char	   *text;

	if (col->enc == ENC_JSON)
	{
		const char *span;
		size_t		len;
		JsonScan	inner;

		/* any value, as its JSON text; a string holds JSON text already */
		if (!js_skip(s, &span, &len))
		{
			*why = pstrdup("The payload is not valid JSON.");
			return false;
		}
		if (len == 4 && memcmp(span, "null", 4) == 0)
			return true;
		if (span[0] == '"')
		{
			js_init(&inner, span, len);
			(void) js_value(&inner, &tok);
			pb_put_string(buf, col->number, js_string_value(&tok, &schema->scratch));
		}
		else
			pb_put_bytes(buf, col->number, span, len);
		return true;
	}

	type = js_value(s, &tok);
	if (type == JT_NULL)
		return true;
	if (type == JT_OBJECT || type == JT_ARRAY)
	{
		js_finish(s, type);
		*why = psprintf("Column \"%s\" holds an object or array.", col->name);
		return false;
	}
	switch (col->enc)
	{
		case ENC_STRING:
			if (type == JT_TRUE || type == JT_FALSE)
				pb_put_string(buf, col->number, type == JT_TRUE ? "true" : "false");
			else
				pb_put_string(buf, col->number, scalar_text(schema, type, &tok));
			return true;
		case ENC_INT64:
			{
				char	   *end;
				long long	v;

				if (type != JT_NUMBER && type != JT_STRING)
					break;
				text = scalar_text(schema, type, &tok);
				errno = 0;
				v = strtoll(text, &end, 10);
				if (errno != 0 || end == text || *end != '\0')
					break;
				pb_put_int64(buf, col->number, (int64) v);
				return true;
			}
		case ENC_DOUBLE:
			{
				char	   *end;
				double		v;

				if (type != JT_NUMBER && type != JT_STRING)
					break;
				text = scalar_text(schema, type, &tok);
				v = strtod(text, &end);
				if (end == text || *end != '\0')
					break;
				pb_put_double(buf, col->number, v);
				return true;
			}
		case ENC_BOOL:
			if (type == JT_TRUE || type == JT_FALSE)
			{
				pb_put_bool(buf, col->number, type == JT_TRUE);
				return true;
			}
			if (type == JT_STRING)
			{
				text = js_string_value(&tok, &schema->scratch);
				if (pg_strcasecmp(text, "true") == 0 || pg_strcasecmp(text, "false") == 0)
				{
					pb_put_bool(buf, col->number, pg_strcasecmp(text, "true") == 0);
					return true;
				}
			}
			break;
		case ENC_TIMESTAMP:
			if (type == JT_STRING)
			{
				TimestampTz ts;

				text = js_string_value(&tok, &schema->scratch);
				if (!parse_timestamp(text, strlen(text), &ts))
					break;
				/* PostgreSQL counts from 2000-01-01, BigQuery from 1970 */
				pb_put_int64(buf, col->number,
							 ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
				return true;
			}
			if (type == JT_NUMBER)
			{
				/* seconds since the epoch, as insertAll reads a number */
				double		secs = strtod(scalar_text(schema, type, &tok), NULL);

				if (!isfinite(secs) || fabs(secs) > 253402300800.0)
					break;
				pb_put_int64(buf, col->number, (int64) llround(secs * 1000000.0));
				return true;
			}
			break;
		case ENC_DATE:
			if (type == JT_STRING)
			{
				int32		days;

				if (!parse_date_days(js_string_value(&tok, &schema->scratch), &days))
					break;
				pb_put_int64(buf, col->number, days);
				return true;
			}
			break;
		case ENC_BYTES:
			if (type == JT_STRING && !tok.escaped)
			{
				char	   *bytes = palloc(tok.len / 4 * 3 + 4);
				int			len = js_base64_decode(tok.start, tok.len, bytes);

				if (len < 0)
				{
					pfree(bytes);
					break;
				}
				pb_put_bytes(buf, col->number, bytes, len);
				pfree(bytes);
				return true;
			}
			break;
		case ENC_JSON:
			Assert(false);
			break;
	}
	*why = psprintf("Column \"%s\" has a value its type does not take.", col->name);
	return false;
}

bool
row_proto_encode(const RowProtoSchema *schema_in, const char *json, size_t len,
				 StringInfo buf, char **why)
{
	RowProtoSchema *schema = (RowProtoSchema *) schema_in;
	JsonScan	s;
	JsToken		tok;
	JsToken		key;
	bool		first = true;
	int			start_len = buf->len;

	js_init(&s, json, len);
	if (js_value(&s, &tok) != JT_OBJECT)
	{
		*why = pstrdup("The payload is not a JSON object.");
		return false;
	}
	while (js_object_next(&s, &key, &first))
	{
		const RowColumn *col = find_column(schema, &key);

		if (col == NULL)
		{
			/* validation refused unknown members: nothing to write */
			js_skip(&s, NULL, NULL);
			continue;
		}
		if (!encode_value(schema, col, &s, buf, why))
		{
			buf->len = start_len;
			buf->data[start_len] = '\0';
			return false;
		}
	}
	if (s.error || !js_at_end(&s))
	{
		buf->len = start_len;
		buf->data[start_len] = '\0';
		*why = pstrdup("The payload is not valid JSON.");
		return false;
	}
	return true;
}
