/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Decide whether a message payload is a row BigQuery will take, before
 *	  sending it: the target table's schema (required fields, types, no
 *	  unknown fields) plus the data-quality rules of orders.
 *
 * Rejecting here, with a reason code, keeps bad messages out of insertAll
 * (where one bad row can cost a whole request) and gives the dead-letter
 * table a reason a person can act on.  The schema comes from tables.get,
 * so a column added to the table is accepted without a code change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "gcp/bigquery.h"
#include "gcp/jsonscan.h"
#include "worker/validate.h"

PG_FUNCTION_INFO_V1(bqstream_check_order);

TableSchema *
schema_from_table(json_t *table, const char *table_name)
{
	json_t	   *fields = bq_table_schema_fields(table, table_name);
	TableSchema *schema;
	size_t		i;
	json_t	   *f;

	schema = palloc0(sizeof(TableSchema));
	schema->fields = palloc0(sizeof(BqField) * json_array_size(fields));
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		BqField    *field = &schema->fields[schema->nfields++];

		field->name = pstrdup(name ? name : "");
		field->name_len = strlen(field->name);
		field->required = mode && strcmp(mode, "REQUIRED") == 0;
		field->is_id = field->name_len > 3 &&
			strcmp(field->name + field->name_len - 3, "_id") == 0;
		field->is_amount = strcmp(field->name, "amount") == 0;
		field->is_event_time = strcmp(field->name, "event_time") == 0;
		switch (bq_type_from_name(type))
		{
			case BQ_TYPE_STRING:
				field->type = BQT_STRING;
				break;
			case BQ_TYPE_INT64:
				field->type = BQT_INT64;
				break;
			case BQ_TYPE_FLOAT64:
			case BQ_TYPE_NUMERIC:
			case BQ_TYPE_BIGNUMERIC:
				field->type = BQT_FLOAT64;
				break;
			case BQ_TYPE_BOOL:
				field->type = BQT_BOOL;
				break;
			case BQ_TYPE_TIMESTAMP:
				field->type = BQT_TIMESTAMP;
				break;
			default:
				field->type = BQT_OTHER;
				break;
		}
		/* a repeated field is an array: leave it to BigQuery */
		if (mode && strcmp(mode, "REPEATED") == 0)
			field->type = BQT_OTHER;
	}
	schema->seen = palloc0(sizeof(bool) * schema->nfields);
	schema->scratch = makeStringInfo();
	return schema;
}

/* two decimal digits, or -1: every field of a timestamp is made of them */
static inline int
digits2(const char *s)
{
	unsigned int hi = (unsigned char) s[0] - '0';
	unsigned int lo = (unsigned char) s[1] - '0';

	return hi <= 9 && lo <= 9 ? (int) (hi * 10 + lo) : -1;
}

bool
parse_timestamp(const char *s, size_t len, TimestampTz *result)
{
	int			century,
				year,
				month,
				day,
				hour,
				minute,
				second;
	int64		usec = 0;
	int64		offset_s = 0;
	size_t		p = 19;

	/* YYYY-MM-DD[T ]HH:MM:SS */
	if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':')
		return false;
	century = digits2(s);
	year = digits2(s + 2);
	year = century < 0 || year < 0 ? -1 : century * 100 + year;
	month = digits2(s + 5);
	day = digits2(s + 8);
	hour = digits2(s + 11);
	minute = digits2(s + 14);
	second = digits2(s + 17);
	if (year < 1 || month < 1 || month > 12 || day < 1 ||
		day > day_tab[isleap(year)][month - 1] || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || second < 0 || second > 59)
		return false;

	if (p < len && s[p] == '.')
	{
		int			n = 0;

		/* digits past the sixth (Pub/Sub gives nine) are dropped */
		for (p++; p < len && s[p] >= '0' && s[p] <= '9'; p++, n++)
		{
			if (n < 6)
				usec = usec * 10 + (s[p] - '0');
		}
		if (n == 0 || n > 9)
			return false;
		for (; n < 6; n++)
			usec *= 10;
	}
	if (p < len && (s[p] == 'Z' || s[p] == 'z'))
		p++;
	else if (p < len && (s[p] == '+' || s[p] == '-'))
	{
		int			oh,
					om;

		if (len - p != 6 || s[p + 3] != ':' ||
			(oh = digits2(s + p + 1)) < 0 || oh > 23 ||
			(om = digits2(s + p + 4)) < 0 || om > 59)
			return false;
		offset_s = (oh * 60 + om) * 60 * (s[p] == '+' ? 1 : -1);
		p = len;
	}
	if (p != len)
		return false;

	*result = ((int64) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE) * SECS_PER_DAY +
			   hour * 3600 + minute * 60 + second - offset_s) * USECS_PER_SEC + usec;
	return true;
}

