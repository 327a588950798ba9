/*-------------------------------------------------------------------------
 *
 * insert_json.c
 *	  The values INSERT sends in insertAll's JSON whose PostgreSQL text form
 *	  BigQuery would not read: INTERVAL in BigQuery's canonical form
 *	  whatever IntervalStyle says, ranges as {"start", "end"}, composites as
 *	  RECORDs (objects keyed by attribute name, whatever their attributes
 *	  hold), PostGIS values as WKT.  modify.c sends every other type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "fdw/fdw.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"


static void append_insert_json(StringInfo buf, Oid type, Datum value);

/* PostGIS's geometry or geography (by name): its name and schema */
static bool
is_postgis_type(Oid type, const char **name, Oid *nsp)
{
	HeapTuple	tup;
	Form_pg_type typ;
	bool		found = false;

	if (type < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (!HeapTupleIsValid(tup))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tup);
	if (typ->typtype == TYPTYPE_BASE &&
		(strcmp(NameStr(typ->typname), "geometry") == 0 ||
		 strcmp(NameStr(typ->typname), "geography") == 0))
	{
		*name = pstrdup(NameStr(typ->typname));
		*nsp = typ->typnamespace;
		found = true;
	}
	ReleaseSysCache(tup);
	return found;
}

static void
append_interval_json(StringInfo buf, Interval *iv)
{
	int64		months = iv->month;
	int64		time = iv->time;
	uint64		abs_time = time < 0 ? -(uint64) time : (uint64) time;
	int64		abs_months = months < 0 ? -months : months;

	appendStringInfo(buf, "\"%s" INT64_FORMAT "-" INT64_FORMAT " %d %s" UINT64_FORMAT ":%d:%d",
					 months < 0 ? "-" : "", abs_months / MONTHS_PER_YEAR,
					 abs_months % MONTHS_PER_YEAR, iv->day, time < 0 ? "-" : "",
					 abs_time / USECS_PER_HOUR, (int) (abs_time / USECS_PER_MINUTE % 60),
					 (int) (abs_time / USECS_PER_SEC % 60));
	if (abs_time % USECS_PER_SEC)
		appendStringInfo(buf, ".%06d", (int) (abs_time % USECS_PER_SEC));
	appendStringInfoChar(buf, '"');
}

/* A JSON string of text in the database's encoding: BigQuery reads UTF-8. */
void
bq_append_json_text(StringInfo buf, const char *text)
{
	char	   *utf8 = pg_server_to_any(text, strlen(text), PG_UTF8);

	if (!pg_verify_mbstr(PG_UTF8, utf8, strlen(utf8), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("a value is not valid UTF-8 and cannot be sent to BigQuery")));
	escape_json(buf, utf8);
}

static char *
bq_output_text(Oid type, Datum value)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(type, &out, &varlena);
	return OidOutputFunctionCall(out, value);
}

static void
append_range_json(StringInfo buf, Oid type, Datum value)
{
	TypeCacheEntry *typcache = lookup_type_cache(type, TYPECACHE_RANGE_INFO);
	Oid			elem = typcache->rngelemtype->type_id;
	RangeBound	lower,
				upper;
	bool		empty;

	range_deserialize(typcache, DatumGetRangeTypeP(value), &lower, &upper, &empty);
	if (empty)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an empty range cannot be sent to BigQuery"),
				 errdetail("A BigQuery RANGE has a start before its end.")));
	if ((!lower.infinite && !lower.inclusive) || (!upper.infinite && upper.inclusive))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("range %s cannot be sent to BigQuery", bq_output_text(type, value)),
				 errdetail("BigQuery's ranges include their start and exclude their end: [start, end).")));
	if (elem != DATEOID && elem != TIMESTAMPOID && elem != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a range of %s cannot be sent to BigQuery", format_type_be(elem)),
				 errhint("BigQuery has ranges of DATE, DATETIME and TIMESTAMP: daterange, tsrange and tstzrange.")));
	for (int i = 0; i < 2; i++)
	{
		RangeBound *b = i == 0 ? &lower : &upper;

		appendStringInfoString(buf, i == 0 ? "{\"start\":" : ",\"end\":");
		if (b->infinite)
			appendStringInfoString(buf, "null");
		else if (elem == DATEOID)
			escape_json(buf, bq_date_text(DatumGetDateADT(b->val)));
		else
			escape_json(buf, bq_timestamp_text(DatumGetTimestamp(b->val), elem == TIMESTAMPTZOID));
	}
	appendStringInfoChar(buf, '}');
}

