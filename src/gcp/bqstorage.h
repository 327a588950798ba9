/*-------------------------------------------------------------------------
 *
 * bqstorage.h
 *	  BigQuery Storage Write and Read API clients (gRPC, v1).
 *
 * The Storage APIs are gRPC only: calls go over HTTP/2 through the same
 * latch-driven libcurl loop as the REST calls (gcp/http.c, gcp/grpc.c),
 * to https://bigquerystorage.googleapis.com or, for an emulator, in clear
 * text (h2c with prior knowledge).  Messages are encoded and decoded by
 * gcp/protobuf.c.  The token is the BigQuery credential's.
 *
 * Write: a write stream (committed or pending, or the table's _default
 * stream) takes rows through AppendRows, a bidirectional stream kept open
 * across appends.  Rows are the serialized bytes of a proto2 message
 * described by a DescriptorProto (the writer schema), sent with the first
 * request of each connection.  Read: a read session splits a table into
 * streams, each read with ReadRows (server streaming) as blocks of Avro
 * rows; several streams are read at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_BQSTORAGE_H
#define GCP_BQSTORAGE_H

#include "datatype/timestamp.h"

#include "gcp/client.h"

/* google.rpc.Code values the callers act on */
#define BQS_OK					0
#define BQS_CANCELLED			1
#define BQS_INVALID_ARGUMENT	3
#define BQS_DEADLINE_EXCEEDED	4
#define BQS_NOT_FOUND			5
#define BQS_ALREADY_EXISTS		6
#define BQS_PERMISSION_DENIED	7
#define BQS_RESOURCE_EXHAUSTED	8
#define BQS_FAILED_PRECONDITION 9
#define BQS_ABORTED				10
#define BQS_OUT_OF_RANGE		11
#define BQS_INTERNAL			13
#define BQS_UNAVAILABLE			14
#define BQS_UNAUTHENTICATED		16

/* a gRPC status, or the error of one AppendRows response */
typedef struct BqsStatus
{
	int			code;			/* BQS_OK when it succeeded */
	char	   *message;		/* Google's message, cleaned for messages; or NULL */
} BqsStatus;

/* true for the codes another try may cure (UNAVAILABLE, ABORTED...) */
extern bool bqs_status_transient(const BqsStatus *status);

/*
 * Raise (at elevel) a failed status as gcp_http_report() does for REST:
 * Google's message, SQLSTATE from the code, "action" as the context line.
 */
extern void bqs_report(const BqsStatus *status, int elevel, const char *action);

/* "projects/P/datasets/D/tables/T" of the server's project */
extern char *bqs_table_path(const GcpServer *srv, const char *dataset,
							const char *table);

/* ---------------------------------------------------------------------
 * Storage Write API (google.cloud.bigquery.storage.v1.BigQueryWrite)
 * ---------------------------------------------------------------------
 */
typedef enum BqsStreamType
{
	BQS_STREAM_COMMITTED = 1,	/* rows visible once appended */
	BQS_STREAM_PENDING = 2		/* visible once finalized and committed */
} BqsStreamType;

/* "<table path>/streams/_default": exists for every table */
extern char *bqs_default_stream(const char *table_path);

/* CreateWriteStream: the new stream's name; failures raise an ERROR */
extern char *bqs_create_write_stream(const GcpServer *srv, const char *table_path,
									 BqsStreamType type);

typedef struct BqsWriteStreamInfo
{
	char	   *name;
	BqsStreamType type;
	TimestampTz create_time;
	TimestampTz commit_time;	/* 0 when not committed */
} BqsWriteStreamInfo;

/* GetWriteStream: false when it does not exist (NOT_FOUND); else ERROR on failure */
extern bool bqs_get_write_stream(const GcpServer *srv, const char *stream,
								 BqsWriteStreamInfo *info);

/* FinalizeWriteStream: the stream's row count; failures raise an ERROR */
extern int64 bqs_finalize_write_stream(const GcpServer *srv, const char *stream);

/*
 * BatchCommitWriteStreams of finalized pending streams of one table: true
 * and *commit_time when committed; false with the streams' errors
 * (palloc'd array of *nerrors, stream names in their messages) when none
 * was.  Failures of the call raise an ERROR.
 */
