/*-------------------------------------------------------------------------
 *
 * pg_shim.c
 *	  A minimal stand-in for the parts of the PostgreSQL backend that
 *	  bqstream's parsers use, so that they run as standalone libFuzzer
 *	  binaries under ASan and UBSan.
 *
 * What is here, and how it keeps PostgreSQL's semantics:
 *
 *	- Memory contexts: every palloc is its own malloc (so ASan sees the
 *	  exact bounds of each chunk), linked into its context; a reset runs the
 *	  reset callbacks, deletes the children and frees every chunk, as
 *	  mcxt.c/aset.c do.  The word before a chunk is its context, as
 *	  GetMemoryChunkContext() expects.  Sizes past MaxAllocSize are an
 *	  ERROR, as in PostgreSQL.
 *	- ereport/elog: errstart..errfinish format the message, detail, hint and
 *	  context (error_context_stack callbacks run, as in elog.c) with
 *	  PostgreSQL's own snprintf (libpgport).  An ERROR longjmps to the
 *	  innermost PG_TRY, exactly like pg_re_throw(): it never returns to the
 *	  caller.  An ERROR outside any PG_TRY, a FATAL or a PANIC aborts (a
 *	  backend would exit): the fuzzer reports it.  Lower levels return.
 *	- StringInfo: the backend's stringinfo.c behaviour, including the ERROR
 *	  on enlargement past MaxAllocSize.
 *	- Encoding: the database is UTF-8; pg_utf_mblen, pg_utf8_islegal,
 *	  unicode_to_utf8 and pg_encoding_verifymbstr are PostgreSQL's own
 *	  (libpgcommon.a, src/common/wchar.c).
 *	- date2j, day_tab, GetCurrentTimestamp, cstring_to_text*, escape_json:
 *	  copies of the backend's few lines.
 *	- Types, for convert.c: a fixed catalog of the column types a foreign
 *	  table can declare (get_element_type, get_typlenbyvalalign,
 *	  getTypeInputInfo, fmgr_info, format_type_*), construct_md_array, and
 *	  stand-ins for the types' input functions.  Those input functions are
 *	  PostgreSQL's code, not bqstream's, and are not what is fuzzed: the
 *	  stand-ins read the whole C string (so a missing terminator is an ASan
 *	  report), refuse malformed text with an ERROR like the real ones, and
 *	  return a value of the right shape.
 *
 * Anything else the compiled files reference is in the generated
 * build/<target>_stubs.c: a function stub abort()s with its name if ever
 * called (the fuzzed paths do not call it), a data stub is zeroed storage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "nodes/memnodes.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_shim.h"

/* ---------------------------------------------------------------------
 * globals of the backend that the fuzzed code reads
 * ---------------------------------------------------------------------
 */
volatile sig_atomic_t InterruptPending = false;
volatile sig_atomic_t QueryCancelPending = false;
volatile sig_atomic_t ProcDiePending = false;
volatile uint32 InterruptHoldoffCount = 0;
volatile uint32 QueryCancelHoldoffCount = 0;
volatile uint32 CritSectionCount = 0;

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
MemoryContext CacheMemoryContext = NULL;
MemoryContext BqfuzzContext = NULL;

void		(*bqfuzz_report_hook) (const ErrorData *edata) = NULL;
uint64		bqfuzz_reports_at_error = 0;

/* ---------------------------------------------------------------------
 * memory contexts
 * ---------------------------------------------------------------------
 */

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	Size		size;
	MemoryContext context;		/* must be last: GetMemoryChunkContext() */
} Chunk;

typedef struct ShimContext
{
	MemoryContextData hdr;
	Chunk		chunks;			/* list head */
} ShimContext;

StaticAssertDecl(sizeof(Chunk) % MAXIMUM_ALIGNOF == 0, "chunk header keeps alignment");

static void
fatal(const char *what)
{
	fprintf(stderr, "bqfuzz shim: %s\n", what);
	abort();
}

static MemoryContext
context_create(MemoryContext parent, const char *name)
{
	ShimContext *c = calloc(1, sizeof(ShimContext));

	if (c == NULL)
		fatal("out of memory creating a context");
	c->hdr.type = T_AllocSetContext;
	c->hdr.isReset = true;
	c->hdr.name = name;
	c->hdr.parent = parent;
	c->chunks.prev = c->chunks.next = &c->chunks;
	if (parent)
	{
		c->hdr.nextchild = parent->firstchild;
		if (parent->firstchild)
			parent->firstchild->prevchild = &c->hdr;
		parent->firstchild = &c->hdr;
	}
	return &c->hdr;
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize,
							  Size maxBlockSize)
{
	return context_create(parent, name);
}

static void
call_reset_callbacks(MemoryContext context)
{
	MemoryContextCallback *cb;

	/* as mcxt.c: pop each one before calling it */
	while ((cb = context->reset_cbs) != NULL)
	{
		context->reset_cbs = cb->next;
		cb->func(cb->arg);
	}
}

static void
free_chunks(MemoryContext context)
{
	ShimContext *c = (ShimContext *) context;
	Chunk	   *ch = c->chunks.next;

	while (ch != &c->chunks)
	{
		Chunk	   *next = ch->next;

		free(ch);
		ch = next;
	}
	c->chunks.prev = c->chunks.next = &c->chunks;
	context->mem_allocated = 0;
	context->isReset = true;
}

