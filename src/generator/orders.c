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
 * The hot path writes each order with plain stores into room reserved once
 * in the caller's buffer: no allocation, no JSON library, no printf, and
 * the formatted date cached per day.  Changing the order or number of PRNG
 * draws changes every seeded run (and the expected outputs of the tests),
 * so formatting work may move freely but the draws may not.
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
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "generator/orders.h"

PG_FUNCTION_INFO_V1(bqstream_sample_orders);

/* log-normal amounts: median 35.00, most baskets between 5 and 250 */
#define AMOUNT_LOG_MEDIAN	3.5553480614894135	/* ln(35) */
#define AMOUNT_LOG_SIGMA	0.9

#define FAR_FUTURE_USECS	(INT64CONST(365) * USECS_PER_DAY)

/* the CDF costs 8 bytes a product; past this a table is the wrong tool */
#define MAX_PRODUCTS		10000000

/*
 * Room reserved for one payload.  The longest is a valid order with
 * 10-digit ids and an 8-digit amount (log-normal draws cannot go higher),
 * about 180 bytes.
 */
#define ORDER_MAX_LEN		256

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
	int64		late_min_usecs;
	int64		late_span_usecs;	/* late_max - late_min, in microseconds */
	int64		jitter_usecs;

	/* "now" values whose every event time is an RFC 3339 timestamp */
	TimestampTz min_now;
	TimestampTz max_now;

	StringInfoData payload;		/* scratch for order_gen_next_message */

	/* "YYYY-MM-DDT" of the last day formatted */
	int64		cached_day;
	char		cached_date[11];
};

static const char hex_digits[] = "0123456789abcdef";

void
order_gen_default_options(OrderGenOptions *opts)
{
	memset(opts, 0, sizeof(OrderGenOptions));
	opts->seed = 0;
	opts->malformed_fraction = 0;
	opts->late_fraction = 0;
	opts->late_min_minutes = 5;
	opts->late_max_minutes = 120;
	opts->jitter_ms = 0;
	opts->n_users = 1000000;
	opts->n_products = 10000;
	opts->zipf_exponent = 1.1;
}

