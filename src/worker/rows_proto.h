/*-------------------------------------------------------------------------
 *
 * rows_proto.h
 *	  Rows for the Storage Write API: a proto2 message type made from a
 *	  BigQuery table's schema, and validated JSON payloads encoded as it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_ROWS_PROTO_H
#define BQSTREAM_ROWS_PROTO_H

#include "gcp/gcp_json.h"
#include "lib/stringinfo.h"

typedef struct RowProtoSchema RowProtoSchema;

/*
 * From a tables.get resource: the row message's DescriptorProto (the
 * writer schema of AppendRows) and what the encoder needs.  Raises an
 * ERROR for a table whose columns this encoder cannot write (RECORD,
 * REPEATED, RANGE, or a name that is no protocol buffer field name).
 */
extern RowProtoSchema *row_proto_schema(json_t *table, const char *table_name);

/* the serialized DescriptorProto */
extern const char *row_proto_descriptor(const RowProtoSchema *schema, size_t *len);

/*
 * Append one payload (a JSON object the pipeline's validation accepted)
 * encoded as the row message to buf.  False, with *why (palloc'd, a
 * sentence) when a value does not fit its column's type; buf is then
 * restored to its length on entry.
 */
extern bool row_proto_encode(const RowProtoSchema *schema, const char *json, size_t len,
							 StringInfo buf, char **why);

#endif							/* BQSTREAM_ROWS_PROTO_H */
