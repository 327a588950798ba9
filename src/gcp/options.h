/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The bqstream_fdw option validator's companions: the project ID check
 *	  (also for GOOGLE_CLOUD_PROJECT) and keeping inline keys of user
 *	  mappings out of the server log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_OPTIONS_H
#define GCP_OPTIONS_H

/* Is "v" a whole GCP project ID, optionally domain-scoped? */
extern bool gcp_valid_project_id(const char *v);

#define GCP_PROJECT_ID_EXPECTED \
	"A GCP project ID has 6 to 30 lower-case letters, digits or hyphens, starts with a letter and does not end with a hyphen, optionally after a lower-case domain name and a colon (example.com:my-project)."

/* Is "v" a dataset, table or column ID that needs no quoting? */
extern bool gcp_valid_bq_id(const char *v);

extern void bqstream_install_secret_guard(void);

#endif							/* GCP_OPTIONS_H */
