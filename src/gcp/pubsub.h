/*-------------------------------------------------------------------------
 *
 * pubsub.h
 *	  Pub/Sub v1 REST client: topics, subscriptions and publish URLs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_PUBSUB_H
#define GCP_PUBSUB_H

#include "gcp/client.h"

/* Pub/Sub's own limits on one publish request */
#define PUBSUB_MAX_MESSAGES_PER_PUBLISH 1000
#define PUBSUB_MAX_PUBLISH_BYTES		10000000

/* Raise an ERROR unless "id" is a valid topic or subscription ID. */
extern void pubsub_check_id(const char *kind, const char *id);

/* URL of a topic or subscription, with an optional ":verb" suffix */
extern char *pubsub_topic_url(const GcpServer *srv, const char *topic, const char *verb);
extern char *pubsub_subscription_url(const GcpServer *srv, const char *sub, const char *verb);

/* Create or delete; return false (after a NOTICE) when nothing had to be done. */
extern bool pubsub_create_topic(const GcpServer *srv, const char *topic);
extern bool pubsub_delete_topic(const GcpServer *srv, const char *topic);
extern bool pubsub_create_subscription(const GcpServer *srv, const char *sub,
									   const char *topic, int ack_deadline_s,
									   const char *dead_letter_topic,
									   int max_delivery_attempts);
extern bool pubsub_delete_subscription(const GcpServer *srv, const char *sub);

#endif							/* GCP_PUBSUB_H */
