/*-------------------------------------------------------------------------
 *
 * protobuf.c
 *	  Protocol Buffers wire format: varints, zigzag, fixed 32 and 64 bit
 *	  values and length-delimited fields, written into a StringInfo and read
 *	  back from bytes that are not trusted.
 *
 * The reader never reads past the end it was given and never allocates:
 * a field's bytes point into the input.  A varint longer than ten bytes (or
 * whose tenth byte carries more than the 64th bit), a length past the end,
 * a field number of 0 or beyond 2^29-1, groups and the wire types that do
 * not exist stop it with r->error set; the caller reports that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "gcp/protobuf.h"

/* field numbers are 29 bits (the tag's three low bits are the wire type) */
#define PB_MAX_FIELD	((1 << 29) - 1)

/* ---------------------------------------------------------------------
 * encoding
 * ---------------------------------------------------------------------
 */

void
pb_put_varint(StringInfo buf, uint64 value)
{
	char		bytes[10];
	int			n = 0;

	do
	{
		bytes[n] = (char) (value & 0x7f);
		value >>= 7;
		if (value != 0)
			bytes[n] |= (char) 0x80;
		n++;
	} while (value != 0);
	appendBinaryStringInfo(buf, bytes, n);
}

void
pb_put_tag(StringInfo buf, int field, PbWireType wire_type)
{
	Assert(field > 0 && field <= PB_MAX_FIELD);
	pb_put_varint(buf, ((uint64) field << 3) | (uint64) wire_type);
}

void
pb_put_uint64(StringInfo buf, int field, uint64 value)
{
	pb_put_tag(buf, field, PB_VARINT);
	pb_put_varint(buf, value);
}

void
pb_put_int64(StringInfo buf, int field, int64 value)
{
	/* negative int32, int64 and enum values all take ten bytes */
	pb_put_uint64(buf, field, (uint64) value);
}

void
pb_put_sint64(StringInfo buf, int field, int64 value)
{
	/* shift as unsigned: a left shift of a negative value is undefined */
	uint64		zigzag = ((uint64) value << 1) ^ (uint64) (value >> 63);

	pb_put_uint64(buf, field, zigzag);
}

void
pb_put_bool(StringInfo buf, int field, bool value)
{
	pb_put_uint64(buf, field, value ? 1 : 0);
}

static void
put_le(StringInfo buf, uint64 value, int nbytes)
{
	char		bytes[8];

	for (int i = 0; i < nbytes; i++)
		bytes[i] = (char) ((value >> (8 * i)) & 0xff);
	appendBinaryStringInfo(buf, bytes, nbytes);
}

void
pb_put_double(StringInfo buf, int field, double value)
{
	uint64		bits;

	memcpy(&bits, &value, sizeof(bits));
	pb_put_tag(buf, field, PB_FIXED64);
	put_le(buf, bits, 8);
}

void
pb_put_float(StringInfo buf, int field, float value)
{
	uint32		bits;

	memcpy(&bits, &value, sizeof(bits));
	pb_put_tag(buf, field, PB_FIXED32);
	put_le(buf, bits, 4);
}

void
pb_put_bytes(StringInfo buf, int field, const void *data, size_t len)
{
	if (len > (size_t) (MaxAllocSize - buf->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("protocol buffers message too large"),
				 errdetail("A field of %zu bytes would not fit in one message.", len)));
	pb_put_tag(buf, field, PB_LEN);
	pb_put_varint(buf, (uint64) len);
	appendBinaryStringInfo(buf, data, (int) len);
}

void
pb_put_string(StringInfo buf, int field, const char *value)
{
	pb_put_bytes(buf, field, value, strlen(value));
}

/* ---------------------------------------------------------------------
 * decoding
 * ---------------------------------------------------------------------
 */

void
pb_reader_init(PbReader *r, const void *data, size_t len)
{
	r->pos = (const uint8 *) data;
	r->end = r->pos + len;
	r->error = NULL;
}

/*
 * A varint at r->pos; false (with r->error) when it is cut off or longer
 * than a 64-bit value can be.
 */
static bool
read_varint(PbReader *r, uint64 *value)
{
	uint64		v = 0;

	for (int i = 0; i < 10; i++)
	{
		uint8		b;

		if (r->pos >= r->end)
		{
			r->error = "truncated varint";
			return false;
		}
		b = *r->pos++;
		/* the tenth byte holds only the 64th bit */
		if (i == 9 && b > 1)
		{
			r->error = "varint longer than 64 bits";
			return false;
		}
		v |= (uint64) (b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0)
		{
			*value = v;
			return true;
		}
	}
	r->error = "varint longer than 64 bits";
	return false;
}

static bool
read_le(PbReader *r, int nbytes, uint64 *value)
{
	uint64		v = 0;

	if (r->end - r->pos < nbytes)
	{
		r->error = nbytes == 8 ? "truncated fixed64 value" : "truncated fixed32 value";
		return false;
	}
	for (int i = 0; i < nbytes; i++)
		v |= (uint64) r->pos[i] << (8 * i);
	r->pos += nbytes;
	*value = v;
	return true;
}

bool
pb_next(PbReader *r, PbField *f)
{
	uint64		tag;
	uint64		len;

	if (r->error != NULL || r->pos >= r->end)
		return false;
	if (!read_varint(r, &tag))
		return false;
	if ((tag >> 3) == 0 || (tag >> 3) > PB_MAX_FIELD)
	{
		r->error = "invalid field number";
		return false;
	}
	f->number = (int) (tag >> 3);
	f->wire_type = (PbWireType) (tag & 7);
	f->varint = 0;
	f->data = NULL;
	f->len = 0;

	switch (tag & 7)
	{
		case PB_VARINT:
			return read_varint(r, &f->varint);
		case PB_FIXED64:
			return read_le(r, 8, &f->varint);
		case PB_FIXED32:
			return read_le(r, 4, &f->varint);
		case PB_LEN:
			if (!read_varint(r, &len))
				return false;
			if (len > (uint64) (r->end - r->pos))
			{
				r->error = "length past the end of the message";
				return false;
			}
			f->data = r->pos;
			f->len = (size_t) len;
			r->pos += len;
			return true;
		case 3:
		case 4:
			r->error = "unexpected group";
			return false;
		default:
			r->error = "invalid wire type";
			return false;
	}
}

int64
pb_sint64(const PbField *f)
{
	return (int64) (f->varint >> 1) ^ -(int64) (f->varint & 1);
}

double
pb_double(const PbField *f)
{
	double		d;

	if (f->wire_type == PB_FIXED32)
	{
		uint32		bits = (uint32) f->varint;
		float		fl;

		memcpy(&fl, &bits, sizeof(fl));
		return fl;
	}
	memcpy(&d, &f->varint, sizeof(d));
	return d;
}

char *
pb_strdup(const PbField *f)
{
	if (f->data == NULL)
		return pstrdup("");
	return pnstrdup((const char *) f->data, f->len);
}
