/*-------------------------------------------------------------------------
 *
 * orders.c
 *	  Simulated e-commerce orders: the payloads publish_orders() sends and
 *	  sample_orders() shows.
 *
 * Orders look like a shop's: version-4 UUIDs, users drawn from a large
 * population, products from a catalogue whose popularity follows a Zipf
 * law (a few best sellers, a long tail), amounts from a log-normal
 * distribution (many small baskets, a few large ones) in cents.  A share of
 * late events and of malformed messages exercises the pipeline's
 * validation and dead-letter paths.  Everything random comes from one
 * seeded PRNG, so a seed and an event time reproduce a run byte for byte.
 *
 * The hot path writes JSON by hand into reused buffers: no allocation per
 * order, no JSON library, the formatted second of the event time cached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "common/base64.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "generator/orders.h"

PG_FUNCTION_INFO_V1(bqstream_sample_orders);

/* log-normal amounts: median 35.00, most baskets between 5 and 250 */
#define AMOUNT_LOG_MEDIAN	3.5553480614894135	/* ln(35) */
#define AMOUNT_LOG_SIGMA	0.9

#define FAR_FUTURE_USECS	(INT64CONST(365) * USECS_PER_DAY)

typedef enum MalformedKind
{
	MALFORMED_TRUNCATED,		/* not JSON at all */
	MALFORMED_MISSING_FIELD,
	MALFORMED_AMOUNT_NOT_NUMBER,
	MALFORMED_ORDER_ID_NOT_STRING,
	MALFORMED_NEGATIVE_AMOUNT,
	MALFORMED_FAR_FUTURE,
	MALFORMED_BAD_TIMESTAMP,
	MALFORMED_EMPTY_OBJECT,
	MALFORMED_NOT_OBJECT,
	NUM_MALFORMED_KINDS
} MalformedKind;

struct OrderGenerator
{
	OrderGenOptions opts;
	pg_prng_state rng;
	double	   *product_cdf;	/* cumulative Zipf probabilities by rank */
	int			user_digits;
	int			product_digits;
	StringInfoData payload;		/* scratch for order_gen_next_message */

	/* "YYYY-MM-DDTHH:MM:SS" of the last second formatted */
	int64		cached_second;
	char		cached_text[32];
};

void
order_gen_default_options(OrderGenOptions *opts)
{
	memset(opts, 0, sizeof(OrderGenOptions));
	opts->seed = 0;
	opts->late_min_minutes = 5;
	opts->late_max_minutes = 120;
	opts->jitter_ms = 0;
	opts->n_users = 1000000;
	opts->n_products = 10000;
	opts->zipf_exponent = 1.1;
}

static int
digits_for(int n)
{
	int			d = 1;

	while (n >= 10)
	{
		n /= 10;
		d++;
	}
	return Max(d, 5);
}

