/*-------------------------------------------------------------------------
 *
 * bqstream.c
 *	  Module entry point of the bqstream extension and its version
 *	  functions.
 *
 * _PG_init runs both when the library is preloaded (postmaster) and when a
 * backend loads it on demand for CREATE EXTENSION; it records which, so
 * that features that need shared memory or background workers can refuse
 * clearly when the library was not preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "bqstream.h"
#include "gcp/gcp_json.h"
#include "gcp/http.h"
#include "gcp/options.h"
#include "gcp/policy.h"
#include "fdw/fdw.h"
#include "worker/worker.h"

/*
 * The planner, permission and statistics interfaces used here are those
 * of PostgreSQL 15 (16 moved permission checks out of RangeTblEntry).
 */
#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "bqstream is written for PostgreSQL 15"
#endif

PG_MODULE_MAGIC;

bool		bqstream_preloaded = false;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(bqstream_version);
PG_FUNCTION_INFO_V1(bqstream_library_versions);

void
_PG_init(void)
{
	bqstream_preloaded = process_shared_preload_libraries_in_progress;

	gcp_http_define_gucs();
	gcp_policy_define_gucs();
	bq_fdw_define_gucs();
	if (bqstream_preloaded)
		bq_worker_init();
	MarkGUCPrefixReserved("bqstream");
	bqstream_install_secret_guard();
	gcp_install_log_redaction();
	bq_install_ownership_hook();
}

char *
bq_text_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * bqstream.version(): one line naming this release and the libraries it
 * runs with, for bug reports.
 */
Datum
bqstream_version(PG_FUNCTION_ARGS)
{
	curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("bqstream %s (libcurl %s, jansson %s, %s)",
											  BQSTREAM_VERSION,
											  curl->version,
											  jansson_version_str(),
											  OpenSSL_version(OPENSSL_VERSION))));
}

/*
 * bqstream.library_versions(): compile-time and run-time version of each
 * library, since a mismatch between the two explains many odd failures.
 */
Datum
bqstream_library_versions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
	const char *rows[][3] = {
		{"bqstream", BQSTREAM_VERSION, BQSTREAM_VERSION},
		{"libcurl", LIBCURL_VERSION, curl->version},
		{"jansson", JANSSON_VERSION, jansson_version_str()},
		{"openssl", OPENSSL_VERSION_TEXT, OpenSSL_version(OPENSSL_VERSION)},
	};

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	for (int i = 0; i < lengthof(rows); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		for (int j = 0; j < 3; j++)
			values[j] = CStringGetTextDatum(rows[i][j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}
