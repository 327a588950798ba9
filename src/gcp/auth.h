/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  OAuth2 access tokens for Google APIs: service-account keys (RS256 JWT
 *	  bearer grant), external accounts (workload identity federation: a
 *	  subject token exchanged at Google's STS), impersonated service
 *	  accounts (IAM Credentials generateAccessToken), Application Default
 *	  Credentials, the metadata server, and no authentication for emulators.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_AUTH_H
#define GCP_AUTH_H

typedef enum GcpAuthKind
{
	GCP_AUTH_NONE,				/* emulator: send no Authorization header */
	GCP_AUTH_KEY_JSON,			/* inline credential (key, external account...) */
	GCP_AUTH_KEY_FILE,			/* credential in a server file */
	GCP_AUTH_ADC,				/* Application Default Credentials lookup */
	GCP_AUTH_METADATA			/* GCE metadata server */
} GcpAuthKind;

/*
 * A credential as configured in a user mapping.  "secret" is the inline
 * credential JSON for GCP_AUTH_KEY_JSON and the file path for
 * GCP_AUTH_KEY_FILE, NULL otherwise.  Never print it.
 */
typedef struct GcpCredential
{
	GcpAuthKind kind;
	const char *secret;
	bool		restricted;		/* every URL of the credential must be trusted */
} GcpCredential;

/* OAuth scope that covers Pub/Sub and BigQuery alike */
#define GCP_SCOPE_CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"

/*
 * Return an access token for the credential, palloc'd in the current memory
 * context, or NULL for GCP_AUTH_NONE; *quota_project is the credential's
 * quota_project_id (the project billed for the calls) or NULL.  Tokens are
 * cached per credential for the life of the process and refreshed before
 * they expire.  Raises an ERROR (never quoting key material) when no token
 * can be had.
 */
extern char *gcp_auth_token(const GcpCredential *cred, char **quota_project);

/* Forget the cached token of a credential, after an API answered 401. */
extern void gcp_auth_forget(const GcpCredential *cred);

/* Short description of the credential for messages, e.g. "service account sa@p.iam…" */
extern char *gcp_auth_describe(const GcpCredential *cred);

/*
 * Check an external_account or impersonated_service_account credential given
 * in a user mapping's option credentials_json, without using it: its shape,
 * and for "restricted" roles that every URL in it is trusted; a
 * credential_source.file only when "may_read_files".  Raises an ERROR that
 * never quotes secrets.
 */
extern void gcp_auth_check_credential_json(const char *json, bool restricted,
										   bool may_read_files);

#endif							/* GCP_AUTH_H */