void
MemoryContextDelete(MemoryContext context)
{
	while (context->firstchild)
		MemoryContextDelete(context->firstchild);
	call_reset_callbacks(context);
	free_chunks(context);
	if (context->parent)
	{
		if (context->prevchild)
			context->prevchild->nextchild = context->nextchild;
		else
			context->parent->firstchild = context->nextchild;
		if (context->nextchild)
			context->nextchild->prevchild = context->prevchild;
	}
	if (CurrentMemoryContext == context)
		fatal("deleting the current memory context");
	free(context);
}

void
MemoryContextDeleteChildren(MemoryContext context)
{
	while (context->firstchild)
		MemoryContextDelete(context->firstchild);
}

void
MemoryContextResetOnly(MemoryContext context)
{
	call_reset_callbacks(context);
	free_chunks(context);
}

void
MemoryContextReset(MemoryContext context)
{
	MemoryContextDeleteChildren(context);
	MemoryContextResetOnly(context);
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	cb->next = context->reset_cbs;
	context->reset_cbs = cb;
	context->isReset = false;
}

void
MemoryContextSetIdentifier(MemoryContext context, const char *id)
{
	context->ident = id;
}

static void *
alloc_in(MemoryContext context, Size size, int flags)
{
	ShimContext *c = (ShimContext *) context;
	Chunk	   *ch;

	if (context == NULL)
		fatal("palloc without a current memory context");
	if (!((flags & MCXT_ALLOC_HUGE) ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	ch = malloc(sizeof(Chunk) + size);
	if (ch == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, context->name)));
	}
	ch->size = size;
	ch->context = context;
	ch->next = c->chunks.next;
	ch->prev = &c->chunks;
	c->chunks.next->prev = ch;
	c->chunks.next = ch;
	context->mem_allocated += size;
	context->isReset = false;
	if (flags & MCXT_ALLOC_ZERO)
		memset(ch + 1, 0, size);
	return ch + 1;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return alloc_in(context, size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return alloc_in(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return alloc_in(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return alloc_in(context, size, flags);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return alloc_in(context, size, MCXT_ALLOC_HUGE);
}

void *
palloc(Size size)
{
	return alloc_in(CurrentMemoryContext, size, 0);
}

void *
palloc0(Size size)
{
	return alloc_in(CurrentMemoryContext, size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return alloc_in(CurrentMemoryContext, size, flags);
}

void
pfree(void *pointer)
{
	Chunk	   *ch = ((Chunk *) pointer) - 1;

	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
	ch->context->mem_allocated -= ch->size;
	free(ch);
}

static void *
realloc_chunk(void *pointer, Size size, bool huge)
{
	Chunk	   *ch = ((Chunk *) pointer) - 1;
	MemoryContext context = ch->context;
	void	   *copy;

	if (!(huge ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	/* a fresh chunk every time, so that ASan catches stale pointers */
	copy = alloc_in(context, size, huge ? MCXT_ALLOC_HUGE : 0);
	memcpy(copy, pointer, Min(size, ch->size));
	pfree(pointer);
	return copy;
}

void *
repalloc(void *pointer, Size size)
{
	return realloc_chunk(pointer, size, false);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return realloc_chunk(pointer, size, true);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	Size		len = strlen(string) + 1;
	char	   *copy = MemoryContextAlloc(context, len);

	memcpy(copy, string, len);
	return copy;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* src/common/psprintf.c, backend flavour */
size_t
pvsnprintf(char *buf, size_t len, const char *fmt, va_list args)
{
	int			nprinted;

	nprinted = vsnprintf(buf, len, fmt, args);	/* pg_vsnprintf */
	if (unlikely(nprinted < 0))
		elog(ERROR, "vsnprintf failed: %m with format string \"%s\"", fmt);
	if ((size_t) nprinted < len)
		return (size_t) nprinted;
	if (unlikely((size_t) nprinted > MaxAllocSize - 1))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory")));
	return nprinted + 1;
}

char *
psprintf(const char *fmt,...)
{
	int			save_errno = errno;
	size_t		len = 128;

	for (;;)
	{
		char	   *result = palloc(len);
		va_list		args;
		size_t		newlen;

		errno = save_errno;
		va_start(args, fmt);
		newlen = pvsnprintf(result, len, fmt, args);
		va_end(args);
		if (newlen < len)
			return result;
		pfree(result);
		len = newlen;
	}
}

void
bqfuzz_init(void)
{
	if (TopMemoryContext)
		return;
	TopMemoryContext = context_create(NULL, "TopMemoryContext");
	ErrorContext = context_create(TopMemoryContext, "ErrorContext");
	CacheMemoryContext = context_create(TopMemoryContext, "CacheMemoryContext");
	BqfuzzContext = context_create(TopMemoryContext, "bqfuzz iteration");
	CurrentMemoryContext = TopMemoryContext;
}

void
bqfuzz_begin(void)
{
	bqfuzz_init();
	CurrentMemoryContext = BqfuzzContext;
}

void
bqfuzz_end(void)
{
	CurrentMemoryContext = TopMemoryContext;
	MemoryContextReset(BqfuzzContext);
	error_context_stack = NULL;
	PG_exception_stack = NULL;
	InterruptHoldoffCount = 0;
	QueryCancelHoldoffCount = 0;
	CritSectionCount = 0;
}

char *
bqfuzz_cstring(const uint8_t *data, size_t size)
{
	char	   *s = palloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* ---------------------------------------------------------------------
 * error reporting (elog.c)
 * ---------------------------------------------------------------------
 */

#define ERRORDATA_STACK_SIZE 5

static ErrorData errordata[ERRORDATA_STACK_SIZE];
static int	errordata_stack_depth = -1;

static void
free_edata(ErrorData *e)
{
	free(e->message);
	free(e->detail);
	free(e->detail_log);
	free(e->hint);
	free(e->context);
	memset(e, 0, sizeof(ErrorData));
}

bool
errstart(int elevel, const char *domain)
{
	ErrorData  *e;

	if (++errordata_stack_depth >= ERRORDATA_STACK_SIZE)
		fatal("ERRORDATA_STACK_SIZE exceeded (an ereport inside an ereport's arguments, recursively)");
	e = &errordata[errordata_stack_depth];
	memset(e, 0, sizeof(ErrorData));
	e->elevel = elevel;
	e->domain = domain;
	e->saved_errno = errno;
	e->output_to_server = true;
	e->output_to_client = elevel >= NOTICE;
	if (elevel >= ERROR)
		e->sqlerrcode = ERRCODE_INTERNAL_ERROR;
	else if (elevel >= WARNING)
		e->sqlerrcode = ERRCODE_WARNING;
	else
		e->sqlerrcode = ERRCODE_SUCCESSFUL_COMPLETION;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

static ErrorData *
top_edata(void)
{
	if (errordata_stack_depth < 0)
		fatal("errmsg/errdetail called outside errstart");
	return &errordata[errordata_stack_depth];
}

/* format into a malloc'd string with PostgreSQL's snprintf, %m included */
static char *
format_va(int saved_errno, const char *fmt, va_list args)
{
	va_list		copy;
	int			n;
	char	   *out;

	va_copy(copy, args);
	errno = saved_errno;
	n = vsnprintf(NULL, 0, fmt, copy);	/* pg_vsnprintf */
	va_end(copy);
	if (n < 0)
		fatal("vsnprintf failed in an error message");
	out = malloc(n + 1);
	if (out == NULL)
		fatal("out of memory formatting an error message");
	errno = saved_errno;
	vsnprintf(out, n + 1, fmt, args);
	return out;
}

static void
set_field(char **field, char *value)
{
	free(*field);
	*field = value;
}

#define FORMAT_INTO(field, fmt) \
	do { \
		ErrorData  *e_ = top_edata(); \
		va_list		args_; \
		va_start(args_, fmt); \
		set_field(&e_->field, format_va(e_->saved_errno, fmt, args_)); \
		va_end(args_); \
	} while (0)

#define FORMAT_PLURAL_INTO(field, fmt_s, fmt_p, n) \
	do { \
		ErrorData  *e_ = top_edata(); \
		va_list		args_; \
		va_start(args_, n); \
		set_field(&e_->field, format_va(e_->saved_errno, (n) == 1 ? fmt_s : fmt_p, args_)); \
		va_end(args_); \
	} while (0)

int
errcode(int sqlerrcode)
{
	top_edata()->sqlerrcode = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	ErrorData  *e = top_edata();

	switch (e->saved_errno)
	{
		case EPERM:
		case EACCES:
#ifdef EROFS
		case EROFS:
#endif
			e->sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
			break;
		case ENOENT:
			e->sqlerrcode = ERRCODE_UNDEFINED_FILE;
			break;
		case EEXIST:
			e->sqlerrcode = ERRCODE_DUPLICATE_FILE;
			break;
		case ENOTDIR:
		case EISDIR:
		case ENOTEMPTY:
			e->sqlerrcode = ERRCODE_WRONG_OBJECT_TYPE;
			break;
		case ENOSPC:
			e->sqlerrcode = ERRCODE_DISK_FULL;
			break;
		case ENFILE:
		case EMFILE:
			e->sqlerrcode = ERRCODE_INSUFFICIENT_RESOURCES;
			break;
		case EIO:
			e->sqlerrcode = ERRCODE_IO_ERROR;
			break;
		default:
			e->sqlerrcode = ERRCODE_INTERNAL_ERROR;
			break;
	}
	return 0;
}

int
errmsg(const char *fmt,...)
{
	FORMAT_INTO(message, fmt);
	top_edata()->message_id = fmt;
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_INTO(message, fmt);
	top_edata()->message_id = fmt;
	return 0;
}

int
errmsg_plural(const char *fmt_singular, const char *fmt_plural, unsigned long n,...)
{
	FORMAT_PLURAL_INTO(message, fmt_singular, fmt_plural, n);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_INTO(detail, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	FORMAT_INTO(detail, fmt);
	return 0;
}

int
errdetail_log(const char *fmt,...)
{
	FORMAT_INTO(detail_log, fmt);
	return 0;
}

int
errdetail_plural(const char *fmt_singular, const char *fmt_plural, unsigned long n,...)
{
	FORMAT_PLURAL_INTO(detail, fmt_singular, fmt_plural, n);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_INTO(hint, fmt);
	return 0;
}

int
errhint_plural(const char *fmt_singular, const char *fmt_plural, unsigned long n,...)
{
	FORMAT_PLURAL_INTO(hint, fmt_singular, fmt_plural, n);
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	top_edata()->context_domain = domain;
	return 0;
}

/* contexts accumulate, newline-separated, innermost first (elog.c) */
int
errcontext_msg(const char *fmt,...)
{
	ErrorData  *e = top_edata();
	va_list		args;
	char	   *line;

	va_start(args, fmt);
	line = format_va(e->saved_errno, fmt, args);
	va_end(args);
	if (e->context)
	{
		char	   *both = malloc(strlen(e->context) + strlen(line) + 2);

		if (both == NULL)
			fatal("out of memory formatting an error context");
		sprintf(both, "%s\n%s", e->context, line);
		free(line);
		line = both;
	}
	set_field(&e->context, line);
	return 0;
}

int
errhidestmt(bool hide_stmt)
{
	top_edata()->hide_stmt = hide_stmt;
	return 0;
}

int
errhidecontext(bool hide_ctx)
{
	top_edata()->hide_ctx = hide_ctx;
	return 0;
}

int
errposition(int cursorpos)
{
	top_edata()->cursorpos = cursorpos;
	return 0;
}

char *
unpack_sql_state(int sql_state)
{
	static char buf[12];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

int
geterrcode(void)
{
	return top_edata()->sqlerrcode;
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		fatal("ERROR raised outside any PG_TRY (a backend would turn it into FATAL)");
	siglongjmp(*PG_exception_stack, 1);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	ErrorData  *e = top_edata();
	int			elevel = e->elevel;

	e->filename = filename;
	e->lineno = lineno;
	e->funcname = funcname;

	/* as elog.c: let the error context callbacks add their lines */
	for (ErrorContextCallback *ec = error_context_stack; ec; ec = ec->previous)
		ec->callback(ec->arg);

	if (e->message == NULL)
		e->message = strdup("missing error text");

	if (bqfuzz_report_hook)
		bqfuzz_report_hook(e);

	if (elevel >= FATAL)
	{
		fprintf(stderr, "bqfuzz shim: %s at level %d from %s:%d (%s): %s\n",
				elevel == FATAL ? "FATAL" : "PANIC", elevel, filename, lineno,
				funcname, e->message);
		abort();
	}
	if (elevel >= ERROR)
	{
		bqfuzz_reports_at_error++;
		/* elog.c: an ERROR resets these before it unwinds */
		InterruptHoldoffCount = 0;
		QueryCancelHoldoffCount = 0;
		CritSectionCount = 0;
		/* the ErrorData stays on the stack for the catcher (CopyErrorData) */
		pg_re_throw();
	}
	free_edata(e);
	errordata_stack_depth--;
}

ErrorData *
bqfuzz_error(void)
{
	return errordata_stack_depth >= 0 ? &errordata[errordata_stack_depth] : NULL;
}

void
FlushErrorState(void)
{
	while (errordata_stack_depth >= 0)
		free_edata(&errordata[errordata_stack_depth--]);
}

void
bqfuzz_print_error(void)
{
	ErrorData  *e = bqfuzz_error();

	if (e && getenv("BQFUZZ_VERBOSE"))
		fprintf(stderr, "bqfuzz: ERROR %s: %s%s%s%s%s\n", unpack_sql_state(e->sqlerrcode), e->message,
				e->detail ? "\nDETAIL: " : "", e->detail ? e->detail : "",
				e->context ? "\nCONTEXT: " : "", e->context ? e->context : "");
}

void
bqfuzz_flush_error(void)
{
	FlushErrorState();
}

ErrorData *
CopyErrorData(void)
{
	ErrorData  *e = top_edata();
	ErrorData  *copy = palloc(sizeof(ErrorData));

	memcpy(copy, e, sizeof(ErrorData));
	copy->message = e->message ? pstrdup(e->message) : NULL;
	copy->detail = e->detail ? pstrdup(e->detail) : NULL;
	copy->detail_log = e->detail_log ? pstrdup(e->detail_log) : NULL;
	copy->hint = e->hint ? pstrdup(e->hint) : NULL;
	copy->context = e->context ? pstrdup(e->context) : NULL;
	copy->backtrace = NULL;
	return copy;
}

void
FreeErrorData(ErrorData *edata)
{
	if (edata->message)
		pfree(edata->message);
	if (edata->detail)
		pfree(edata->detail);
	if (edata->detail_log)
		pfree(edata->detail_log);
	if (edata->hint)
		pfree(edata->hint);
	if (edata->context)
		pfree(edata->context);
	pfree(edata);
}

bool
message_level_is_interesting(int elevel)
{
	return true;
}

void
bqfuzz_fail(const char *property, const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "\n==bqfuzz== PROPERTY VIOLATED [%s]: ", property);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n==bqfuzz== (set BQFUZZ_SKIP=%s to fuzz on past it)\n", property);
	fflush(stderr);
	abort();
}

bool
bqfuzz_check(const char *property)
{
	static const char *skip = NULL;
	static bool read = false;
	size_t		n = strlen(property);

	if (!read)
	{
		skip = getenv("BQFUZZ_SKIP");
		read = true;
	}
	for (const char *p = skip; p && *p;)
	{
		const char *comma = strchr(p, ',');
		size_t		len = comma ? (size_t) (comma - p) : strlen(p);

		if (len == n && memcmp(p, property, n) == 0)
			return false;
		p = comma ? comma + 1 : p + len;
	}
	return true;
}

bool
bqfuzz_valid_utf8(const char *s, size_t len)
{
	return pg_encoding_verifymbstr(PG_UTF8, s, (int) len) == (int) len;
}

bool
bqfuzz_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

bool
bqfuzz_jansson_limit(const char *text)
{
	return strstr(text, "too big") != NULL ||
		strstr(text, "overflow") != NULL ||
		strstr(text, "maximum parsing depth") != NULL;
}

/* ---------------------------------------------------------------------
 * lists (list.c): appending integers, for the plans' lists
 * ---------------------------------------------------------------------
 */

List *
lappend_int(List *list, int datum)
{
	if (list == NIL)
	{
		list = palloc(offsetof(List, initial_elements) + 4 * sizeof(ListCell));
		list->type = T_IntList;
		list->length = 0;
		list->max_length = 4;
		list->elements = list->initial_elements;
	}
	else if (list->length == list->max_length)
	{
		ListCell   *bigger = palloc(sizeof(ListCell) * list->max_length * 2);

		memcpy(bigger, list->elements, sizeof(ListCell) * list->length);
		if (list->elements != list->initial_elements)
			pfree(list->elements);
		list->elements = bigger;
		list->max_length *= 2;
	}
	list->elements[list->length++].int_value = datum;
	return list;
}

/* ---------------------------------------------------------------------
 * StringInfo (src/common/stringinfo.c, backend flavour)
 * ---------------------------------------------------------------------
 */

StringInfo
makeStringInfo(void)
{
	StringInfo	res = palloc(sizeof(StringInfoData));

	initStringInfo(res);
	return res;
}

void
initStringInfo(StringInfo str)
{
	int			size = 1024;

	str->data = palloc(size);
	str->maxlen = size;
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		elog(ERROR, "invalid string enlargement request size: %d", needed);
	if (((Size) needed) >= (MaxAllocSize - (Size) str->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	int			avail = str->maxlen - str->len;
	size_t		nprinted;

	if (avail < 16)
		return 32;
	nprinted = pvsnprintf(str->data + str->len, (size_t) avail, fmt, args);
	if (nprinted < (size_t) avail)
	{
		str->len += (int) nprinted;
		return 0;
	}
	str->data[str->len] = '\0';
	return (int) nprinted;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	int			save_errno = errno;

	for (;;)
	{
		va_list		args;
		int			needed;

		errno = save_errno;
		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendBinaryStringInfoNT(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	if (count > 0)
	{
		enlargeStringInfo(str, count);
		while (--count >= 0)
			str->data[str->len++] = ' ';
		str->data[str->len] = '\0';
	}
}

/* ---------------------------------------------------------------------
 * encoding (mbutils.c): the database encoding is UTF-8
 * ---------------------------------------------------------------------
 */

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

const char *
GetDatabaseEncodingName(void)
{
	return "UTF8";
}

int
pg_database_encoding_max_length(void)
{
	return 4;
}

int
pg_mblen(const char *mbstr)
{
	return pg_utf_mblen((const unsigned char *) mbstr);
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	int			ok = pg_encoding_verifymbstr(PG_UTF8, mbstr, len);

	if (ok == len)
		return true;
	if (noError)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("invalid byte sequence for encoding \"UTF8\"")));
	return false;
}

/* ---------------------------------------------------------------------
 * dates and times (datetime.c, timestamp.c)
 * ---------------------------------------------------------------------
 */

const int	day_tab[2][13] =
{
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0}
};

int
date2j(int y, int m, int d)
{
	int			julian;
	int			century;

	if (m > 2)
	{
		m += 1;
		y += 4800;
	}
	else
	{
		m += 13;
		y += 4799;
	}
	century = y / 100;
	julian = y * 365 - 32167;
	julian += y / 4 - century + century / 4;
	julian += 7834 * m / 256 + d;
	return julian;
}

TimestampTz
GetCurrentTimestamp(void)
{
	struct timeval tp;

	gettimeofday(&tp, NULL);
	return (TimestampTz) ((tp.tv_sec - ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) *
						  USECS_PER_SEC + tp.tv_usec);
}

/* ---------------------------------------------------------------------
 * text (varlena.c) and escape_json (json.c)
 * ---------------------------------------------------------------------
 */

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *result = (text *) palloc(len + VARHDRSZ);

	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), s, len);
	return result;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

char *
text_to_cstring(const text *t)
{
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *result = palloc(len + 1);

	memcpy(result, VARDATA_ANY(t), len);
	result[len] = '\0';
	return result;
}

void
escape_json(StringInfo buf, const char *str)
{
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

/* ---------------------------------------------------------------------
 * files (fd.c): plain stdio, nothing to track in a standalone process
 * ---------------------------------------------------------------------
 */

void		(*bqfuzz_open_hook) (const char *name) = NULL;

FILE *
AllocateFile(const char *name, const char *mode)
{
	if (bqfuzz_open_hook)
		bqfuzz_open_hook(name);
	return fopen(name, mode);
}

int
FreeFile(FILE *file)
{
	return fclose(file);
}

/* ---------------------------------------------------------------------
 * a fixed type catalog, for convert.c
 * ---------------------------------------------------------------------
 */

typedef Datum (*InputFn) (const char *str, Oid type, int32 typmod);

static Datum in_text(const char *str, Oid type, int32 typmod);
static Datum in_int8(const char *str, Oid type, int32 typmod);
static Datum in_float8(const char *str, Oid type, int32 typmod);
static Datum in_numeric(const char *str, Oid type, int32 typmod);
static Datum in_bool(const char *str, Oid type, int32 typmod);
static Datum in_datetime(const char *str, Oid type, int32 typmod);
static Datum in_bytea(const char *str, Oid type, int32 typmod);
static Datum in_jsonb(const char *str, Oid type, int32 typmod);

typedef struct ShimType
{
	Oid			oid;
	const char *name;
	Oid			element;		/* for array types */
	int16		len;
	bool		byval;
	char		align;
	InputFn		input;
} ShimType;

#define INPUT_FN_OID_BASE 900000

static const ShimType shim_types[] = {
	{TEXTOID, "text", InvalidOid, -1, false, TYPALIGN_INT, in_text},
	{VARCHAROID, "character varying", InvalidOid, -1, false, TYPALIGN_INT, in_text},
	{INT8OID, "bigint", InvalidOid, 8, true, TYPALIGN_DOUBLE, in_int8},
	{INT4OID, "integer", InvalidOid, 4, true, TYPALIGN_INT, in_int8},
	{FLOAT8OID, "double precision", InvalidOid, 8, true, TYPALIGN_DOUBLE, in_float8},
	{NUMERICOID, "numeric", InvalidOid, -1, false, TYPALIGN_INT, in_numeric},
	{BOOLOID, "boolean", InvalidOid, 1, true, TYPALIGN_CHAR, in_bool},
	{TIMESTAMPTZOID, "timestamp with time zone", InvalidOid, 8, true, TYPALIGN_DOUBLE, in_datetime},
	{TIMESTAMPOID, "timestamp without time zone", InvalidOid, 8, true, TYPALIGN_DOUBLE, in_datetime},
	{DATEOID, "date", InvalidOid, 4, true, TYPALIGN_INT, in_datetime},
	{TIMEOID, "time without time zone", InvalidOid, 8, true, TYPALIGN_DOUBLE, in_datetime},
	{BYTEAOID, "bytea", InvalidOid, -1, false, TYPALIGN_INT, in_bytea},
	{JSONBOID, "jsonb", InvalidOid, -1, false, TYPALIGN_INT, in_jsonb},
	{TEXTARRAYOID, "text[]", TEXTOID, -1, false, TYPALIGN_INT, NULL},
	{INT8ARRAYOID, "bigint[]", INT8OID, -1, false, TYPALIGN_DOUBLE, NULL},
	{FLOAT8ARRAYOID, "double precision[]", FLOAT8OID, -1, false, TYPALIGN_DOUBLE, NULL},
	{NUMERICARRAYOID, "numeric[]", NUMERICOID, -1, false, TYPALIGN_INT, NULL},
	{BOOLARRAYOID, "boolean[]", BOOLOID, -1, false, TYPALIGN_INT, NULL},
	{TIMESTAMPTZARRAYOID, "timestamp with time zone[]", TIMESTAMPTZOID, -1, false, TYPALIGN_DOUBLE, NULL},
	{DATEARRAYOID, "date[]", DATEOID, -1, false, TYPALIGN_INT, NULL},
	{BYTEAARRAYOID, "bytea[]", BYTEAOID, -1, false, TYPALIGN_INT, NULL},
	{JSONBARRAYOID, "jsonb[]", JSONBOID, -1, false, TYPALIGN_INT, NULL},
};

static const ShimType *
shim_type(Oid oid)
{
	for (int i = 0; i < lengthof(shim_types); i++)
		if (shim_types[i].oid == oid)
			return &shim_types[i];
	elog(ERROR, "cache lookup failed for type %u", oid);
	return NULL;
}

Oid
get_element_type(Oid typid)
{
	for (int i = 0; i < lengthof(shim_types); i++)
		if (shim_types[i].oid == typid)
			return shim_types[i].element;
	return InvalidOid;
}

/* every type of the table is a base type (arrays too, as in pg_type) */
char
get_typtype(Oid typid)
{
	(void) shim_type(typid);
	return TYPTYPE_BASE;
}

TYPCATEGORY
TypeCategory(Oid type)
{
	const ShimType *t = shim_type(type);

	if (OidIsValid(t->element))
		return TYPCATEGORY_ARRAY;
	switch (type)
	{
		case TEXTOID:
			return TYPCATEGORY_STRING;
		case INT8OID:
		case FLOAT8OID:
		case NUMERICOID:
			return TYPCATEGORY_NUMERIC;
		case BOOLOID:
			return TYPCATEGORY_BOOLEAN;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
		case TIMEOID:
			return TYPCATEGORY_DATETIME;
		default:
			return TYPCATEGORY_USER;
	}
}

void
get_typlenbyvalalign(Oid typid, int16 *typlen, bool *typbyval, char *typalign)
{
	const ShimType *t = shim_type(typid);

	*typlen = t->len;
	*typbyval = t->byval;
	*typalign = t->align;
}

void
getTypeInputInfo(Oid type, Oid *typInput, Oid *typIOParam)
{
	const ShimType *t = shim_type(type);

	if (t->input == NULL)
		elog(ERROR, "type %s has no input function in the fuzz shim", t->name);
	*typInput = INPUT_FN_OID_BASE + type;
	*typIOParam = type;
}

char *
format_type_be(Oid type_oid)
{
	return pstrdup(shim_type(type_oid)->name);
}

char *
format_type_with_typemod(Oid type_oid, int32 typemod)
{
	return typemod >= 0 ? psprintf("%s(%d)", shim_type(type_oid)->name, typemod)
		: format_type_be(type_oid);
}

static Datum
input_fmgr(PG_FUNCTION_ARGS)
{
	const ShimType *t = shim_type(PG_GETARG_OID(1));

	return t->input(PG_GETARG_CSTRING(0), t->oid, PG_GETARG_INT32(2));
}

void
fmgr_info(Oid functionId, FmgrInfo *finfo)
{
	memset(finfo, 0, sizeof(FmgrInfo));
	if (functionId <= INPUT_FN_OID_BASE)
		elog(ERROR, "function %u is not an input function of the fuzz shim", functionId);
	(void) shim_type(functionId - INPUT_FN_OID_BASE);
	finfo->fn_addr = input_fmgr;
	finfo->fn_oid = functionId;
	finfo->fn_nargs = 3;
	finfo->fn_strict = true;
	finfo->fn_mcxt = CurrentMemoryContext;
}

/* fmgr.c's InputFunctionCall */
Datum
InputFunctionCall(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod)
{
	LOCAL_FCINFO(fcinfo, 3);
	Datum		result;

	if (str == NULL && flinfo->fn_strict)
		return (Datum) 0;
	InitFunctionCallInfoData(*fcinfo, flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetDatum(str);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(typioparam);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = Int32GetDatum(typmod);
	fcinfo->args[2].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "input function %u returned NULL", flinfo->fn_oid);
	return result;
}

static void
invalid_input(const char *str, Oid type)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", shim_type(type)->name, str)));
}

static Datum
in_text(const char *str, Oid type, int32 typmod)
{
	return PointerGetDatum(cstring_to_text(str));
}

static Datum
in_int8(const char *str, Oid type, int32 typmod)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(str, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (end == str || *end != '\0')
		invalid_input(str, type);
	if (errno == ERANGE || (type == INT4OID && (v < PG_INT32_MIN || v > PG_INT32_MAX)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value \"%s\" is out of range for type %s", str, shim_type(type)->name)));
	return type == INT4OID ? Int32GetDatum((int32) v) : Int64GetDatum(v);
}

static Datum
in_float8(const char *str, Oid type, int32 typmod)
{
	char	   *end;
	double		v;

	if (pg_strcasecmp(str, "NaN") == 0)
		return Float8GetDatum(NAN);
	if (pg_strcasecmp(str, "Infinity") == 0 || pg_strcasecmp(str, "inf") == 0)
		return Float8GetDatum(INFINITY);
	if (pg_strcasecmp(str, "-Infinity") == 0 || pg_strcasecmp(str, "-inf") == 0)
		return Float8GetDatum(-INFINITY);
	errno = 0;
	v = strtod(str, &end);
	while (*end == ' ')
		end++;
	if (end == str || *end != '\0')
		invalid_input(str, type);
	return Float8GetDatum(v);
}

static Datum
in_numeric(const char *str, Oid type, int32 typmod)
{
	const char *p = str;
	bool		digits = false;

	while (*p == ' ')
		p++;
	if (pg_strcasecmp(p, "NaN") != 0 && pg_strcasecmp(p, "Infinity") != 0 &&
		pg_strcasecmp(p, "-Infinity") != 0)
	{
		if (*p == '+' || *p == '-')
			p++;
		for (; *p >= '0' && *p <= '9'; p++)
			digits = true;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				digits = true;
		if (digits && (*p == 'e' || *p == 'E'))
		{
			p++;
			if (*p == '+' || *p == '-')
				p++;
			if (!(*p >= '0' && *p <= '9'))
				invalid_input(str, type);
			while (*p >= '0' && *p <= '9')
				p++;
		}
		while (*p == ' ')
			p++;
		if (!digits || *p != '\0')
			invalid_input(str, type);
	}
	/* the value's shape only: a varlena holding the text */
	return PointerGetDatum(cstring_to_text(str));
}

static Datum
in_bool(const char *str, Oid type, int32 typmod)
{
	static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
	static const char *const no[] = {"f", "false", "n", "no", "off", "0"};

	for (int i = 0; i < lengthof(yes); i++)
	{
		if (pg_strcasecmp(str, yes[i]) == 0)
			return BoolGetDatum(true);
		if (pg_strcasecmp(str, no[i]) == 0)
			return BoolGetDatum(false);
	}
	invalid_input(str, type);
	return (Datum) 0;
}

static Datum
in_datetime(const char *str, Oid type, int32 typmod)
{
	/* dates and times: digits and the separators of ISO 8601 only */
	if (*str == '\0' || strspn(str, "0123456789-:. T+Z") != strlen(str))
		invalid_input(str, type);
	return type == DATEOID ? DateADTGetDatum(0) : Int64GetDatum(0);
}

static Datum
in_bytea(const char *str, Oid type, int32 typmod)
{
	size_t		len = strlen(str);
	bytea	   *b;

	if (str[0] == '\\' && str[1] == 'x')
	{
		if (len % 2 != 0 || strspn(str + 2, "0123456789abcdefABCDEF") != len - 2)
			invalid_input(str, type);
		len = (len - 2) / 2;
	}
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	memset(VARDATA(b), 0, len);
	return PointerGetDatum(b);
}

static Datum
in_jsonb(const char *str, Oid type, int32 typmod)
{
	json_error_t jerr;
	json_t	   *j = json_loads(str, JSON_DECODE_ANY, &jerr);

	if (j == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type json"),
				 errdetail("%s", jerr.text)));
	json_decref(j);
	return PointerGetDatum(cstring_to_text(str));
}

/* arrayfuncs.c's ArrayCastAndSet (static there) */
static int
ArrayCastAndSet(Datum src, int typlen, bool typbyval, char typalign, char *dest)
{
	int			inc;

	if (typlen > 0)
	{
		if (typbyval)
			store_att_byval(dest, src, typlen);
		else
			memmove(dest, DatumGetPointer(src), typlen);
		inc = att_align_nominal(typlen, typalign);
	}
	else
	{
		inc = att_addlength_datum(0, typlen, src);
		memmove(dest, DatumGetPointer(src), inc);
		inc = att_align_nominal(inc, typalign);
	}
	return inc;
}

/*
 * arrayfuncs.c's construct_md_array for the 0 or 1 dimensions convert.c
 * makes: every element is read (and copied) as the real one does.
 */
ArrayType *
construct_md_array(Datum *elems, bool *nulls, int ndims, int *dims, int *lbs,
				   Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	ArrayType  *result;
	int			nelems;
	int32		nbytes = 0;
	int32		dataoffset;
	bool		hasnulls = false;
	char	   *p;
	bits8	   *bitmap;

	if (ndims < 0 || ndims > 1)
		elog(ERROR, "construct_md_array in the fuzz shim takes 0 or 1 dimensions, not %d", ndims);
	if (ndims == 0)
	{
		result = palloc0(sizeof(ArrayType));
		SET_VARSIZE(result, sizeof(ArrayType));
		result->ndim = 0;
		result->dataoffset = 0;
		result->elemtype = elmtype;
		return result;
	}
	nelems = dims[0];
	if (nelems < 0 || nelems > (int) MaxArraySize)
		elog(ERROR, "array size exceeds the maximum allowed (%d)", (int) MaxArraySize);
	for (int i = 0; i < nelems; i++)
	{
		if (nulls && nulls[i])
		{
			hasnulls = true;
			continue;
		}
		if (elmlen == -1)
			elems[i] = PointerGetDatum(PG_DETOAST_DATUM(elems[i]));
		nbytes = att_addlength_datum(nbytes, elmlen, elems[i]);
		nbytes = att_align_nominal(nbytes, elmalign);
		if (!AllocSizeIsValid(nbytes))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("array size exceeds the maximum allowed (%d)",
							(int) MaxAllocSize)));
	}
	if (hasnulls)
		dataoffset = ARR_OVERHEAD_WITHNULLS(ndims, nelems);
	else
		dataoffset = 0;
	nbytes += hasnulls ? dataoffset : ARR_OVERHEAD_NONULLS(ndims);
	result = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(result, nbytes);
	result->ndim = ndims;
	result->dataoffset = dataoffset;
	result->elemtype = elmtype;
	memcpy(ARR_DIMS(result), dims, ndims * sizeof(int));
	memcpy(ARR_LBOUND(result), lbs, ndims * sizeof(int));

	p = ARR_DATA_PTR(result);
	bitmap = ARR_NULLBITMAP(result);
	for (int i = 0; i < nelems; i++)
	{
		if (bitmap && !(nulls && nulls[i]))
			bitmap[i / 8] |= 1 << (i % 8);
		if (nulls && nulls[i])
			continue;
		p += ArrayCastAndSet(elems[i], elmlen, elmbyval, elmalign, p);
	}
	return result;
}

/* PG_DETOAST_DATUM_PACKED: likewise */
struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_COMPRESSED(datum) || VARATT_IS_EXTERNAL(datum))
		elog(ERROR, "the fuzz shim does not detoast");
	return datum;
}

/* PG_DETOAST_DATUM: values made here are never toasted */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTENDED(datum))
		elog(ERROR, "the fuzz shim does not detoast");
	return datum;
}
