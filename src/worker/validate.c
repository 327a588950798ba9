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

#include "utils/datetime.h"

#include "worker/validate.h"

TableSchema *
schema_from_table(json_t *table, const char *table_name)
{
	json_t	   *fields = json_object_get(json_object_get(table, "schema"), "fields");
	TableSchema *schema;
	size_t		i;
	json_t	   *f;

	if (!json_is_array(fields) || json_array_size(fields) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("BigQuery table \"%s\" has no schema", table_name)));

	schema = palloc0(sizeof(TableSchema));
	schema->fields = palloc0(sizeof(BqField) * json_array_size(fields));
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		BqField    *field = &schema->fields[schema->nfields++];

		field->name = pstrdup(name ? name : "");
		field->required = mode && strcmp(mode, "REQUIRED") == 0;
		if (type == NULL)
			field->type = BQT_OTHER;
		else if (strcmp(type, "STRING") == 0)
			field->type = BQT_STRING;
		else if (strcmp(type, "INTEGER") == 0 || strcmp(type, "INT64") == 0)
			field->type = BQT_INT64;
		else if (strcmp(type, "FLOAT") == 0 || strcmp(type, "FLOAT64") == 0 ||
				 strcmp(type, "NUMERIC") == 0 || strcmp(type, "BIGNUMERIC") == 0)
			field->type = BQT_FLOAT64;
		else if (strcmp(type, "BOOLEAN") == 0 || strcmp(type, "BOOL") == 0)
			field->type = BQT_BOOL;
		else if (strcmp(type, "TIMESTAMP") == 0)
			field->type = BQT_TIMESTAMP;
		else
			field->type = BQT_OTHER;
		/* a repeated field is an array: leave it to BigQuery */
		if (mode && strcmp(mode, "REPEATED") == 0)
			field->type = BQT_OTHER;
	}
	return schema;
}

static int
digits(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool
parse_timestamp(const char *s, size_t len, TimestampTz *result)
{
	int			year,
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
	year = digits(s, 4);
	month = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hour = digits(s + 11, 2);
	minute = digits(s + 14, 2);
	second = digits(s + 17, 2);
	if (year < 1 || month < 1 || month > 12 || day < 1 ||
		day > day_tab[isleap(year)][month - 1] || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || second < 0 || second > 59)
		return false;

	if (p < len && s[p] == '.')
	{
		int			n = 0;
		int64		scale = 100000;

		for (p++; p < len && s[p] >= '0' && s[p] <= '9'; p++, n++)
		{
			if (n < 6)
			{
				usec += (s[p] - '0') * scale;
				scale /= 10;
			}
		}
		if (n == 0 || n > 9)
			return false;
	}
	if (p < len && (s[p] == 'Z' || s[p] == 'z'))
		p++;
	else if (p < len && (s[p] == '+' || s[p] == '-'))
	{
		int			oh,
					om;

		if (len - p != 6 || s[p + 3] != ':' ||
			(oh = digits(s + p + 1, 2)) < 0 || oh > 23 ||
			(om = digits(s + p + 4, 2)) < 0 || om > 59)
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

static void
reject(Verdict *v, DeadLetterReason reason, const char *fmt, const char *arg)
{
	v->reason = reason;
	v->detail = psprintf(fmt, arg);
}

/* checks of one present, non-null value; true when it passes */
static bool
check_value(const BqField *field, json_t *value, const ValidationRules *rules,
			TimestampTz now, Verdict *v)
{
	switch (field->type)
	{
		case BQT_STRING:
			if (!json_is_string(value))
			{
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be a string.", field->name);
				return false;
			}
			/* identifiers: present and of a sane size */
			if (strlen(field->name) > 3 &&
				strcmp(field->name + strlen(field->name) - 3, "_id") == 0 &&
				(json_string_length(value) == 0 ||
				 json_string_length(value) > (size_t) rules->max_id_length))
			{
				reject(v, DL_INVALID_ID, "Field \"%s\" is empty or too long.", field->name);
				return false;
			}
			return true;
		case BQT_INT64:
			if (!json_is_integer(value) &&
				!(json_is_string(value) && is_int64_text(json_string_value(value))))
			{
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be an integer.", field->name);
				return false;
			}
			return true;
		case BQT_FLOAT64:
			if (!json_is_number(value))
			{
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be a number.", field->name);
				return false;
			}
			if (strcmp(field->name, "amount") == 0 &&
				(!isfinite(json_number_value(value)) || json_number_value(value) < 0))
			{
				reject(v, DL_INVALID_AMOUNT, "Field \"%s\" is negative.", field->name);
				return false;
			}
			return true;
		case BQT_BOOL:
			if (!json_is_boolean(value))
			{
				reject(v, DL_WRONG_TYPE, "Field \"%s\" must be true or false.", field->name);
				return false;
			}
			return true;
		case BQT_TIMESTAMP:
			{
				TimestampTz ts;

				if (!json_is_string(value) ||
					!parse_timestamp(json_string_value(value), json_string_length(value), &ts))
				{
					reject(v, DL_BAD_TIMESTAMP, "Field \"%s\" is not an RFC 3339 timestamp.", field->name);
					return false;
				}
				if (ts > now + rules->max_future_skew_us)
				{
					reject(v, DL_FUTURE_EVENT_TIME, "Field \"%s\" lies too far in the future.", field->name);
					return false;
				}
				if (strcmp(field->name, "event_time") == 0)
					v->event_time = ts;
				return true;
			}
		case BQT_OTHER:
			return true;
	}
	return true;
}

void
validate_payload(const TableSchema *schema, const ValidationRules *rules,
				 const char *data, size_t len, TimestampTz now, Verdict *v)
{
	json_error_t jerr;
	json_t	   *row = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t	   *value;

	v->reason = -1;
	v->detail = NULL;
	v->event_time = 0;

	if (row == NULL)
	{
		v->reason = DL_NOT_JSON;
		v->detail = psprintf("The payload is not JSON: %s at byte %d.", jerr.text, jerr.position);
		return;
	}
	if (!json_is_object(row))
	{
		v->reason = DL_NOT_AN_OBJECT;
		v->detail = pstrdup("The payload is JSON but not an object.");
		json_decref(row);
		return;
	}

	/* every key must be a column */
	json_object_foreach(row, key, value)
	{
		bool		known = false;

		for (int i = 0; i < schema->nfields && !known; i++)
			known = strcmp(schema->fields[i].name, key) == 0;
		if (!known)
		{
			reject(v, DL_UNKNOWN_FIELD, "Field \"%s\" is not a column of the table.", key);
			json_decref(row);
			return;
		}
	}

	for (int i = 0; i < schema->nfields; i++)
	{
		const BqField *field = &schema->fields[i];

		value = json_object_get(row, field->name);
		if (value == NULL || json_is_null(value))
		{
			if (field->required)
			{
				reject(v, DL_MISSING_FIELD, "Required field \"%s\" is missing.", field->name);
				break;
			}
			continue;
		}
		if (!check_value(field, value, rules, now, v))
			break;
	}
	json_decref(row);
}
