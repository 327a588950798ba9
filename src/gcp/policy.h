/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Who may use what: the database host's own GCP identity, endpoints
 *	  other than Google's, and the redaction of key material from logs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_POLICY_H
#define GCP_POLICY_H

/* members of this role may act as the host's identity (ADC, metadata server) */
#define GCP_HOST_IDENTITY_ROLE "bqstream_host_identity"

/* GUC bqstream.allowed_endpoints: URL prefixes any role may use */
extern char *gcp_allowed_endpoints;

extern void gcp_policy_define_gucs(void);

/* an http(s) URL with a host, no user info, query, fragment or blanks */
extern bool gcp_is_endpoint_url(const char *v);

/* superusers and members of bqstream_host_identity */
extern bool gcp_may_use_host_identity(Oid roleid);

/*
 * true for Google's own https APIs (*.googleapis.com, accounts.google.com)
 * and for URLs under a prefix of bqstream.allowed_endpoints
 */
extern bool gcp_endpoint_trusted(const char *url);

/*
 * Raise an ERROR unless "roleid" may send requests (and a token) to "url":
 * superusers may use any endpoint, other roles only trusted ones.  "what"
 * names the option in the message, e.g. "pubsub_endpoint".
 */
extern void gcp_check_endpoint(const char *what, const char *url, Oid roleid);

/* Keep private keys out of the server log, whatever statement carried them. */
extern void gcp_install_log_redaction(void);

/* Replace key material in a string, in place; true if there was any. */
extern bool gcp_redact_secrets(char *text);

#endif							/* GCP_POLICY_H */
