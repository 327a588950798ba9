/*-------------------------------------------------------------------------
 *
 * protobuf.c (fuzz target "protobuf")
 *	  Fuzzes the Protocol Buffers reader of src/gcp/protobuf.c (pb_next,
 *	  pb_sint64, pb_double, pb_strdup), which reads every answer of the
 *	  BigQuery Storage APIs, and checks it against the writer (pb_put_*).
 *
 * Input: any bytes, read as one message; every length-delimited field is
 * read again as a nested message, 8 levels deep at most, as the Storage
 * clients read theirs.
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	fields_tile		the fields read (tag to end of value) do not follow each
 *					other exactly from the start of the input, or a field's
 *					bytes lie outside it; or the reader stopped before the
 *					end without an error, or stopped with an error at the
 *					end of a well-formed message.
 *	field_sane		a field number outside 1..2^29-1, a wire type that does
 *					not exist, or a PB_LEN field longer than the input.
 *	reencode_same	a field written again with pb_put_* (tag and value: the
 *					canonical, shortest form) is read back with the same
 *					number, wire type and value, and takes no more bytes
 *					than it took in the input.
 *	varint_limit	a varint of more than ten bytes, or whose tenth byte
 *					holds more than the 64th bit, was accepted.
 *	strdup_sane		pb_strdup() of a PB_LEN field is its bytes up to the
 *					first NUL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include "gcp/protobuf.h"
#include "pg_shim.h"

#define MAX_DEPTH 8

/* the length of the varint at p (at most max bytes), or 0 when it never ends */
static size_t
varint_length(const uint8 *p, size_t max)
{
	for (size_t i = 0; i < max; i++)
		if ((p[i] & 0x80) == 0)
			return i + 1;
	return 0;
}

static void
check_reencode(const PbField *f, size_t span)
{
	StringInfoData buf;
	PbReader	r;
	PbField		g;

	initStringInfo(&buf);
	switch (f->wire_type)
	{
		case PB_VARINT:
			pb_put_uint64(&buf, f->number, f->varint);
			break;
		case PB_FIXED64:
		case PB_FIXED32:
			{
				/* the bits as they are: a float through a double may quiet a NaN */
				double		d;
				float		fl;
				uint32		bits32 = (uint32) f->varint;

				memcpy(&d, &f->varint, sizeof(d));
				memcpy(&fl, &bits32, sizeof(fl));
				if (f->wire_type == PB_FIXED64)
					pb_put_double(&buf, f->number, d);
				else
					pb_put_float(&buf, f->number, fl);
				break;
			}
		case PB_LEN:
			pb_put_bytes(&buf, f->number, f->data, f->len);
			break;
	}
	pb_reader_init(&r, buf.data, buf.len);
	if (!pb_next(&r, &g) || r.error || r.pos != r.end)
		bqfuzz_fail("reencode_same", "field %d written again is not read back: %s",
					f->number, r.error ? r.error : "(no error)");
	if (g.number != f->number || g.wire_type != f->wire_type || g.len != f->len ||
		(f->wire_type == PB_LEN ? memcmp(g.data, f->data, f->len) != 0
		 : f->wire_type == PB_FIXED32 ? (uint32) g.varint != (uint32) f->varint
		 : g.varint != f->varint))
		bqfuzz_fail("reencode_same", "field %d (wire type %d) read back differs",
					f->number, (int) f->wire_type);
	if ((size_t) buf.len > span)
		bqfuzz_fail("reencode_same", "field %d takes %d bytes written again, %zu in the input",
					f->number, buf.len, span);
	pfree(buf.data);
}

static void
walk(const uint8 *data, size_t len, int depth)
{
	PbReader	r;
	PbField		f;
	const uint8 *expect = data;

	pb_reader_init(&r, data, len);
	for (;;)
	{
		const uint8 *start = r.pos;
		size_t		taglen;

		if (!pb_next(&r, &f))
			break;
		if (bqfuzz_check("fields_tile") &&
			(start != expect || r.pos < start || r.pos > data + len))
			bqfuzz_fail("fields_tile", "a field read from offset %td to %td, expected from %td",
						start - data, r.pos - data, expect - data);
		expect = r.pos;

		if (bqfuzz_check("field_sane") &&
			(f.number < 1 || f.number > (1 << 29) - 1 ||
			 (f.wire_type != PB_VARINT && f.wire_type != PB_FIXED64 &&
			  f.wire_type != PB_LEN && f.wire_type != PB_FIXED32)))
			bqfuzz_fail("field_sane", "field number %d, wire type %d", f.number, (int) f.wire_type);

		/* tags and varint values of at most ten bytes */
		taglen = varint_length(start, r.pos - start);
		if (bqfuzz_check("varint_limit") && (taglen == 0 || taglen > 10))
			bqfuzz_fail("varint_limit", "a tag of %zu bytes accepted", taglen);
		if (f.wire_type == PB_VARINT && bqfuzz_check("varint_limit"))
		{
			size_t		vlen = r.pos - start - taglen;

			if (vlen > 10 || (vlen == 10 && start[taglen + 9] > 1))
				bqfuzz_fail("varint_limit", "a varint of %zu bytes accepted", vlen);
		}

		if (f.wire_type == PB_LEN)
		{
			if (bqfuzz_check("field_sane") &&
				(f.data < data || f.len > len || f.data + f.len != r.pos))
				bqfuzz_fail("field_sane", "a length-delimited field outside its message");
			if (bqfuzz_check("strdup_sane"))
			{
				char	   *s = pb_strdup(&f);
				size_t		n = strnlen((const char *) f.data, f.len);

				if (strlen(s) != n || memcmp(s, f.data, n) != 0)
					bqfuzz_fail("strdup_sane", "pb_strdup() differs from the field's bytes");
				pfree(s);
			}
			if (depth < MAX_DEPTH)
				walk(f.data, f.len, depth + 1);
		}
		else
		{
			/* pb_sint64 and pb_double of any value: UBSan watches */
			(void) pb_sint64(&f);
			(void) pb_double(&f);
		}
		if (bqfuzz_check("reencode_same"))
			check_reencode(&f, r.pos - start);
	}
	if (bqfuzz_check("fields_tile") &&
		((r.error == NULL && r.pos != data + len) ||
		 (r.error != NULL && expect == data + len)))
		bqfuzz_fail("fields_tile", "the reader stopped at %td of %zu: %s",
					r.pos - data, len, r.error ? r.error : "without an error");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly the input's size: ASan sees any read past it */
	uint8	   *copy;

	bqfuzz_begin();
	copy = palloc(Max(size, 1));
	memcpy(copy, data, size);
	walk(copy, size, 0);
	bqfuzz_end();
	return 0;
}
