/*-------------------------------------------------------------------------
 *
 * validate.c (fuzz target "validate")
 *	  Fuzzes src/worker/validate.c: validate_payload(), which decides from
 *	  a message payload whether a row goes to BigQuery (where it is spliced
 *	  into the insertAll body as it is) or to the dead-letter table with a
 *	  reason code, against the raw_orders schema of bq_raw_orders_schema()
 *	  (order_id, user_id, product_id STRING, amount FLOAT64, event_time
 *	  TIMESTAMP, all REQUIRED), as bqstream.check_order() and the workers
 *	  use it; and parse_timestamp() on the same bytes.
 *
 * Input: a message payload (the decoded Pub/Sub data).
 *
 * A bug is any ASan/UBSan/leak report, any ERROR, or:
 *	accepted_is_row		a payload accepted is not a JSON object that
 *						jansson reads (its integer
 *						/real range aside), with only columns of the
 *						table as keys and every REQUIRED column present and
 *						not null, of its type: strings for STRING (ids
 *						non-empty, at most 128 bytes), a number for FLOAT64
 *						(amount finite, not negative), an RFC 3339 string
 *						for TIMESTAMP not beyond now + the allowed skew.
 *	accepted_unique_keys  a payload accepted has a key twice (the
 *						validator refuses a column given twice).
 *	verdict_sane		a reason outside the enum, a reason without a
 *						detail, or a detail that is not valid UTF-8 (it is
 *						stored as text), or an event_time on a rejection
 *						of an unparsable timestamp.
 *	timestamp_sane		parse_timestamp() accepts what is not
 *						YYYY-MM-DD[Tt ]HH:MM:SS[.frac][Z|z|±HH:MM] with a
 *						real date, or gives a value outside years 1..9999
 *						(± the offset).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdint.h>

#include "gcp/bigquery.h"
#include "gcp/client.h"
#include "gcp/jsonscan.h"
#include "utils/datetime.h"
#include "worker/validate.h"
#include "pg_shim.h"

/* 2024-05-01 12:00:00 UTC, fixed so that runs repeat */
#define FUZZ_NOW	((TimestampTz) INT64CONST(767880000000000))
#define FUZZ_SKEW	(300 * USECS_PER_SEC)

static TableSchema *schema;

static void
check_row(const char *data, size_t len, const Verdict *v)
{
	json_error_t jerr;
	json_t	   *j = json_loadb(data, len, 0, &jerr);
	json_t	   *unique;
	const char *key;
	json_t	   *value;

	if (j == NULL)
	{
		if (!bqfuzz_jansson_limit(jerr.text))
			bqfuzz_fail("accepted_is_row", "accepted, but not JSON: %s (column %d)", jerr.text, jerr.column);
		return;
	}
	unique = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (unique == NULL && bqfuzz_check("accepted_unique_keys"))
		bqfuzz_fail("accepted_unique_keys", "accepted with a key twice: %s (column %d)", jerr.text, jerr.column);
	json_decref(unique);
	if (!json_is_object(j))
		bqfuzz_fail("accepted_is_row", "accepted, but not an object");
	json_object_foreach(j, key, value)
	{
		int			f;

		for (f = 0; f < schema->nfields; f++)
			if (strcmp(schema->fields[f].name, key) == 0)
				break;
		if (f == schema->nfields)
			bqfuzz_fail("accepted_is_row", "accepted with unknown key \"%s\"", key);
	}
	for (int f = 0; f < schema->nfields; f++)
	{
		BqField    *field = &schema->fields[f];
		json_t	   *x = json_object_get(j, field->name);

		if (x == NULL || json_is_null(x))
		{
			if (field->required)
				bqfuzz_fail("accepted_is_row", "accepted without \"%s\"", field->name);
			continue;
		}
		switch (field->type)
		{
			case BQT_STRING:
				if (!json_is_string(x) ||
					(field->is_id && (json_string_length(x) == 0 || json_string_length(x) > 128)))
					bqfuzz_fail("accepted_is_row", "accepted with a bad \"%s\"", field->name);
				break;
			case BQT_FLOAT64:
				if (!json_is_number(x) ||
					(field->is_amount && (!isfinite(json_number_value(x)) || json_number_value(x) < 0)))
					bqfuzz_fail("accepted_is_row", "accepted with a bad \"%s\"", field->name);
				break;
			case BQT_TIMESTAMP:
				{
					TimestampTz ts;

					if (!json_is_string(x) ||
						!parse_timestamp(json_string_value(x), json_string_length(x), &ts) ||
						ts > FUZZ_NOW + FUZZ_SKEW)
						bqfuzz_fail("accepted_is_row", "accepted with a bad \"%s\"", field->name);
					if (field->is_event_time && ts != v->event_time)
						bqfuzz_fail("accepted_is_row", "event_time " INT64_FORMAT " reported as " INT64_FORMAT,
									ts, v->event_time);
					break;
				}
			default:
				break;
		}
	}
	json_decref(j);
}