static bool
is_int64_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0' || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* the first problem found is the one reported */
static void
reject(Verdict *v, DeadLetterReason reason, const char *fmt, const char *arg)
{
	if (v->reason >= 0)
		return;
	v->reason = reason;
	v->detail = psprintf(fmt, arg);
}

static bool
is_integer_span(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '.' || p[i] == 'e' || p[i] == 'E')
			return false;
	return true;
}

/* checks of one present, non-null value */
static void
check_value(const BqField *field, const JsToken *tok, StringInfo scratch,
			const ValidationRules *rules, TimestampTz now, Verdict *v)
{
	switch (field->type)
	{
		case BQT_STRING:
			if (tok->type != JT_STRING)
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be a string.", field->name);
			/* identifiers: present and of a sane size */
			else if (field->is_id &&
					 (tok->len == 0 || tok->len > (size_t) rules->max_id_length))
				reject(v, DL_INVALID_ID, "Field \"%s\" is empty or too long.", field->name);
			break;
		case BQT_INT64:
			if (!(tok->type == JT_NUMBER && is_integer_span(tok->start, tok->len)) &&
				!(tok->type == JT_STRING && is_int64_text(js_string_value(tok, scratch))))
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be an integer.", field->name);
			break;
		case BQT_FLOAT64:
			if (tok->type != JT_NUMBER)
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be a number.", field->name);
			else if (field->is_amount)
			{
				char		num[64];
				double		d;
				bool		exponent = false;
				bool		nonzero = false;

				if (tok->len >= sizeof(num))
				{
					reject(v, DL_INVALID_AMOUNT, "Field \"%s\" has too many digits.", field->name);
					break;
				}

				/*
				 * Without an exponent, a JSON number of under 64 characters
				 * is finite as a double, and a nonzero one is too large to
				 * round to zero: it is negative exactly when it has a minus
				 * sign and a digit other than 0.  That is strtod()'s verdict
				 * without its cost.  With an exponent, ask strtod().
				 */
				for (size_t i = 0; i < tok->len; i++)
				{
					char		c = tok->start[i];

					if (c == 'e' || c == 'E')
						exponent = true;
					else if (c >= '1' && c <= '9')
						nonzero = true;
				}
				if (!exponent)
				{
					if (tok->start[0] == '-' && nonzero)
						reject(v, DL_INVALID_AMOUNT, "Field \"%s\" is negative or not finite.", field->name);
					break;
				}
				memcpy(num, tok->start, tok->len);
				num[tok->len] = '\0';
				d = strtod(num, NULL);
				if (!isfinite(d) || d < 0)
					reject(v, DL_INVALID_AMOUNT, "Field \"%s\" is negative or not finite.", field->name);
			}
			break;
		case BQT_BOOL:
			if (tok->type != JT_TRUE && tok->type != JT_FALSE)
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be true or false.", field->name);
			break;
		case BQT_TIMESTAMP:
			{
				TimestampTz ts;
				const char *text;

				if (tok->type != JT_STRING)
				{
					reject(v, DL_BAD_TIMESTAMP, "Field \"%s\" is not an RFC 3339 timestamp.", field->name);
					break;
				}
				text = tok->escaped ? js_string_value(tok, scratch) : tok->start;
				if (!parse_timestamp(text, tok->escaped ? strlen(text) : tok->len, &ts))
					reject(v, DL_BAD_TIMESTAMP, "Field \"%s\" is not an RFC 3339 timestamp.", field->name);
				else if (ts > now + rules->max_future_skew_us)
					reject(v, DL_FUTURE_EVENT_TIME, "Field \"%s\" lies too far in the future.", field->name);
				else if (field->is_event_time)
					v->event_time = ts;
				break;
			}
		case BQT_OTHER:
			break;
	}
}

