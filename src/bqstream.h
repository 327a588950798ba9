/*-------------------------------------------------------------------------
 *
 * bqstream.h
 *	  Declarations shared by every part of the bqstream extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_H
#define BQSTREAM_H

#include "fmgr.h"

#define BQSTREAM_VERSION "0.3.0"

/* true when the library was loaded through shared_preload_libraries */
extern bool bqstream_preloaded;

/* A text argument of a SQL function as a C string; NULL is an error naming "what". */
extern char *bqstream_text_arg(FunctionCallInfo fcinfo, int n, const char *what);

#endif							/* BQSTREAM_H */
