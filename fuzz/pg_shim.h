/*-------------------------------------------------------------------------
 *
 * pg_shim.h
 *	  What the fuzz harnesses need from pg_shim.c, the stand-in for the
 *	  PostgreSQL backend (see the header comment of pg_shim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQFUZZ_PG_SHIM_H
#define BQFUZZ_PG_SHIM_H

#include "postgres.h"

#include <stdint.h>

/* Set up TopMemoryContext & co; idempotent.  Harnesses call it first. */
extern void bqfuzz_init(void);

/*
 * One fuzz iteration runs in BqfuzzContext (a child of TopMemoryContext,
 * made current by bqfuzz_begin).  bqfuzz_end() resets it, as a transaction
 * abort or end would, which runs the reset callbacks (jansson trees tied to
 * the context by gcp_json_track are released there) and frees every palloc.
 */
extern MemoryContext BqfuzzContext;
extern void bqfuzz_begin(void);
extern void bqfuzz_end(void);

/*
 * The error being raised or just caught (NULL when none).  Valid in a
 * PG_CATCH block until bqfuzz_flush_error() (= FlushErrorState()).
 */
extern ErrorData *bqfuzz_error(void);
extern void bqfuzz_flush_error(void);

/* With BQFUZZ_VERBOSE set, print the error caught (to see why an input was refused). */
extern void bqfuzz_print_error(void);

/* Called by errfinish() for every report, at any level, once formatted. */
extern void (*bqfuzz_report_hook) (const ErrorData *edata);

/* Called by AllocateFile() with the file's name, when set. */
extern void (*bqfuzz_open_hook) (const char *name);

/* Count of reports seen at each level since start (for the harnesses' own use). */
extern uint64 bqfuzz_reports_at_error;

/*
 * A property of the code under test does not hold: print which and why,
 * then abort() so that libFuzzer records the input as a crash.
 */
extern void bqfuzz_fail(const char *property, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();

/*
 * Whether a named property check is on.  All are, unless listed in the
 * environment variable BQFUZZ_SKIP (comma-separated), which is meant for
 * fuzzing on past a bug already reported.
 */
extern bool bqfuzz_check(const char *property);

/* true when s[0..len) is valid UTF-8 */
extern bool bqfuzz_valid_utf8(const char *s, size_t len);

/* Does a message text hold a control character (other than none)? */
extern bool bqfuzz_has_control(const char *s);

/* A NUL-terminated palloc'd copy of fuzz input. */
extern char *bqfuzz_cstring(const uint8_t *data, size_t size);

/*
 * jansson accepted or refused a text for a reason the scanner need not
 * share (an integer or real out of jansson's range, nesting deeper than the
 * scanner's 64 levels): differential checks are skipped then.
 */
extern bool bqfuzz_jansson_limit(const char *jansson_error_text);

#endif							/* BQFUZZ_PG_SHIM_H */