static void
append_record_json(StringInfo buf, Datum value)
{
	HeapTupleHeader rec = DatumGetHeapTupleHeader(value);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec),
											  HeapTupleHeaderGetTypMod(rec));
	HeapTupleData tuple;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	bool		first = true;

	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, desc, values, nulls);
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		/* an absent field is NULL in BigQuery: no need to send it */
		if (att->attisdropped || nulls[i])
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		bq_append_json_text(buf, NameStr(att->attname));
		appendStringInfoChar(buf, ':');
		append_insert_json(buf, att->atttypid, values[i]);
	}
	appendStringInfoChar(buf, '}');
	ReleaseTupleDesc(desc);
}

/* any value inside a RECORD: as the top-level insert would send it */
static void
append_insert_json(StringInfo buf, Oid type, Datum value)
{
	Oid			elem;

	if (bq_append_insert_special(buf, type, value))
		return;
	elem = get_element_type(type);
	if (OidIsValid(elem))
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *items;
		bool	   *nulls;
		int			n;

		get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
		deconstruct_array(array, elem, typlen, typbyval, typalign, &items, &nulls, &n);
		appendStringInfoChar(buf, '[');
		for (int k = 0; k < n; k++)
		{
			if (nulls[k])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("cannot send a NULL array element to BigQuery"),
						 errdetail("BigQuery arrays cannot hold NULL elements.")));
			if (k > 0)
				appendStringInfoChar(buf, ',');
			append_insert_json(buf, elem, items[k]);
		}
		appendStringInfoChar(buf, ']');
		return;
	}
	bq_append_insert_scalar(buf, type, NULL, value);
}

/*
 * Append a value of one of those types and return true; false for any
 * other type, which the caller sends as it always did.
 */
bool
bq_append_insert_special(StringInfo buf, Oid type, Datum value)
{
	const char *postgis;
	Oid			postgis_nsp;

	if (type == INTERVALOID)
	{
		append_interval_json(buf, DatumGetIntervalP(value));
		return true;
	}
	if (type == DATERANGEOID || type == TSRANGEOID || type == TSTZRANGEOID)
	{
		append_range_json(buf, type, value);
		return true;
	}
	/* the built-in types need no catalog look-up */
	if (type < FirstNormalObjectId)
		return false;
	switch (get_typtype(type))
	{
		case TYPTYPE_COMPOSITE:
			append_record_json(buf, value);
			return true;
		case TYPTYPE_RANGE:
			append_range_json(buf, type, value);
			return true;
		default:
			break;
	}
	if (is_postgis_type(type, &postgis, &postgis_nsp))
	{
		/* WKT from PostGIS's own ST_AsText, found by name in the type's schema */
		Oid			argtypes[1] = {type};
		List	   *name = list_make2(makeString(get_namespace_name(postgis_nsp)),
									  makeString("st_astext"));
		Oid			fn = LookupFuncName(name, 1, argtypes, true);

		if (!OidIsValid(fn))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("cannot send a %s value to BigQuery without PostGIS's ST_AsText(%s)",
							postgis, postgis)));
		escape_json(buf, TextDatumGetCString(OidFunctionCall1(fn, value)));
		return true;
	}
	return false;
}

/*
 * A value of a scalar type in insertAll's JSON encoding; "out" is its
 * output function when the caller has it at hand, else NULL.
 */
void
bq_append_insert_scalar(StringInfo buf, Oid type, FmgrInfo *out, Datum value)
{
	if (bq_append_insert_special(buf, type, value))
		return;
	switch (type)
	{
		case BOOLOID:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			break;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			/* TIMESTAMP in UTC; DATETIME without a zone */
			bq_append_json_text(buf, bq_timestamp_text(DatumGetTimestamp(value),
													   type == TIMESTAMPTZOID));
			break;
		case DATEOID:
			bq_append_json_text(buf, bq_date_text(DatumGetDateADT(value)));
			break;
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				int			enc = pg_b64_enc_len(len);

				appendStringInfoChar(buf, '"');
				enlargeStringInfo(buf, enc + 2);
				buf->len += pg_b64_encode(VARDATA_ANY(b), len, buf->data + buf->len, enc);
				appendStringInfoChar(buf, '"');
				break;
			}
		default:
			/* numbers as strings too: INT64 and NUMERIC keep every digit */
			bq_append_json_text(buf, out ? OutputFunctionCall(out, value)
								: bq_output_text(type, value));
			break;
	}
}
