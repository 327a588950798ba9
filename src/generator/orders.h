/*-------------------------------------------------------------------------
 *
 * orders.h
 *	  Simulated e-commerce orders for publish_orders(): realistic, skewed,
 *	  reproducible from a seed, optionally late or malformed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GENERATOR_ORDERS_H
#define GENERATOR_ORDERS_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef struct OrderGenOptions
{
	uint64		seed;				/* same seed, same orders (event times aside) */
	double		malformed_fraction; /* 0..1: share of messages that are invalid */
	double		late_fraction;		/* 0..1: share with event_time minutes in the past */
	int			late_min_minutes;	/* lateness range of late events */
	int			late_max_minutes;
	int			jitter_ms;			/* +/- jitter of on-time event times; 0 = none */
	int			n_users;			/* user population */
	int			n_products;			/* catalogue size */
	double		zipf_exponent;		/* product popularity skew, e.g. 1.1 */
} OrderGenOptions;

typedef enum OrderKind
{
	ORDER_VALID,
	ORDER_LATE,					/* valid, event_time in the past */
	ORDER_MALFORMED
} OrderKind;

typedef struct OrderGenerator OrderGenerator;

/* Fill in the defaults (every field) for later overriding. */
extern void order_gen_default_options(OrderGenOptions *opts);

/*
 * Allocated in the current memory context (with a CDF of 8 bytes a
 * product); raises ERROR on bad options.
 */
extern OrderGenerator *order_gen_create(const OrderGenOptions *opts);

/*
 * Append the next order as one Pub/Sub PubsubMessage JSON object,
 * {"data":"<base64 of the order JSON>"}, to "out" and return its kind.
 * "now" is the event time of an on-time order; late, jittered and
 * far-future event times are shifted from it.  An ERROR is raised when a
 * shifted time could leave the years 1 to 9999 that RFC 3339 can write
 * (infinite timestamps included).  Allocates nothing per order once "out"
 * has grown.
 */
extern OrderKind order_gen_next_message(OrderGenerator *gen, TimestampTz now,
										StringInfo out);

/*
 * Append the next order's JSON itself (the message payload) to "out": an
 * order object, or for ORDER_MALFORMED one of bad JSON, a missing field, a
 * wrong type, a negative amount, a far-future or unparsable event_time, {}
 * or an array.  Same seed, options and "now" values, same payloads.
 */
extern OrderKind order_gen_next_payload(OrderGenerator *gen, TimestampTz now,
										StringInfo out);

#endif							/* GENERATOR_ORDERS_H */
