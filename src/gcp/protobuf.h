/*-------------------------------------------------------------------------
 *
 * protobuf.h
 *	  Protocol Buffers wire format: the encoder and decoder of the few
 *	  messages the BigQuery Storage APIs take and give.
 *
 * Messages are written field by field into a StringInfo; an embedded
 * message is written into a buffer of its own and appended as bytes.
 * Reading walks the fields of one message; a nested message is read by
 * starting a reader on its bytes.  Nothing is trusted: a truncated varint,
 * a length past the end or a wire type that does not exist stops the
 * reader with an error that the caller reports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_PROTOBUF_H
#define GCP_PROTOBUF_H

#include "lib/stringinfo.h"

typedef enum PbWireType
{
	PB_VARINT = 0,
	PB_FIXED64 = 1,
	PB_LEN = 2,					/* bytes, strings, embedded messages, packed */
	PB_FIXED32 = 5
} PbWireType;

/* encoding: each appends one field (tag and value) to buf */
extern void pb_put_varint(StringInfo buf, uint64 value);	/* a bare varint */
extern void pb_put_tag(StringInfo buf, int field, PbWireType wire_type);
extern void pb_put_uint64(StringInfo buf, int field, uint64 value);
extern void pb_put_int64(StringInfo buf, int field, int64 value);	/* int32/int64/enum */
extern void pb_put_sint64(StringInfo buf, int field, int64 value);	/* zigzag */
extern void pb_put_bool(StringInfo buf, int field, bool value);
extern void pb_put_double(StringInfo buf, int field, double value);
extern void pb_put_float(StringInfo buf, int field, float value);
extern void pb_put_bytes(StringInfo buf, int field, const void *data, size_t len);
extern void pb_put_string(StringInfo buf, int field, const char *value);

/* decoding */
typedef struct PbReader
{
	const uint8 *pos;
	const uint8 *end;
	const char *error;			/* set when the input is malformed */
} PbReader;

typedef struct PbField
{
	int			number;
	PbWireType	wire_type;
	uint64		varint;			/* PB_VARINT, PB_FIXED64, PB_FIXED32 */
	const uint8 *data;			/* PB_LEN: points into the input */
	size_t		len;
} PbField;

extern void pb_reader_init(PbReader *r, const void *data, size_t len);

/*
 * The next field of the message; false at its end or on malformed input
 * (then r->error says why).  Groups (wire types 3 and 4) are malformed:
 * none of the messages read here has one.
 */
extern bool pb_next(PbReader *r, PbField *f);

/* a field's value as a signed integer (two's complement, or zigzag) */
#define pb_int64(f)		((int64) (f)->varint)
extern int64 pb_sint64(const PbField *f);
extern double pb_double(const PbField *f);

/* a PB_LEN field's bytes as a palloc'd NUL-terminated string */
extern char *pb_strdup(const PbField *f);

#endif							/* GCP_PROTOBUF_H */
