/*-------------------------------------------------------------------------
 *
 * pubsub.c
 *	  Pub/Sub v1 REST client: resource names and URLs, topic and
 *	  subscription administration.
 *
 * Creation and deletion are idempotent the way CREATE ... IF NOT EXISTS
 * and DROP ... IF EXISTS are: an existing (or missing) resource is a
 * NOTICE, not an ERROR, so setup scripts can be re-run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/pubsub.h"

/* Pub/Sub's rule: 3-255 of [A-Za-z0-9-_.~+%], a letter first, not "goog..." */
void
pubsub_check_id(const char *kind, const char *id)
{
	size_t		len = strlen(id);
	bool		ok = len >= 3 && len <= 255 &&
		((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')) &&
		pg_strncasecmp(id, "goog", 4) != 0;

	for (const char *p = id; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("-_.~+%", *p) != NULL;

	if (ok)
		return;
	/* one whole message each, for translators */
	if (strcmp(kind, "subscription") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid Pub/Sub subscription ID \"%s\"", id),
				 errdetail("An ID has 3 to 255 letters, digits or the characters - _ . ~ + %%, starts with a letter and does not start with \"goog\".")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid Pub/Sub topic ID \"%s\"", id),
				 errdetail("An ID has 3 to 255 letters, digits or the characters - _ . ~ + %%, starts with a letter and does not start with \"goog\".")));
}

static char *
resource_url(const GcpServer *srv, const char *collection, const char *id,
			 const char *verb)
{
	return gcp_url(srv, GCP_PUBSUB, "projects/%s/%s/%s%s",
				   gcp_url_escape(srv->project_id), collection,
				   gcp_url_escape(id), verb ? verb : "");
}

char *
pubsub_topic_url(const GcpServer *srv, const char *topic, const char *verb)
{
	return resource_url(srv, "topics", topic, verb);
}

char *
pubsub_subscription_url(const GcpServer *srv, const char *sub, const char *verb)
{
	return resource_url(srv, "subscriptions", sub, verb);
}

static char *
topic_name(const GcpServer *srv, const char *topic)
{
	return psprintf("projects/%s/topics/%s", srv->project_id, topic);
}

bool
pubsub_create_topic(const GcpServer *srv, const char *topic)
{
	pubsub_check_id("topic", topic);
	return gcp_call_unless(srv, GCP_PUBSUB, "PUT", pubsub_topic_url(srv, topic, NULL),
						   gcp_json_track(json_object()),
						   psprintf("create topic \"%s\"", topic), 409,
						   psprintf("topic \"%s\" already exists, skipping", topic));
}

bool
pubsub_delete_topic(const GcpServer *srv, const char *topic)
{
	pubsub_check_id("topic", topic);
	return gcp_call_unless(srv, GCP_PUBSUB, "DELETE", pubsub_topic_url(srv, topic, NULL),
						   NULL, psprintf("delete topic \"%s\"", topic), 404,
						   psprintf("topic \"%s\" does not exist, skipping", topic));
}

bool
pubsub_create_subscription(const GcpServer *srv, const char *sub,
						   const char *topic, int ack_deadline_s,
						   const char *dead_letter_topic,
						   int max_delivery_attempts)
{
	json_t	   *body;

	pubsub_check_id("subscription", sub);
	pubsub_check_id("topic", topic);
	if (ack_deadline_s < 10 || ack_deadline_s > 600)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ack deadline must be between 10 and 600 seconds")));
	if (dead_letter_topic)
	{
		pubsub_check_id("topic", dead_letter_topic);
		if (max_delivery_attempts < 5 || max_delivery_attempts > 100)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("maximum delivery attempts must be between 5 and 100")));
	}

	body = gcp_json_track(json_object());
	json_object_set_new(body, "topic", json_string(topic_name(srv, topic)));
	json_object_set_new(body, "ackDeadlineSeconds", json_integer(ack_deadline_s));
	if (dead_letter_topic)
		json_object_set_new(body, "deadLetterPolicy",
							json_pack("{s:s, s:i}",
									  "deadLetterTopic", topic_name(srv, dead_letter_topic),
									  "maxDeliveryAttempts", max_delivery_attempts));

	if (!gcp_call_unless(srv, GCP_PUBSUB, "PUT", pubsub_subscription_url(srv, sub, NULL),
						 body, psprintf("create subscription \"%s\"", sub), 409,
						 psprintf("subscription \"%s\" already exists, skipping", sub)))
		return false;

	/*
	 * Pub/Sub forwards undeliverable messages as its own service agent: on
	 * real GCP, without these two roles it silently keeps them instead.
	 */
	if (dead_letter_topic)
		ereport(NOTICE,
				(errmsg("undeliverable messages of subscription \"%s\" reach topic \"%s\" only if Pub/Sub's service agent may move them",
						sub, dead_letter_topic),
				 errdetail("Pub/Sub's service agent, service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com, needs roles/pubsub.publisher on the topic and roles/pubsub.subscriber on the subscription. Emulators do not check this."),
				 errhint("Grant them with \"gcloud pubsub topics add-iam-policy-binding %s --member=serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com --role=roles/pubsub.publisher --project=%s\" and the same for \"gcloud pubsub subscriptions add-iam-policy-binding %s\" with roles/pubsub.subscriber.",
						 dead_letter_topic, srv->project_id, sub)));
	return true;
}

bool
pubsub_delete_subscription(const GcpServer *srv, const char *sub)
{
	pubsub_check_id("subscription", sub);
	return gcp_call_unless(srv, GCP_PUBSUB, "DELETE", pubsub_subscription_url(srv, sub, NULL),
						   NULL, psprintf("delete subscription \"%s\"", sub), 404,
						   psprintf("subscription \"%s\" does not exist, skipping", sub));
}
