/*-------------------------------------------------------------------------
 *
 * bqstorage.c
 *	  What the BigQuery Storage Write and Read clients share: gRPC statuses
 *	  turned into PostgreSQL errors, table paths, unary calls and the
 *	  decoding of the common parts of answers.
 *
 * Errors are reported as gcp_http_report() reports REST errors: Google's
 * message as the primary message, the status in the detail, a SQLSTATE
 * from the code, a hint where one helps, and what bqstream was doing as
 * the context line.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/timestamp.h"

#include "gcp/bqstorage_int.h"

#define SERVICE_NAME "BigQuery Storage"

static const char *const code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

static const char *
code_name(int code)
{
	if (code >= 0 && code < lengthof(code_names))
		return code_names[code];
	return "UNKNOWN";
}

bool
bqs_status_transient(const BqsStatus *status)
{
	return grpc_code_transient(status->code);
}

/* the same SQLSTATEs as the REST calls' for the same google.rpc codes */
static int
sqlstate_for_code(int code)
{
	switch (code)
	{
		case BQS_INVALID_ARGUMENT:
		case BQS_OUT_OF_RANGE:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case BQS_FAILED_PRECONDITION:
			return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		case BQS_NOT_FOUND:
			return ERRCODE_UNDEFINED_OBJECT;
		case BQS_ALREADY_EXISTS:
			return ERRCODE_DUPLICATE_OBJECT;
		case BQS_PERMISSION_DENIED:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case BQS_UNAUTHENTICATED:
			return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		case BQS_RESOURCE_EXHAUSTED:
			return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
		case BQS_UNAVAILABLE:
		case BQS_DEADLINE_EXCEEDED:
			return ERRCODE_CONNECTION_FAILURE;
		case GRPC_UNIMPLEMENTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case BQS_CANCELLED:
			return ERRCODE_QUERY_CANCELED;
		case BQS_ABORTED:
			return ERRCODE_T_R_SERIALIZATION_FAILURE;
		default:
			return ERRCODE_FDW_ERROR;
	}
}

static const char *
hint_for_code(int code)
{
	switch (code)
	{
		case BQS_PERMISSION_DENIED:
			return "The credential of the user mapping needs a BigQuery role that allows this, such as roles/bigquery.dataEditor to write or roles/bigquery.readSessionUser to read.";
		case BQS_UNAUTHENTICATED:
			return "Check the credential in the user mapping of the foreign server.";
		case BQS_NOT_FOUND:
			return "Check the name and the project_id option of the foreign server.";
		case BQS_RESOURCE_EXHAUSTED:
			return "A quota or rate limit was exceeded; retry later, more slowly, or raise the quota.";
		case BQS_UNAVAILABLE:
		case BQS_DEADLINE_EXCEEDED:
			return "Check the bigquery_storage_endpoint option of the foreign server and that the service is reachable.";
		case GRPC_UNIMPLEMENTED:
			return "Check that the bigquery_storage_endpoint option of the foreign server names a BigQuery Storage API endpoint.";
		default:
			return NULL;
	}
}

void
bqs_report(const BqsStatus *status, int elevel, const char *action)
{
	int			sqlstate = sqlstate_for_code(status->code);
	const char *hint = hint_for_code(status->code);
	char	   *message = status->message ? pstrdup(status->message) : NULL;

	if (message)
	{
		size_t		len = strlen(message);

		/* a primary message has no final period */
		while (len > 1 && message[len - 1] == '.' &&
			   !(len >= 3 && strcmp(message + len - 3, "...") == 0))
			message[--len] = '\0';
	}
	if (message == NULL || message[0] == '\0')
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg("%s answered with an error without a message", SERVICE_NAME),
				 errdetail("%s answered with gRPC status %s (%d).", SERVICE_NAME,
						   code_name(status->code), status->code),
				 hint ? errhint("%s", hint) : 0,
				 ACTION_CONTEXT(action)));
	else
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg_internal("%s", message),
				 errdetail("%s answered with gRPC status %s (%d).", SERVICE_NAME,
						   code_name(status->code), status->code),
				 hint ? errhint("%s", hint) : 0,
				 ACTION_CONTEXT(action)));
}

char *
bqs_table_path(const GcpServer *srv, const char *dataset, const char *table)
{
	return psprintf("projects/%s/datasets/%s/tables/%s",
					srv->project_id, dataset, table);
}

BqsStatus
bqs_status_from_grpc(const GrpcStatus *st)
{
	BqsStatus	status;

	status.code = st->code;
	status.message = st->message ? pstrdup(st->message) : NULL;
	return status;
}

int
bqs_unary(const GcpServer *srv, const char *method, const char *routing,
		  StringInfo request, StringInfo response, const char *action,
		  int tolerated)
{
	GrpcStatus	st = grpc_unary(srv, method, routing, request, true, response);
	BqsStatus	status;

	if (st.code == BQS_OK || (tolerated != BQS_OK && st.code == tolerated))
		return st.code;
	status = bqs_status_from_grpc(&st);
	bqs_report(&status, ERROR, action);
	pg_unreachable();
}

void
bqs_invalid_answer(const char *message_name, const char *why, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("invalid answer from %s", SERVICE_NAME),
			 errdetail("The %s message could not be decoded: %s.", message_name, why),
			 ACTION_CONTEXT(action)));
	pg_unreachable();
}

void
bqs_expect_len(const PbField *f, const char *message_name, const char *action)
{
	if (f->wire_type != PB_LEN)
		bqs_invalid_answer(message_name,
						   psprintf("field %d has wire type %d where a length-delimited value belongs",
									f->number, (int) f->wire_type),
						   action);
}

/*
 * google.protobuf.Timestamp: seconds (1) since the Unix epoch, nanos (2).
 * Its documented range is years 1 to 9999, inside TimestampTz's.
 */
TimestampTz
bqs_decode_timestamp(const PbField *f, const char *action)
{
	/* 0001-01-01 and 10000-01-01 in seconds since the Unix epoch */
	const int64 min_seconds = INT64CONST(-62135596800);
	const int64 max_seconds = INT64CONST(253402300800);
	PbReader	r;
	PbField		g;
	int64		seconds = 0;
	int64		nanos = 0;

	bqs_expect_len(f, "Timestamp", action);
	pb_reader_init(&r, f->data, f->len);
	while (pb_next(&r, &g))
	{
		if (g.number == 1 && g.wire_type == PB_VARINT)
			seconds = pb_int64(&g);
		else if (g.number == 2 && g.wire_type == PB_VARINT)
			nanos = (int32) pb_int64(&g);
	}
	if (r.error)
		bqs_invalid_answer("Timestamp", r.error, action);
	if (seconds < min_seconds || seconds >= max_seconds || nanos < 0 || nanos > 999999999)
		bqs_invalid_answer("Timestamp", "a time outside years 1 to 9999", action);
	return (seconds - ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) *
		USECS_PER_SEC + nanos / 1000;
}