static bool
is_digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* an independent reading of the grammar parse_timestamp() documents */
static void
check_timestamp(const char *s, size_t len)
{
	TimestampTz ts;
	bool		ok = parse_timestamp(s, len, &ts);
	size_t		p = 19;
	bool		shape;
	TimestampTz lo = (TimestampTz) (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	TimestampTz hi = (TimestampTz) (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;

	if (!ok)
		return;
	shape = len >= 19 && is_digits(s, 4) && s[4] == '-' && is_digits(s + 5, 2) &&
		s[7] == '-' && is_digits(s + 8, 2) && strchr("Tt ", s[10]) && s[10] &&
		is_digits(s + 11, 2) && s[13] == ':' && is_digits(s + 14, 2) && s[16] == ':' &&
		is_digits(s + 17, 2);
	if (shape && p < len && s[p] == '.')
	{
		size_t		q = p + 1;

		while (q < len && s[q] >= '0' && s[q] <= '9')
			q++;
		shape = q - p - 1 >= 1 && q - p - 1 <= 9;
		p = q;
	}
	if (shape && p < len)
	{
		if (s[p] == 'Z' || s[p] == 'z')
			shape = p + 1 == len;
		else
			shape = (s[p] == '+' || s[p] == '-') && len - p == 6 && is_digits(s + p + 1, 2) &&
				s[p + 3] == ':' && is_digits(s + p + 4, 2);
	}
	if (!shape)
		bqfuzz_fail("timestamp_sane", "parse_timestamp accepted \"%.*s\"", (int) len, s);
	if (ts < lo - 24 * USECS_PER_SEC * 3600 || ts >= hi + 24 * USECS_PER_SEC * 3600)
		bqfuzz_fail("timestamp_sane", "parse_timestamp gave " INT64_FORMAT " for \"%.*s\"", ts, (int) len, s);
}

static void
run(const uint8_t *data, size_t size)
{
	ValidationRules rules = {FUZZ_SKEW, 128};
	Verdict		v;
	json_t	   *table = gcp_json_track(json_pack("{s:o}", "schema", bq_raw_orders_schema()));

	schema = schema_from_table(table, "raw_orders");
	/* the payload is not NUL-terminated: a copy of exactly its bytes */
	{
		char	   *payload = palloc(size);

		memcpy(payload, data, size);
		validate_payload(schema, &rules, payload, size, FUZZ_NOW, &v);
	}

	if (bqfuzz_check("verdict_sane") && v.reason >= 0)
	{
		if (v.reason >= NUM_DL_REASONS || v.detail == NULL)
			bqfuzz_fail("verdict_sane", "reason %d, detail %p", v.reason, v.detail);
		if (!bqfuzz_valid_utf8(v.detail, strlen(v.detail)))
			bqfuzz_fail("verdict_sane", "the detail is not valid UTF-8");
	}
	if (v.reason < 0 && bqfuzz_check("accepted_is_row"))
		check_row((const char *) data, size, &v);

	if (bqfuzz_check("timestamp_sane"))
	{
		char	   *copy = palloc(size);

		memcpy(copy, data, size);
		check_timestamp(copy, size);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bqfuzz_begin();
	PG_TRY();
	{
		run(data, size);
	}
	PG_CATCH();
	{
		bqfuzz_fail("no_error", "an ERROR was raised: %s", bqfuzz_error()->message);
	}
	PG_END_TRY();
	bqfuzz_end();
	return 0;
}
