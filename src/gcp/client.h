/*-------------------------------------------------------------------------
 *
 * client.h
 *	  A GCP project as configured in SQL/MED (foreign server and user
 *	  mapping), and authorized JSON calls to its Pub/Sub and BigQuery APIs
 *	  (the BigQuery Storage APIs, gRPC, are called by gcp/bqstorage_*.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_CLIENT_H
#define GCP_CLIENT_H

#include "nodes/pg_list.h"

#include "gcp/auth.h"
#include "gcp/gcp_json.h"
#include "gcp/http.h"

typedef enum GcpService
{
	GCP_PUBSUB,
	GCP_BIGQUERY,
	GCP_BIGQUERY_STORAGE		/* gRPC: its root has no version path */
} GcpService;

#define GCP_NUM_SERVICES 3

typedef struct GcpServer
{
	Oid			serverid;
	Oid			userid;			/* whose user mapping gives the credential */
	char	   *servername;
	char	   *project_id;
	char	   *location;		/* NULL when the server names none */
	char	   *dataset;
	/*
	 * per service: API root URL ("https://pubsub.googleapis.com/v1"; for
	 * the Storage APIs the endpoint itself, "https://bigquerystorage.googleapis.com")
	 */
	char	   *api_root[GCP_NUM_SERVICES];
	GcpCredential cred[GCP_NUM_SERVICES];
} GcpServer;

/*
 * Resolve a bqstream_fdw server and the current user's mapping for it.
 * Checks USAGE on the server.  Raises an ERROR with a hint when something
 * is missing, or when the role may not use the credential or an endpoint
 * (see policy.h).
 */
extern GcpServer *gcp_server_lookup(const char *servername);

/* flags of gcp_server_lookup_as() */
#define GCP_LOOKUP_CHECK_USAGE		0x01	/* the role needs USAGE on the server */
#define GCP_LOOKUP_NO_CREDENTIAL	0x02	/* project and endpoints only */

/*
 * The same for a given role: foreign scans use the role their plan checks
 * permissions as (a view's owner), and need no USAGE on the server.
 */
extern GcpServer *gcp_server_lookup_as(Oid serverid, Oid userid, int flags);

extern const char *gcp_service_name(GcpService svc);

/* The value of a DefElem option in a list, or NULL. */
extern char *gcp_option_value(List *options, const char *name);

/* API root + "/" + path built from a format; segments must be escaped */
extern char *gcp_url(const GcpServer *srv, GcpService svc, const char *fmt,...) pg_attribute_printf(3, 4);

/*
 * Fill an HTTP request for an API call, with the credential's token.
 * Body (if any) must outlive the call.
 */
extern void gcp_request_init(GcpHttpRequest *req, const GcpServer *srv,
							 GcpService svc, const char *method,
							 const char *url, const char *body, size_t body_len);

/*
 * One authorized JSON call.  Returns the parsed response (owned by the
 * current memory context) and its HTTP status.  A status other than 2xx
 * raises an ERROR, unless it is listed in "tolerated" (0-terminated), in
 * which case NULL may be returned for a non-JSON body.  "action" says what
 * the call is for, as a verb phrase (read the schema of table "d.t"), for
 * the context line of messages (see gcp_http_report).
 */
extern json_t *gcp_call(const GcpServer *srv, GcpService svc,
						const char *method, const char *url, json_t *body,
						const char *action, const long *tolerated,
						long *status);

/* The second half of gcp_call(), for a call run by the caller; frees it. */
extern json_t *gcp_call_result(GcpService svc, GcpHttpCall *call, const char *action,
							   const long *tolerated, long *status);

/*
 * A create or a drop that may find nothing to do: an answer with status
 * "skip_status" (409 for a create, 404 for a drop) raises "skip_notice" as
 * a NOTICE and returns false; success returns true; anything else is an
 * ERROR.
 */
extern bool gcp_call_unless(const GcpServer *srv, GcpService svc,
							const char *method, const char *url, json_t *body,
							const char *action, long skip_status,
							const char *skip_notice);

/* Tie a jansson value to the current memory context: decref'd on reset. */
extern json_t *gcp_json_track(json_t *value);

/* Serialize compactly into palloc'd memory. */
extern char *gcp_json_dump(json_t *value, size_t *len);

#endif							/* GCP_CLIENT_H */