/* width of the zero-padded ids: the largest id fits, never under 5 */
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
	/* written so that NaN fails too */
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
	TimestampTz rfc3339_min;
	TimestampTz rfc3339_max;

	check_fraction("malformed_fraction", opts->malformed_fraction);
	check_fraction("late_fraction", opts->late_fraction);
	if (opts->malformed_fraction + opts->late_fraction > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed_fraction and late_fraction must not add up to more than 1")));
	if (opts->n_users < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_users must be at least 1")));
	if (opts->n_products < 1 || opts->n_products > MAX_PRODUCTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_products must be between 1 and %d", MAX_PRODUCTS)));
	if (opts->late_min_minutes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("late_min_minutes must not be negative")));
	if (opts->late_min_minutes > opts->late_max_minutes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("late_min_minutes must not be greater than late_max_minutes"),
				 errdetail("The lateness range given is %d to %d minutes.",
						   opts->late_min_minutes, opts->late_max_minutes)));
	if (opts->jitter_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jitter_ms must not be negative")));
	if (!(opts->zipf_exponent > 0) || isinf(opts->zipf_exponent))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("zipf_exponent must be a positive finite number")));

	gen = palloc0(sizeof(OrderGenerator));
	gen->opts = *opts;
	pg_prng_seed(&gen->rng, opts->seed);
	gen->user_digits = digits_for(opts->n_users);
	gen->product_digits = digits_for(opts->n_products);
	gen->late_min_usecs = opts->late_min_minutes * USECS_PER_MINUTE;
	gen->late_span_usecs = (opts->late_max_minutes - (int64) opts->late_min_minutes) *
		USECS_PER_MINUTE;
	gen->jitter_usecs = opts->jitter_ms * INT64CONST(1000);
	initStringInfo(&gen->payload);
	gen->cached_day = PG_INT64_MIN;

	/*
	 * RFC 3339 has four-digit years only.  Checking "now" against bounds
	 * that already allow for the furthest shift of an event time keeps the
	 * shifts themselves from overflowing, infinities included.
	 */
	rfc3339_min = (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	rfc3339_max = (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY - 1;
	gen->min_now = rfc3339_min +
		Max(gen->jitter_usecs,
			opts->late_fraction > 0 ? gen->late_min_usecs + gen->late_span_usecs : 0);
	gen->max_now = rfc3339_max -
		Max(gen->jitter_usecs, opts->malformed_fraction > 0 ? FAR_FUTURE_USECS : 0);

	gen->product_cdf = palloc(sizeof(double) * opts->n_products);
	for (int i = 0; i < opts->n_products; i++)
	{
		total += pow(i + 1, -opts->zipf_exponent);
		gen->product_cdf[i] = total;
	}
	/* x / x is exactly 1, so the last entry is above every draw */
	for (int i = 0; i < opts->n_products; i++)
		gen->product_cdf[i] /= total;
	return gen;
}

/*
 * Uniform in [0, 1): pg_prng_double()'s value bit for bit (52 bits scaled
 * by 2^-52, both exact), without its call to ldexp().
 */
static inline double
draw_unit(OrderGenerator *gen)
{
	return (double) (pg_prng_uint64(&gen->rng) >> 12) * (1.0 / 4503599627370496.0);
}

/* rank 1..n_products, rank 1 the most popular */
static inline int
draw_product(OrderGenerator *gen)
{
	double		u = draw_unit(gen);
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
static inline int64
draw_amount_cents(OrderGenerator *gen)
{
	/*
	 * Box-Muller: PostgreSQL 15's PRNG has no normal distribution.  The sine
	 * half of the pair is dropped; keeping it would change seeded runs.
	 */
	double		u1 = 1.0 - draw_unit(gen);	/* (0, 1] */
	double		u2 = draw_unit(gen);
	double		z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
	int64		cents = (int64) llround(exp(AMOUNT_LOG_MEDIAN + AMOUNT_LOG_SIGMA * z) * 100.0);

	return Max(cents, 1);
}

/* microseconds in [0, range) */
static inline int64
draw_usecs(OrderGenerator *gen, int64 range)
{
	if (range <= 0)
		return 0;
	return (int64) pg_prng_uint64_range(&gen->rng, 0, (uint64) range - 1);
}

/*
 * Writers: each stores at p, into room the caller reserved, and returns
 * the end of what it wrote.
 */
static inline char *
put_bytes(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LITERAL(p, lit)	put_bytes((p), (lit), sizeof(lit) - 1)

static inline char *
put_uint(char *p, uint64 n)
{
	char		buf[20];
	char	   *b = buf + sizeof(buf);

	do
	{
		*--b = '0' + (char) (n % 10);
		n /= 10;
	} while (n > 0);
	return put_bytes(p, b, buf + sizeof(buf) - b);
}

/* exactly "digits" digits; n must fit */
static inline char *
put_padded(char *p, uint64 n, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
	{
		p[i] = '0' + (char) (n % 10);
		n /= 10;
	}
	Assert(n == 0);
	return p + digits;
}

/* "u-0001234", quoted */
static inline char *
put_id(char *p, char prefix, uint64 n, int digits)
{
	*p++ = '"';
	*p++ = prefix;
	*p++ = '-';
	p = put_padded(p, n, digits);
	*p++ = '"';
	return p;
}

/* a JSON number with exactly two decimals: 37.49, -0.05 */
static inline char *
put_cents(char *p, int64 cents)
{
	uint64		abs_cents;

	if (cents < 0)
	{
		*p++ = '-';
		abs_cents = -(uint64) cents;
	}
	else
		abs_cents = (uint64) cents;
	p = put_uint(p, abs_cents / 100);
	*p++ = '.';
	return put_padded(p, abs_cents % 100, 2);
}

/* a random version-4 UUID, quoted */
static inline char *
put_uuid(OrderGenerator *gen, char *p)
{
	uint64		hi = pg_prng_uint64(&gen->rng);
	uint64		lo = pg_prng_uint64(&gen->rng);

	/* version 4 in the high nibble of byte 6, RFC 4122 variant in byte 8 */
	hi = (hi & ~UINT64CONST(0xf000)) | UINT64CONST(0x4000);
	lo = (lo & ~(UINT64CONST(0xc0) << 56)) | (UINT64CONST(0x80) << 56);

	*p++ = '"';
	for (int i = 0; i < 16; i++)
	{
		if (i == 8 || i == 12)
			*p++ = '-';
		*p++ = hex_digits[(hi >> (60 - 4 * i)) & 15];
	}
	for (int i = 0; i < 16; i++)
	{
		if (i == 0 || i == 4)
			*p++ = '-';
		*p++ = hex_digits[(lo >> (60 - 4 * i)) & 15];
	}
	*p++ = '"';
	return p;
}

/* "2026-11-25T05:42:08.123456Z", quoted; ts within the years 1 to 9999 */
static char *
put_timestamp(OrderGenerator *gen, char *p, TimestampTz ts)
{
	int64		day = ts / USECS_PER_DAY;
	int64		usec_of_day = ts % USECS_PER_DAY;
	int			sec_of_day;
	int			usec;

	/* C division truncates toward zero; times before 2000 need the floor */
	if (usec_of_day < 0)
	{
		usec_of_day += USECS_PER_DAY;
		day--;
	}
	if (day != gen->cached_day)
	{
		int			year,
					month,
					mday;
		char	   *d = gen->cached_date;

		j2date((int) (day + POSTGRES_EPOCH_JDATE), &year, &month, &mday);
		Assert(year >= 1 && year <= 9999);
		d = put_padded(d, year, 4);
		*d++ = '-';
		d = put_padded(d, month, 2);
		*d++ = '-';
		d = put_padded(d, mday, 2);
		*d++ = 'T';
		gen->cached_day = day;
	}
	sec_of_day = (int) (usec_of_day / USECS_PER_SEC);
	usec = (int) (usec_of_day % USECS_PER_SEC);

	*p++ = '"';
	p = put_bytes(p, gen->cached_date, sizeof(gen->cached_date));
	p = put_padded(p, sec_of_day / 3600, 2);
	*p++ = ':';
	p = put_padded(p, sec_of_day / 60 % 60, 2);
	*p++ = ':';
	p = put_padded(p, sec_of_day % 60, 2);
	*p++ = '.';
	p = put_padded(p, usec, 6);
	return PUT_LITERAL(p, "Z\"");
}

/* a member name (objects), or nothing but the separator (arrays) */
static inline char *
put_key(char *p, const char *quoted_name_colon, size_t len,
		bool as_array, bool first)
{
	if (!first)
		*p++ = ',';
	if (!as_array)
		p = put_bytes(p, quoted_name_colon, len);
	return p;
}

#define PUT_KEY(p, lit, as_array, first) \
	put_key((p), (lit), sizeof(lit) - 1, (as_array), (first))

static void
report_now_out_of_range(TimestampTz now)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("event time %s is out of range for simulated orders",
					timestamptz_to_str(now)),
			 errdetail("Event times, shifted by lateness, jitter or a year into the future, must stay within the years 1 to 9999 of RFC 3339 timestamps.")));
}

