/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The bqstream_fdw option validator's companion: keeping inline keys of
 *	  user mappings out of the server log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_OPTIONS_H
#define GCP_OPTIONS_H

extern void bqstream_install_secret_guard(void);

#endif							/* GCP_OPTIONS_H */