static void
check_fraction(const char *name, double v)
{
	if (!(v >= 0 && v <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1", name)));
}

OrderGenerator *
order_gen_create(const OrderGenOptions *opts)
{
	OrderGenerator *gen;
	double		total = 0;

	check_fraction("malformed_fraction", opts->malformed_fraction);
	check_fraction("late_fraction", opts->late_fraction);
	if (opts->malformed_fraction + opts->late_fraction > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed_fraction and late_fraction must not add up to more than 1")));
	if (opts->n_users < 1 || opts->n_products < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the user population and the product catalogue must not be empty")));
	if (opts->late_min_minutes < 0 || opts->late_min_minutes > opts->late_max_minutes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid lateness range of %d to %d minutes",
						opts->late_min_minutes, opts->late_max_minutes)));
	if (opts->jitter_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event time jitter must not be negative")));
	if (!(opts->zipf_exponent > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Zipf exponent must be positive")));

	gen = palloc0(sizeof(OrderGenerator));
	gen->opts = *opts;
	pg_prng_seed(&gen->rng, opts->seed);
	gen->user_digits = digits_for(opts->n_users);
	gen->product_digits = digits_for(opts->n_products);
	initStringInfo(&gen->payload);
	gen->cached_second = PG_INT64_MIN;

	gen->product_cdf = palloc(sizeof(double) * opts->n_products);
	for (int i = 0; i < opts->n_products; i++)
	{
		total += pow(i + 1, -opts->zipf_exponent);
		gen->product_cdf[i] = total;
	}
	for (int i = 0; i < opts->n_products; i++)
		gen->product_cdf[i] /= total;
	return gen;
}

/* rank 1..n_products, rank 1 the most popular */
static int
draw_product(OrderGenerator *gen)
{
	double		u = pg_prng_double(&gen->rng);
	int			lo = 0;
	int			hi = gen->opts.n_products - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (gen->product_cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo + 1;
}

/* amount in cents, at least one cent */
static int64
draw_amount_cents(OrderGenerator *gen)
{
	/* Box-Muller: PostgreSQL 15's PRNG has no normal distribution */
	double		u1 = 1.0 - pg_prng_double(&gen->rng);	/* (0, 1] */
	double		u2 = pg_prng_double(&gen->rng);
	double		z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
	int64		cents = (int64) llround(exp(AMOUNT_LOG_MEDIAN + AMOUNT_LOG_SIGMA * z) * 100.0);

	return Max(cents, 1);
}

static void
append_uuid(OrderGenerator *gen, StringInfo out)
{
	static const char hex[] = "0123456789abcdef";
	uint8		b[16];
	uint64		hi = pg_prng_uint64(&gen->rng);
	uint64		lo = pg_prng_uint64(&gen->rng);
	char		text[36];
	int			j = 0;

	for (int i = 0; i < 8; i++)
	{
		b[i] = (uint8) (hi >> (56 - 8 * i));
		b[8 + i] = (uint8) (lo >> (56 - 8 * i));
	}
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			text[j++] = '-';
		text[j++] = hex[b[i] >> 4];
		text[j++] = hex[b[i] & 15];
	}
	appendBinaryStringInfo(out, text, 36);
}

/* RFC 3339 in UTC with microseconds: 2026-11-25T05:42:08.123456Z */
static void
append_timestamp(OrderGenerator *gen, TimestampTz ts, StringInfo out)
{
	int64		second = ts / USECS_PER_SEC;
	int64		usec = ts % USECS_PER_SEC;
	char		frac[9];

	if (usec < 0)
	{
		usec += USECS_PER_SEC;
		second--;
	}
	if (second != gen->cached_second)
	{
		int64		day = second / SECS_PER_DAY;
		int64		sec_of_day = second % SECS_PER_DAY;
		int			year,
					month,
					mday;

		if (sec_of_day < 0)
		{
			sec_of_day += SECS_PER_DAY;
			day--;
		}
		j2date((int) (day + POSTGRES_EPOCH_JDATE), &year, &month, &mday);
		snprintf(gen->cached_text, sizeof(gen->cached_text),
				 "%04d-%02d-%02dT%02d:%02d:%02d", year, month, mday,
				 (int) (sec_of_day / 3600), (int) (sec_of_day / 60 % 60),
				 (int) (sec_of_day % 60));
		gen->cached_second = second;
	}
	appendStringInfoString(out, gen->cached_text);
	frac[0] = '.';
	for (int i = 6; i >= 1; i--)
	{
		frac[i] = '0' + (char) (usec % 10);
		usec /= 10;
	}
	frac[7] = 'Z';
	appendBinaryStringInfo(out, frac, 8);
}

static void
append_padded_id(StringInfo out, char prefix, int64 n, int digits)
{
	char		buf[32];
	int			len = snprintf(buf, sizeof(buf), "\"%c-%0*lld\"", prefix, digits, (long long) n);

	appendBinaryStringInfo(out, buf, len);
}

static void
append_cents(StringInfo out, int64 cents)
{
	char		buf[32];
	int			len;

	if (cents < 0)
		len = snprintf(buf, sizeof(buf), "-%lld.%02lld",
					   (long long) (-cents / 100), (long long) (-cents % 100));
	else
		len = snprintf(buf, sizeof(buf), "%lld.%02lld",
					   (long long) (cents / 100), (long long) (cents % 100));
	appendBinaryStringInfo(out, buf, len);
}

/* a member name (objects) or just the separator (arrays) */
static void
append_key(StringInfo out, const char *name, bool as_array, bool first)
{
	if (!first)
		appendStringInfoChar(out, ',');
	if (!as_array)
	{
		appendStringInfoChar(out, '"');
		appendStringInfoString(out, name);
		appendBinaryStringInfo(out, "\":", 2);
	}
}

/* microseconds in [0, range) */
static int64
draw_usecs(OrderGenerator *gen, int64 range)
{
	if (range <= 0)
		return 0;
	return (int64) pg_prng_uint64_range(&gen->rng, 0, (uint64) range - 1);
}

OrderKind
order_gen_next_payload(OrderGenerator *gen, TimestampTz now, StringInfo out)
{
	double		u = pg_prng_double(&gen->rng);
	OrderKind	kind = u < gen->opts.malformed_fraction ? ORDER_MALFORMED
		: u < gen->opts.malformed_fraction + gen->opts.late_fraction ? ORDER_LATE
		: ORDER_VALID;
	MalformedKind bad = NUM_MALFORMED_KINDS;
	int			missing = -1;
	int			start = out->len;
	int64		user = (int64) pg_prng_uint64_range(&gen->rng, 1, gen->opts.n_users);
	int			product = draw_product(gen);
	int64		cents = draw_amount_cents(gen);
	TimestampTz event_time = now;
	bool		as_array;

	if (kind == ORDER_LATE)
	{
		int64		lo = gen->opts.late_min_minutes * USECS_PER_MINUTE;
		int64		hi = gen->opts.late_max_minutes * USECS_PER_MINUTE;

		event_time = now - lo - draw_usecs(gen, hi - lo + 1);
	}
	else if (gen->opts.jitter_ms > 0)
	{
		int64		j = gen->opts.jitter_ms * INT64CONST(1000);

		event_time = now - j + draw_usecs(gen, 2 * j + 1);
	}

	if (kind == ORDER_MALFORMED)
	{
		bad = (MalformedKind) pg_prng_uint64_range(&gen->rng, 0, NUM_MALFORMED_KINDS - 1);
		if (bad == MALFORMED_EMPTY_OBJECT)
		{
			appendStringInfoString(out, "{}");
			return kind;
		}
		if (bad == MALFORMED_MISSING_FIELD)
			missing = (int) pg_prng_uint64_range(&gen->rng, 0, 4);
		else if (bad == MALFORMED_NEGATIVE_AMOUNT)
			cents = -cents;
		else if (bad == MALFORMED_FAR_FUTURE)
			event_time = now + FAR_FUTURE_USECS;
	}

	/* the values without their names: valid JSON, but no object */
	as_array = bad == MALFORMED_NOT_OBJECT;
	appendStringInfoChar(out, as_array ? '[' : '{');
	if (missing != 0)
	{
		append_key(out, "order_id", as_array, out->len == start + 1);
		if (bad == MALFORMED_ORDER_ID_NOT_STRING)
			appendStringInfo(out, "%u", pg_prng_uint32(&gen->rng));
		else
		{
			appendStringInfoChar(out, '"');
			append_uuid(gen, out);
			appendStringInfoChar(out, '"');
		}
	}
	if (missing != 1)
	{
		append_key(out, "user_id", as_array, out->len == start + 1);
		append_padded_id(out, 'u', user, gen->user_digits);
	}
	if (missing != 2)
	{
		append_key(out, "product_id", as_array, false);
		append_padded_id(out, 'p', product, gen->product_digits);
	}
	if (missing != 3)
	{
		append_key(out, "amount", as_array, false);
		if (bad == MALFORMED_AMOUNT_NOT_NUMBER)
			appendStringInfoString(out, "\"a lot\"");
		else
			append_cents(out, cents);
	}
	if (missing != 4)
	{
		append_key(out, "event_time", as_array, false);
		if (bad == MALFORMED_BAD_TIMESTAMP)
			appendStringInfoString(out, "\"yesterday at noon\"");
		else
		{
			appendStringInfoChar(out, '"');
			append_timestamp(gen, event_time, out);
			appendStringInfoChar(out, '"');
		}
	}
	appendStringInfoChar(out, as_array ? ']' : '}');

	/* cut inside the object: no closing brace, so never valid JSON */
	if (bad == MALFORMED_TRUNCATED)
	{
		out->len = start + (out->len - start) / 2;
		out->data[out->len] = '\0';
	}
	return kind;
}

OrderKind
order_gen_next_message(OrderGenerator *gen, TimestampTz now, StringInfo out)
{
	OrderKind	kind;
	int			enc_len;
	int			written;

	resetStringInfo(&gen->payload);
	kind = order_gen_next_payload(gen, now, &gen->payload);

	enc_len = pg_b64_enc_len(gen->payload.len);
	enlargeStringInfo(out, enc_len + 16);
	appendBinaryStringInfo(out, "{\"data\":\"", 9);
	written = pg_b64_encode(gen->payload.data, gen->payload.len,
							out->data + out->len, enc_len);
	if (written < 0)
		elog(ERROR, "could not encode an order in base64");
	out->len += written;
	appendBinaryStringInfo(out, "\"}", 2);
	return kind;
}

/*
 * sample_orders(n, seed, malformed_fraction, late_fraction, at): the
 * payloads publish_orders() would send with the same arguments.
 */
Datum
bqstream_sample_orders(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrderGenOptions opts;
	OrderGenerator *gen;
	TimestampTz at;
	int32		n;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("number of orders must not be null")));
	n = PG_GETARG_INT32(0);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of orders must not be negative")));

	order_gen_default_options(&opts);
	opts.seed = PG_ARGISNULL(1) ? pg_prng_uint64(&pg_global_prng_state)
		: (uint64) PG_GETARG_INT64(1);
	opts.malformed_fraction = PG_ARGISNULL(2) ? 0 : PG_GETARG_FLOAT8(2);
	opts.late_fraction = PG_ARGISNULL(3) ? 0 : PG_GETARG_FLOAT8(3);
	at = PG_ARGISNULL(4) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(4);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	gen = order_gen_create(&opts);
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		resetStringInfo(&buf);
		order_gen_next_payload(gen, at, &buf);
		value = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		pfree(DatumGetPointer(value));
	}
	return (Datum) 0;
}