extern bool bqs_batch_commit(const GcpServer *srv, const char *table_path,
							 const char *const *streams, int nstreams,
							 TimestampTz *commit_time,
							 BqsStatus **stream_errors, int *nerrors);

/* one AppendRows connection to one write stream */
typedef struct BqsAppender BqsAppender;

/*
 * Prepare appends to "stream" with rows described by "descriptor", a
 * serialized DescriptorProto (proto2).  Connects at the first append.  The
 * appender belongs to the current memory context: deleting or resetting
 * it closes the connection.
 */
extern BqsAppender *bqs_appender_open(const GcpServer *srv, const char *stream,
									  const void *descriptor, size_t descriptor_len);

/* a row refused for its content (AppendRowsResponse.row_errors) */
typedef struct BqsRowError
{
	int			index;			/* in the request */
	int			code;			/* RowError.code */
	char	   *message;
} BqsRowError;

typedef struct BqsAppendResult
{
	BqsStatus	status;			/* of this append (its response's error, or
								 * the call's when the connection ended) */
	bool		have_offset;
	int64		offset;			/* append_result.offset, when given */
	int			nrow_errors;	/* with any, nothing of the request was appended */
	BqsRowError *row_errors;
} BqsAppendResult;

/*
 * Append rows (each the serialized bytes of one row message) at "offset"
 * (negative: none, as the _default stream takes them) and wait for the
 * answer to this request, serving interrupts and calling tick(tick_arg)
 * about once a second while waiting (NULL: none).  BigQuery's answers,
 * errors included, are returned in *result, not raised; a connection that
 * failed or ended gives UNAVAILABLE (or its gRPC status) and the next
 * append opens a new one.  Requests are at most 10 MB: the caller cuts
 * batches (bqs_append_request_size() tells a request's size).
 */
extern void bqs_append(BqsAppender *appender, int64 offset,
					   const char *const *rows, const int *row_lens, int nrows,
					   BqsAppendResult *result,
					   void (*tick) (void *), void *tick_arg);

/* bytes an AppendRows request with these rows takes, the schema excluded */
extern size_t bqs_append_request_size(const int *row_lens, int nrows);

#define BQS_APPEND_MAX_BYTES	(10 * 1024 * 1024)

/* half-close the connection and free the appender */
extern void bqs_appender_close(BqsAppender *appender);

/* ---------------------------------------------------------------------
 * Storage Read API (google.cloud.bigquery.storage.v1.BigQueryRead)
 * ---------------------------------------------------------------------
 */
typedef struct BqsReadSession
{
	char	   *name;
	char	   *avro_schema;	/* the rows' Avro schema, JSON text */
	int			nstreams;		/* 0 when the table has no rows to read */
	char	  **streams;
	int64		estimated_row_count;
	int64		estimated_total_bytes;
} BqsReadSession;

/*
 * CreateReadSession of a table ("projects/P/datasets/D/tables/T", P may be
 * another project than the server's, which is billed) in Avro, with only
 * the selected columns (NULL: all) and a row restriction in GoogleSQL
 * (NULL: none), in at most max_streams streams.  Failures raise an ERROR.
 */
extern BqsReadSession *bqs_create_read_session(const GcpServer *srv,
											   const char *table_path,
											   const char *const *selected_fields,
											   int nselected,
											   const char *row_restriction,
											   int max_streams);

/* one ReadRows server stream */
typedef struct BqsReader BqsReader;

/* ReadRows of "stream" from row "offset"; it runs inside bqs_readers_next() */
extern BqsReader *bqs_reader_start(const GcpServer *srv, const char *stream,
								   int64 offset);

typedef struct BqsRowBlock
{
	const uint8 *avro_rows;		/* serialized_binary_rows: valid until the
								 * next call for the same reader */
	size_t		len;
	int64		row_count;
} BqsRowBlock;

/*
 * Wait (interruptibly) until one of the readers has a block of rows, and
 * return its index with the block; -1 when every reader has ended.  A
 * stream broken by a transient failure is resumed at the row where it
 * stopped, as Google's clients do; other failures raise an ERROR.
 */
extern int	bqs_readers_next(BqsReader **readers, int nreaders, BqsRowBlock *block);

/* stop a reader early (the stream is cancelled) and free it */
extern void bqs_reader_end(BqsReader *reader);

#endif							/* GCP_BQSTORAGE_H */