static int
find_field(const TableSchema *schema, const JsToken *key, StringInfo scratch)
{
	const char *name = key->start;
	size_t		len = key->len;

	if (key->escaped)
	{
		name = js_string_value(key, scratch);
		len = strlen(name);
	}
	/* the length and first byte rule out most columns without a call */
	for (int i = 0; i < schema->nfields; i++)
		if (schema->fields[i].name_len == len &&
			(len == 0 || (schema->fields[i].name[0] == name[0] &&
						  memcmp(schema->fields[i].name, name, len) == 0)))
			return i;
	return -1;
}

void
validate_payload(const TableSchema *schema, const ValidationRules *rules,
				 const char *data, size_t len, TimestampTz now, Verdict *v)
{
	JsonScan	s;
	JsToken	tok;
	JsToken	key;
	JsTokenKind root;
	JsTokenKind type;
	bool		first = true;
	bool	   *seen = schema->seen;

	v->reason = -1;
	v->detail = NULL;
	v->event_time = 0;
	memset(seen, 0, sizeof(bool) * schema->nfields);

	js_init(&s, data, len);
	root = js_value(&s, &tok);
	if (root == JT_OBJECT)
	{
		/* scan to the end even after a problem: broken JSON is reported first */
		while (js_object_next(&s, &key, &first))
		{
			int			f = find_field(schema, &key, schema->scratch);

			type = js_value(&s, &tok);
			if (type == JT_OBJECT || type == JT_ARRAY)
				js_finish(&s, type);
			if (type == JT_ERROR)
				break;
			if (f < 0)
			{
				reject(v, DL_UNKNOWN_FIELD, "Field \"%s\" is not a column of the table.",
					   js_string_value(&key, schema->scratch));
				continue;
			}
			if (seen[f])
			{
				reject(v, DL_NOT_JSON, "Field \"%s\" appears twice.", schema->fields[f].name);
				continue;
			}
			seen[f] = true;
			if (type == JT_NULL)
			{
				/* null is as if absent, but only once */
				if (schema->fields[f].required)
					reject(v, DL_MISSING_FIELD, "Required field \"%s\" is missing.",
						   schema->fields[f].name);
				continue;
			}
			if ((type == JT_OBJECT || type == JT_ARRAY) && schema->fields[f].type != BQT_OTHER)
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must not be an object or an array.",
					   schema->fields[f].name);
			else
				check_value(&schema->fields[f], &tok, schema->scratch, rules, now, v);
		}
	}

	else if (root == JT_ARRAY)
		js_finish(&s, JT_ARRAY);

	if (!js_at_end(&s))
	{
		v->reason = DL_NOT_JSON;
		v->detail = psprintf("The payload is not JSON: %s at byte %d.",
							 s.error, js_error_offset(&s, data));
		return;
	}
	if (root != JT_OBJECT && v->reason < 0)
	{
		v->reason = DL_NOT_AN_OBJECT;
		v->detail = pstrdup("The payload is JSON but not an object.");
		return;
	}
	for (int i = 0; i < schema->nfields && v->reason < 0; i++)
		if (schema->fields[i].required && !seen[i])
			reject(v, DL_MISSING_FIELD, "Required field \"%s\" is missing.", schema->fields[i].name);
}

/*
 * check_order(payload, max_future_skew, at): what a pipeline writing into a
 * raw_orders table would make of a payload: (NULL, NULL) when it would be
 * streamed, else the dead-letter reason and detail.
 */
Datum
bqstream_check_order(PG_FUNCTION_ARGS)
{
	bytea	   *payload = PG_GETARG_BYTEA_PP(0);
	Interval   *skew = PG_GETARG_INTERVAL_P(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	json_t	   *table = json_pack("{s:o}", "schema", bq_raw_orders_schema());
	TableSchema *schema;
	ValidationRules rules;
	Verdict		v;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	PG_TRY();
	{
		schema = schema_from_table(table, "raw_orders");
	}
	PG_FINALLY();
	{
		json_decref(table);
	}
	PG_END_TRY();

	rules.max_future_skew_us = skew->time + (skew->day + skew->month * (int64) DAYS_PER_MONTH) * USECS_PER_DAY;
	rules.max_id_length = 128;
	validate_payload(schema, &rules, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), at, &v);
	if (v.reason >= 0)
	{
		values[0] = CStringGetTextDatum(dead_letter_reason_names[v.reason]);
		values[1] = CStringGetTextDatum(v.detail);
		nulls[0] = nulls[1] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
