/*-------------------------------------------------------------------------
 *
 * gcp_json.h
 *	  Include jansson together with PostgreSQL's builtins.h.
 *
 * utils/builtins.h (through fmgrprotos.h) declares the SQL-callable
 * functions json_object() and json_typeof(), names that jansson also uses.
 * Every file that needs jansson includes this header instead of <jansson.h>,
 * so the PostgreSQL declarations are renamed out of the way exactly once.
 * The same clash exists at run time; see below.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_JSON_H
#define GCP_JSON_H

#include "postgres.h"

#define json_object pg_sql_json_object
#define json_typeof pg_sql_json_typeof
#include "utils/builtins.h"
#undef json_object
#undef json_typeof

#include <jansson.h>

/*
 * The postgres executable exports its SQL function json_object(), and the
 * dynamic linker binds our calls to that one rather than to jansson's.
 * jansson binds its own calls internally, so building an empty object
 * through json_pack() is safe.
 */
#define json_object() json_pack("{}")

#endif							/* GCP_JSON_H */
