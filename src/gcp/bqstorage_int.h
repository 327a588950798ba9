/*-------------------------------------------------------------------------
 *
 * bqstorage_int.h
 *	  What the Storage Write and Read clients (bqstorage_write.c,
 *	  bqstorage_read.c) share through bqstorage.c: unary calls with their
 *	  errors reported, and the decoding of answers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_BQSTORAGE_INT_H
#define GCP_BQSTORAGE_INT_H

#include "gcp/bqstorage.h"
#include "gcp/grpc.h"
#include "gcp/protobuf.h"

#define BQS_WRITE_SERVICE	"google.cloud.bigquery.storage.v1.BigQueryWrite"
#define BQS_READ_SERVICE	"google.cloud.bigquery.storage.v1.BigQueryRead"

/* a GrpcStatus as the callers see it, in the current memory context */
extern BqsStatus bqs_status_from_grpc(const GrpcStatus *st);

/*
 * One unary call of "method" (Service/Method), retried when transient.
 * Returns the gRPC code: BQS_OK with the answer in *response, or
 * "tolerated" (0: none); any other failure is raised as an ERROR with
 * "action" as its context.
 */
extern int	bqs_unary(const GcpServer *srv, const char *method,
					  const char *routing, StringInfo request,
					  StringInfo response, const char *action, int tolerated);

/* an answer that could not be decoded: an ERROR */
extern void bqs_invalid_answer(const char *message_name, const char *why,
							   const char *action) pg_attribute_noreturn();

/* a google.protobuf.Timestamp field as a TimestampTz */
extern TimestampTz bqs_decode_timestamp(const PbField *f, const char *action);

/* a PB_LEN field's check: wrong wire types are malformed answers */
extern void bqs_expect_len(const PbField *f, const char *message_name,
						   const char *action);

#endif							/* GCP_BQSTORAGE_INT_H */