OrderKind
order_gen_next_payload(OrderGenerator *gen, TimestampTz now, StringInfo out)
{
	double		u;
	OrderKind	kind;
	MalformedKind bad = NUM_MALFORMED_KINDS;
	int			missing = -1;
	int64		user;
	int			product;
	int64		cents;
	TimestampTz event_time = now;
	bool		as_array;
	char	   *start;
	char	   *p;

	if (unlikely(now < gen->min_now || now > gen->max_now))
		report_now_out_of_range(now);

	/* the draws, in the order every seeded run depends on */
	u = draw_unit(gen);
	kind = u < gen->opts.malformed_fraction ? ORDER_MALFORMED
		: u < gen->opts.malformed_fraction + gen->opts.late_fraction ? ORDER_LATE
		: ORDER_VALID;
	user = (int64) pg_prng_uint64_range(&gen->rng, 1, gen->opts.n_users);
	product = draw_product(gen);
	cents = draw_amount_cents(gen);

	if (kind == ORDER_LATE)
		event_time = now - gen->late_min_usecs -
			draw_usecs(gen, gen->late_span_usecs + 1);
	else if (gen->jitter_usecs > 0)
		event_time = now - gen->jitter_usecs +
			draw_usecs(gen, 2 * gen->jitter_usecs + 1);

	if (kind == ORDER_MALFORMED)
	{
		bad = (MalformedKind) pg_prng_uint64_range(&gen->rng, 0, NUM_MALFORMED_KINDS - 1);
		if (bad == MALFORMED_EMPTY_OBJECT)
		{
			appendBinaryStringInfo(out, "{}", 2);
			return kind;
		}
		if (bad == MALFORMED_MISSING_FIELD)
			missing = (int) pg_prng_uint64_range(&gen->rng, 0, 4);
		else if (bad == MALFORMED_NEGATIVE_AMOUNT)
			cents = -cents;
		else if (bad == MALFORMED_FAR_FUTURE)
			event_time = now + FAR_FUTURE_USECS;
	}

	enlargeStringInfo(out, ORDER_MAX_LEN);
	start = p = out->data + out->len;

	/* the values without their names: valid JSON, but no object */
	as_array = bad == MALFORMED_NOT_OBJECT;
	*p++ = as_array ? '[' : '{';
	if (missing != 0)
	{
		p = PUT_KEY(p, "\"order_id\":", as_array, true);
		if (bad == MALFORMED_ORDER_ID_NOT_STRING)
			p = put_uint(p, pg_prng_uint32(&gen->rng));
		else
			p = put_uuid(gen, p);
	}
	if (missing != 1)
	{
		p = PUT_KEY(p, "\"user_id\":", as_array, missing == 0);
		p = put_id(p, 'u', user, gen->user_digits);
	}
	/* order_id or user_id precedes: one field at most is missing */
	if (missing != 2)
	{
		p = PUT_KEY(p, "\"product_id\":", as_array, false);
		p = put_id(p, 'p', product, gen->product_digits);
	}
	if (missing != 3)
	{
		p = PUT_KEY(p, "\"amount\":", as_array, false);
		if (bad == MALFORMED_AMOUNT_NOT_NUMBER)
			p = PUT_LITERAL(p, "\"a lot\"");
		else
			p = put_cents(p, cents);
	}
	if (missing != 4)
	{
		p = PUT_KEY(p, "\"event_time\":", as_array, false);
		if (bad == MALFORMED_BAD_TIMESTAMP)
			p = PUT_LITERAL(p, "\"yesterday at noon\"");
		else
			p = put_timestamp(gen, p, event_time);
	}
	*p++ = as_array ? ']' : '}';

	/*
	 * Cut inside the object: the closing brace is gone, so never valid
	 * JSON; everything is ASCII, so still valid UTF-8.
	 */
	if (bad == MALFORMED_TRUNCATED)
		p = start + (p - start) / 2;

	Assert(p - start <= ORDER_MAX_LEN);
	out->len += p - start;
	out->data[out->len] = '\0';
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

	/* base64 straight into the caller's buffer */
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

	/*
	 * Each payload is written behind a varlena header in one reused buffer
	 * (palloc'd, so aligned): the tuplestore copies it, nothing to free.
	 */
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		buf.len = VARHDRSZ;
		order_gen_next_payload(gen, at, &buf);
		SET_VARSIZE(buf.data, buf.len);
		value = PointerGetDatum(buf.data);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
