/*-------------------------------------------------------------------------
 *
 * bqstream.h
 *	  Declarations shared by every part of the bqstream extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_H
#define BQSTREAM_H

#define BQSTREAM_VERSION "0.2.0"

/* true when the library was loaded through shared_preload_libraries */
extern bool bqstream_preloaded;

#endif							/* BQSTREAM_H */
