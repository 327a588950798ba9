/*-------------------------------------------------------------------------
 *
 * identifier.c (fuzz target "identifier")
 *	  Fuzzes bq_append_identifier() of src/fdw/convert.c, the one place a
 *	  GoogleSQL name (a column_name option, an attribute name, a
 *	  project.dataset.table path) is written into query text; values
 *	  always travel as query parameters.
 *
 * Input: the name (up to its first NUL byte, as a C string is).
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	quoted_safely	the function neither raised an ERROR nor appended
 *					exactly ` name ` to what the buffer held, or the
 *					quoted text holds a back-quote, a backslash, a
 *					newline or any byte outside [A-Za-z0-9_:.-] (what a
 *					back-quoted GoogleSQL identifier may hold without an
 *					escape).  (An empty name gives ``, which GoogleSQL
 *					refuses; no caller passes one: options are non-empty.)
 *	error_sane		the ERROR's SQLSTATE is not ERRCODE_FDW_INVALID_COLUMN_NAME.
 *
 * Built with -DBQFUZZ_CLI it is instead a filter for
 * test_identifier_lexer.py: each input line is a name in hex, each output
 * line "OK <quoted text in hex>" or "ERROR".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>
#include <stdio.h>

#include "fdw/fdw.h"
#include "pg_shim.h"

#define PREFIX "SELECT "

/* true when quoted; buf then holds PREFIX + the quoted name */
static bool
quote(const char *name, StringInfo buf)
{
	volatile bool ok = false;

	initStringInfo(buf);
	appendStringInfoString(buf, PREFIX);
	PG_TRY();
	{
		bq_append_identifier(buf, name);
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		if (bqfuzz_check("error_sane") && e->sqlerrcode != ERRCODE_FDW_INVALID_COLUMN_NAME)
			bqfuzz_fail("error_sane", "SQLSTATE %d, message %s", e->sqlerrcode, e->message);
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	return ok;
}

static void
check(const char *name)
{
	StringInfoData buf;
	size_t		n = strlen(name);

	if (!quote(name, &buf) || !bqfuzz_check("quoted_safely"))
		return;
	if ((size_t) buf.len != strlen(PREFIX) + n + 2 ||
		memcmp(buf.data, PREFIX, strlen(PREFIX)) != 0 ||
		buf.data[strlen(PREFIX)] != '`' ||
		memcmp(buf.data + strlen(PREFIX) + 1, name, n) != 0 ||
		buf.data[buf.len - 1] != '`')
		bqfuzz_fail("quoted_safely", "the output is not `name`");
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-") != n)
		bqfuzz_fail("quoted_safely", "quoted a name with byte 0x%02x",
					(unsigned char) name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-")]);
}

#ifndef BQFUZZ_CLI

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bqfuzz_begin();
	check(bqfuzz_cstring(data, size));
	bqfuzz_end();
	return 0;
}

#else

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
main(void)
{
	char		line[65536];

	bqfuzz_init();
	while (fgets(line, sizeof(line), stdin))
	{
		size_t		len = strcspn(line, "\r\n");
		char	   *name;
		StringInfoData buf;

		bqfuzz_begin();
		name = palloc(len / 2 + 1);
		for (size_t i = 0; i + 1 < len; i += 2)
			name[i / 2] = (char) (hexval(line[i]) * 16 + hexval(line[i + 1]));
		name[len / 2] = '\0';
		check(name);
		if (quote(name, &buf))
		{
			printf("OK ");
			for (int i = strlen(PREFIX); i < buf.len; i++)
				printf("%02x", (unsigned char) buf.data[i]);
			printf("\n");
		}
		else
			printf("ERROR\n");
		fflush(stdout);
		bqfuzz_end();
	}
	return 0;
}

#endif
