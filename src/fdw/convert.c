/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  From BigQuery's result encoding to the foreign table's declared column
 *	  types, and from BigQuery's types to PostgreSQL's for IMPORT FOREIGN
 *	  SCHEMA.
 *
 * Cells are converted by the column type's own input function, so NUMERIC,
 * BIGNUMERIC and INT64 (which BigQuery sends as strings) never pass through
 * a C double, and a value that does not fit is an error naming the column
 * and both types.  TIMESTAMP is requested as int64 microseconds and
 * converted exactly; BYTES arrive in base64; REPEATED values become arrays.
 * A RECORD ({"f": [{"v": ...}]}, read with the schema's nested "fields")
 * becomes a composite whose attributes are matched to its fields by name,
 * or one JSON object for json/jsonb/text.  INTERVAL and RANGE cells are
 * taken apart here rather than by interval_in/range_in, whose readings
 * depend on IntervalStyle and on BigQuery's UNBOUNDED.  GEOGRAPHY is WKT,
 * which text and PostGIS's types read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "fdw/fdw.h"
#include "gcp/bigquery.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/rangetypes.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

static bool
is_repeated(const char *mode)
{
	return mode && strcmp(mode, "REPEATED") == 0;
}

static bool
is_record(const char *type)
{
	return type && (strcmp(type, "RECORD") == 0 || strcmp(type, "STRUCT") == 0);
}

static bool
type_is(const char *type, const char *name)
{
	return type && strcmp(type, name) == 0;
}

/* The types BigQuery documents; anything else is refused, not guessed at. */
static bool
is_known_type(const char *type)
{
	static const char *const known[] = {
		"STRING", "INTEGER", "INT64", "FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC",
		"BOOLEAN", "BOOL", "TIMESTAMP", "DATETIME", "DATE", "TIME", "BYTES", "JSON",
		"GEOGRAPHY", "INTERVAL", "RANGE", "RECORD", "STRUCT",
	};

	for (int i = 0; i < lengthof(known); i++)
		if (type_is(type, known[i]))
			return true;
	return false;
}

/* How a cell of this BigQuery type arrives, before the target type is known */
BqCellType
bq_cell_type(const char *type, const char *mode)
{
	if (is_repeated(mode))
		return bq_cell_type(type, NULL) == BQC_UNSUPPORTED ? BQC_UNSUPPORTED : BQC_REPEATED;
	if (type == NULL)
		return BQC_TEXT;
	if (type_is(type, "TIMESTAMP"))
		return BQC_TIMESTAMP_MICROS;
	if (type_is(type, "BYTES"))
		return BQC_BYTES;
	if (is_record(type))
		return BQC_RECORD;
	if (type_is(type, "INTERVAL"))
		return BQC_INTERVAL;
	if (type_is(type, "RANGE"))
		return BQC_RANGE;
	return BQC_TEXT;
}

const char *
bq_pg_type_for(const char *type, const char *mode)
{
	const char *pg;

	/* a record, or an array of them, is one JSON value: an object or an array */
	if (is_record(type))
		return "jsonb";
	pg = bq_type_pg_name(bq_type_from_name(type));
	if (pg == NULL)
		return NULL;
	return is_repeated(mode) ? psprintf("%s[]", pg) : pg;
}

/*
 * PostGIS's geometry type, when the extension is installed in this
 * database, schema-qualified; NULL otherwise.  Looked up by name: bqstream
 * does not link to PostGIS, it feeds WKT to the type's input function.
 */
static const char *
postgis_geometry_type(void)
{
	Oid			ext = get_extension_oid("postgis", true);
	Oid			nsp = InvalidOid;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!OidIsValid(ext))
		return NULL;
	/* its schema (PostgreSQL 15 has no get_extension_schema()) */
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(nsp) ||
		!OidIsValid(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									CStringGetDatum("geometry"), ObjectIdGetDatum(nsp))))
		return NULL;
	return psprintf("%s.geometry", quote_identifier(get_namespace_name(nsp)));
}

/* The same from a schema field: RANGE's element type, PostGIS for GEOGRAPHY */
const char *
bq_pg_type_for_field(json_t *field)
{
	const char *type = json_string_value(json_object_get(field, "type"));
	const char *mode = json_string_value(json_object_get(field, "mode"));

	if (type_is(type, "RANGE") && !is_repeated(mode))
	{
		const char *elem = json_string_value(json_object_get(json_object_get(field,
																			 "rangeElementType"),
															 "type"));

		if (type_is(elem, "DATE"))
			return "daterange";
		if (type_is(elem, "DATETIME"))
			return "tsrange";
		if (type_is(elem, "TIMESTAMP"))
			return "tstzrange";
		return NULL;
	}
	if (type_is(type, "GEOGRAPHY"))
	{
		const char *geometry = postgis_geometry_type();

		if (geometry)
			return is_repeated(mode) ? psprintf("%s[]", geometry) : geometry;
	}
	return bq_pg_type_for(type, mode);
}

void
bq_append_identifier(StringInfo buf, const char *name)
{
	/* names that need no escaping only: then back-quotes cannot be broken out of */
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ':' || *p == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("BigQuery name \"%s\" has characters bqstream_fdw does not quote", name),
					 errhint("Use the column_name option to name a column with letters, digits and underscores.")));
	appendStringInfoChar(buf, '`');
	appendStringInfoString(buf, name);
	appendStringInfoChar(buf, '`');
}

static void init_converter(BqConverter *conv, const char *colname, const char *bq_type,
						   const char *mode, json_t *field, Oid pg_type, int32 typmod);

/* text, json and jsonb take a RECORD (or any value) as JSON text */
static bool
takes_json(Oid pg_type)
{
	return pg_type == JSONBOID || pg_type == JSONOID || pg_type == TEXTOID;
}

static const char *
shown_type(const char *bq_type, const char *mode)
{
	return psprintf("%s%s", is_repeated(mode) ? "REPEATED " : "", bq_type);
}

/*
 * The shape of a value rendered as JSON: its BigQuery type and, for a
 * RECORD, its fields' shapes.
 */
static void
init_json_shape(BqConverter *conv, const char *colname, const char *bq_type,
				const char *mode, json_t *field)
{
	json_t	   *subs = json_object_get(field, "fields");
	size_t		i;
	json_t	   *f;

	conv->colname = colname;
	conv->bq_type = pstrdup(bq_type ? bq_type : "?");	/* the schema is freed with its page */
	conv->cell = BQC_JSON;
	conv->repeated = is_repeated(mode);
	if (!is_record(bq_type))
		return;
	if (!json_is_array(subs) || json_array_size(subs) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent no fields for RECORD column \"%s\"", colname)));
	conv->nfields = json_array_size(subs);
	conv->fields = palloc0(sizeof(BqConverter) * conv->nfields);
	conv->field_names = palloc0(sizeof(char *) * conv->nfields);
	json_array_foreach(subs, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent a field without a name in RECORD column \"%s\"",
							colname)));
		conv->field_names[i] = pstrdup(name);
		init_json_shape(&conv->fields[i], psprintf("%s.%s", colname, name),
						json_string_value(json_object_get(f, "type")),
						json_string_value(json_object_get(f, "mode")), f);
	}
}

/*
 * A RECORD into a composite type: each BigQuery field goes to the attribute
 * of the same name (exactly, else ignoring case, as BigQuery compares
 * field names); a field without an attribute, or an attribute without a
 * field, is an error naming it.
 */
static void
init_record(BqConverter *conv, json_t *field, Oid pg_type, int32 typmod)
{
	json_t	   *subs = json_object_get(field, "fields");
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(pg_type, typmod);
	bool	   *used = palloc0(sizeof(bool) * desc->natts);
	size_t		i;
	json_t	   *f;

	if (!json_is_array(subs) || json_array_size(subs) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent no fields for RECORD column \"%s\"", conv->colname)));
	conv->tupdesc = desc;
	conv->nfields = json_array_size(subs);
	conv->fields = palloc0(sizeof(BqConverter) * conv->nfields);
	conv->field_names = palloc0(sizeof(char *) * conv->nfields);
	conv->attnums = palloc0(sizeof(int) * conv->nfields);
	json_array_foreach(subs, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		int			match = -1;
		Form_pg_attribute att;

		for (int pass = 0; pass < 2 && match < 0 && name; pass++)
			for (int a = 0; a < desc->natts && match < 0; a++)
			{
				att = TupleDescAttr(desc, a);
				if (!att->attisdropped && !used[a] &&
					(pass == 0 ? strcmp(NameStr(att->attname), name) == 0
					 : pg_strcasecmp(NameStr(att->attname), name) == 0))
					match = a;
			}
		if (match < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("field \"%s\" of BigQuery RECORD column \"%s\" has no attribute in type %s",
							name ? name : "?", conv->colname, format_type_be(pg_type)),
					 errhint("Give the composite type an attribute for each field of the RECORD, or declare the column as jsonb.")));
		used[match] = true;
		att = TupleDescAttr(desc, match);
		conv->attnums[i] = match;
		conv->field_names[i] = pstrdup(name);
		init_converter(&conv->fields[i], psprintf("%s.%s", conv->colname, name),
					   json_string_value(json_object_get(f, "type")),
					   json_string_value(json_object_get(f, "mode")), f,
					   att->atttypid, att->atttypmod);
	}
	for (int a = 0; a < desc->natts; a++)
		if (!used[a] && !TupleDescAttr(desc, a)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("attribute \"%s\" of type %s has no field in BigQuery RECORD column \"%s\"",
							NameStr(TupleDescAttr(desc, a)->attname), format_type_be(pg_type),
							conv->colname)));
}

/* RANGE<DATE|DATETIME|TIMESTAMP> into a range type of a fitting subtype */
static void
init_range(BqConverter *conv, json_t *field, Oid pg_type)
{
	const char *elem = json_string_value(json_object_get(json_object_get(field,
																		 "rangeElementType"),
														 "type"));
	TypeCacheEntry *typcache;

	if (!type_is(elem, "DATE") && !type_is(elem, "DATETIME") && !type_is(elem, "TIMESTAMP"))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" is a BigQuery RANGE of %s, which bqstream_fdw does not convert",
						conv->colname, elem ? elem : "an unnamed type")));
	typcache = lookup_type_cache(pg_type, TYPECACHE_RANGE_INFO);
	conv->range_type = typcache;
	conv->bound = palloc0(sizeof(BqConverter));
	init_converter(conv->bound, conv->colname, elem, NULL, NULL,
				   typcache->rngelemtype->type_id, -1);
	if (type_is(elem, "TIMESTAMP") && conv->bound->cell != BQC_TIMESTAMP_MICROS)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" is a BigQuery RANGE<TIMESTAMP> but %s here",
						conv->colname, format_type_be(pg_type)),
				 errhint("Declare the column as tstzrange.")));
}

static void
init_converter(BqConverter *conv, const char *colname, const char *bq_type,
			   const char *mode, json_t *field, Oid pg_type, int32 typmod)
{
	Oid			infunc;

	/* domains are not looked through: their input function checks them */
	Oid			base_type = pg_type;

	conv->colname = colname;
	conv->bq_type = pstrdup(bq_type ? bq_type : "?");	/* the schema is freed with its page */
	conv->cell = bq_cell_type(bq_type, mode);
	conv->pg_type = pg_type;
	conv->typmod = typmod;
	if (bq_type != NULL && !is_known_type(bq_type))
		conv->cell = BQC_UNSUPPORTED;
	if (conv->cell == BQC_UNSUPPORTED)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" has BigQuery type %s, which bqstream_fdw does not convert",
						colname, shown_type(conv->bq_type, mode))));

	/*
	 * A RECORD (or an array of them) into json, jsonb or text, or an array
	 * into json or jsonb: one JSON value.  An array into text stays an error,
	 * as a likely mistake for text[].
	 */
	if ((is_record(bq_type) && takes_json(base_type)) ||
		(conv->cell == BQC_REPEATED && (base_type == JSONOID || base_type == JSONBOID)))
	{
		init_json_shape(conv, colname, bq_type, mode, field);
		conv->pg_type = pg_type;
		conv->typmod = typmod;
		getTypeInputInfo(pg_type, &infunc, &conv->ioparam);
		fmgr_info(infunc, &conv->input);
		return;
	}
	if (conv->cell == BQC_REPEATED)
	{
		Oid			elem = get_element_type(base_type);

		if (!OidIsValid(elem))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" is an array in BigQuery (REPEATED %s) but %s here",
							colname, conv->bq_type, format_type_be(pg_type)),
					 errhint("Declare the column as an array, such as %s.",
							 bq_pg_type_for(conv->bq_type, mode) ? bq_pg_type_for(conv->bq_type, mode) : "text[]")));
		conv->element = palloc0(sizeof(BqConverter));
		init_converter(conv->element, colname, bq_type, NULL, field, elem, typmod);
		get_typlenbyvalalign(elem, &conv->elmlen, &conv->elmbyval, &conv->elmalign);
		return;
	}
	if (conv->cell == BQC_RECORD)
	{
		if (get_typtype(base_type) != TYPTYPE_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" is a RECORD in BigQuery but %s here",
							colname, format_type_be(pg_type)),
					 errhint("Declare the column as jsonb or as a composite type with the RECORD's fields.")));
		if (field == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("RECORD column \"%s\" cannot be converted without its fields", colname)));
		init_record(conv, field, base_type, base_type == pg_type ? typmod : -1);
		return;
	}
	if (conv->cell == BQC_INTERVAL && base_type != INTERVALOID)
	{
		if (!takes_json(base_type) && TypeCategory(base_type) != TYPCATEGORY_STRING)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" is an INTERVAL in BigQuery but %s here",
							colname, format_type_be(pg_type)),
					 errhint("Declare the column as interval.")));
		conv->cell = BQC_TEXT;	/* the canonical text as it is */
	}
	if (conv->cell == BQC_RANGE)
	{
		if (get_typtype(base_type) == TYPTYPE_RANGE)
			init_range(conv, field, base_type);
		else if (takes_json(base_type) || TypeCategory(base_type) == TYPCATEGORY_STRING)
			conv->cell = BQC_TEXT;
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" is a RANGE in BigQuery but %s here",
							colname, format_type_be(pg_type)),
					 errhint("Declare the column as daterange, tsrange or tstzrange.")));
	}
	if (conv->cell == BQC_TIMESTAMP_MICROS &&
		base_type != TIMESTAMPTZOID && base_type != TIMESTAMPOID)
		conv->cell = BQC_TEXT;	/* e.g. into text: the microseconds as digits */
	if (conv->cell == BQC_BYTES && base_type != BYTEAOID)
		conv->cell = BQC_TEXT;
	getTypeInputInfo(pg_type, &infunc, &conv->ioparam);
	fmgr_info(infunc, &conv->input);
}

void
bq_converter_init_field(BqConverter *conv, const char *colname, json_t *field,
						Oid pg_type, int32 typmod)
{
	init_converter(conv, colname, json_string_value(json_object_get(field, "type")),
				   json_string_value(json_object_get(field, "mode")), field, pg_type, typmod);
}

void
bq_converter_init(BqConverter *conv, const char *colname, const char *bq_type,
				  const char *mode, Oid pg_type, int32 typmod)
{
	init_converter(conv, colname, bq_type, mode, NULL, pg_type, typmod);
}

/* digits at *p into *val (at most 18: no overflow), false when there are none */
static bool
read_digits(const char **p, int64 *val)
{
	int			n = 0;

	*val = 0;
	while (**p >= '0' && **p <= '9' && n < 18)
	{
		*val = *val * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n > 0 && !(**p >= '0' && **p <= '9');
}

/*
 * BigQuery's canonical INTERVAL text, '[-]Y-M [-]D [-]H:M:S[.F]' (the sign
 * of Y-M covers the months too, and the time part has its own), into an
 * interval built field by field: no parsing that depends on IntervalStyle.
 */
static Datum
interval_from_bq(const char *str)
{
	const char *p = str;
	int64		y,
				mo,
				d,
				h,
				mi,
				sec,
				frac = 0;
	bool		neg_ym,
				neg_d,
				neg_t;
	int64		months,
				micros,
				part;
	Interval   *result;

	if ((neg_ym = (*p == '-')))
		p++;
	if (!read_digits(&p, &y) || *p++ != '-' || !read_digits(&p, &mo) || *p++ != ' ')
		goto bad;
	if ((neg_d = (*p == '-')))
		p++;
	if (!read_digits(&p, &d) || *p++ != ' ')
		goto bad;
	if ((neg_t = (*p == '-')))
		p++;
	if (!read_digits(&p, &h) || *p++ != ':' || !read_digits(&p, &mi) || *p++ != ':' ||
		!read_digits(&p, &sec))
		goto bad;
	if (*p == '.')
	{
		int			n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
		{
			if (n < 6)
				frac = frac * 10 + (*p - '0');
			else if (*p != '0')
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("INTERVAL cell \"%s\" is finer than a microsecond", str)));
		}
		if (n == 0)
			goto bad;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (*p != '\0')
		goto bad;
	/* BigQuery's limits (10,000 years) are far inside these */
	if (pg_mul_s64_overflow(y, MONTHS_PER_YEAR, &months) ||
		pg_add_s64_overflow(months, mo, &months) || months > PG_INT32_MAX ||
		d > PG_INT32_MAX ||
		pg_mul_s64_overflow(h, SECS_PER_HOUR, &micros) ||
		pg_mul_s64_overflow(mi, SECS_PER_MINUTE, &part) ||
		pg_add_s64_overflow(micros, part, &micros) ||
		pg_add_s64_overflow(micros, sec, &micros) ||
		pg_mul_s64_overflow(micros, USECS_PER_SEC, &micros) ||
		pg_add_s64_overflow(micros, frac, &micros))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("INTERVAL cell \"%s\" out of range", str)));
	result = palloc(sizeof(Interval));
	result->month = (int32) (neg_ym ? -months : months);
	result->day = (int32) (neg_d ? -d : d);
	result->time = neg_t ? -micros : micros;
	return IntervalPGetDatum(result);

bad:
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid INTERVAL cell \"%s\"", str),
			 errdetail("BigQuery's canonical form is [-]Y-M [-]D [-]H:M:S[.F].")));
	pg_unreachable();
}

/*
 * A RANGE cell, '[start, end)' with UNBOUNDED for an open end (half-open,
 * as all BigQuery ranges are), into the column's range type; each bound
 * converts as a cell of the element type would.
 */
static Datum
range_from_bq(BqConverter *conv, const char *cell, StringInfo scratch)
{
	char	   *str = pstrdup(cell);	/* the bounds' conversions reuse scratch */
	size_t		len = strlen(str);
	char	   *comma = strstr(str, ", ");
	RangeBound	bounds[2];
	char	   *parts[2];

	if (len < 6 || str[0] != '[' || str[len - 1] != ')' || comma == NULL ||
		strstr(comma + 1, ", ") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid RANGE cell \"%s\"", str),
				 errdetail("BigQuery's form is [start, end).")));
	str[len - 1] = '\0';
	*comma = '\0';
	parts[0] = str + 1;
	parts[1] = comma + 2;
	for (int i = 0; i < 2; i++)
	{
		bounds[i].lower = (i == 0);
		bounds[i].inclusive = (i == 0);
		bounds[i].infinite = strcmp(parts[i], "UNBOUNDED") == 0;
		bounds[i].val = (Datum) 0;
		if (!bounds[i].infinite)
		{
			JsToken	tok = {JT_STRING, parts[i], strlen(parts[i]), false};
			bool		isnull;

			bounds[i].val = bq_convert_cell(conv->bound, &tok, scratch, &isnull);
		}
		else
			bounds[i].inclusive = false;
	}
	return RangeTypePGetDatum(make_range(conv->range_type, &bounds[0], &bounds[1], false));
}

static void
convert_error_callback(void *arg)
{
	BqConverter *conv = (BqConverter *) arg;

	errcontext("converting column \"%s\" from BigQuery %s to PostgreSQL %s",
			   conv->colname, conv->bq_type, format_type_with_typemod(conv->pg_type, conv->typmod));
}

static void
push_context(ErrorContextCallback *errcb, BqConverter *conv)
{
	errcb->callback = convert_error_callback;
	errcb->arg = conv;
	errcb->previous = error_context_stack;
	error_context_stack = errcb;
}

Datum
bq_convert_cell(BqConverter *conv, const JsToken *tok, StringInfo scratch, bool *isnull)
{
	ErrorContextCallback errcb;
	Datum		result;

	*isnull = false;
	if (tok->type == JT_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}

	errcb.callback = convert_error_callback;
	errcb.arg = conv;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (tok->type != JT_STRING || conv->cell == BQC_REPEATED ||
		conv->cell == BQC_RECORD || conv->cell == BQC_JSON)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent a cell that is not a string or null")));

	switch (conv->cell)
	{
		case BQC_INTERVAL:
			result = interval_from_bq(js_string_value(tok, scratch));
			break;
		case BQC_RANGE:
			result = range_from_bq(conv, js_string_value(tok, scratch), scratch);
			break;
		case BQC_TIMESTAMP_MICROS:
			{
				char	   *end;
				int64		us;

				errno = 0;
				us = strtoi64(js_string_value(tok, scratch), &end, 10);
				if (*end != '\0' || scratch->len == 0 || errno == ERANGE)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("invalid TIMESTAMP cell \"%s\"", scratch->data),
							 errhint("bqstream_fdw asks for int64 microseconds (formatOptions.useInt64Timestamp).")));
				/* Unix epoch to PostgreSQL's 2000-01-01, exactly */
				if (pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
										&us) ||
					!IS_VALID_TIMESTAMP(us))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("TIMESTAMP cell \"%s\" out of range", scratch->data)));
				result = Int64GetDatum(us);
				break;
			}
		case BQC_BYTES:
			{
				bytea	   *b = palloc(VARHDRSZ + tok->len / 4 * 3 + 4);
				int			n = js_base64_decode(tok->start, tok->len, VARDATA(b));

				if (tok->escaped || n < 0)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
							 errmsg("invalid BYTES cell: not base64")));
				SET_VARSIZE(b, VARHDRSZ + n);
				result = PointerGetDatum(b);
				break;
			}
		default:
			{
				const char *str = tok->start;
				size_t		len = tok->len;

				/* BigQuery speaks UTF-8 (checked by the scanner) */
				if (tok->escaped || GetDatabaseEncoding() != PG_UTF8)
				{
					str = js_string_value(tok, scratch);
					len = scratch->len;
					if (GetDatabaseEncoding() != PG_UTF8)
					{
						str = pg_any_to_server(str, len, PG_UTF8);
						len = strlen(str);
					}
				}
				/* text needs no parsing: the bytes are the value */
				if (conv->pg_type == TEXTOID)
					result = PointerGetDatum(cstring_to_text_with_len(str, len));
				else if (str == tok->start)
				{
					/* input functions want a NUL-terminated string */
					resetStringInfo(scratch);
					appendBinaryStringInfo(scratch, str, len);
					result = InputFunctionCall(&conv->input, scratch->data,
											   conv->ioparam, conv->typmod);
				}
				else
					result = InputFunctionCall(&conv->input, (char *) str,
											   conv->ioparam, conv->typmod);
				break;
			}
	}
	error_context_stack = errcb.previous;
	return result;
}

static void
scan_error(JsonScan *s, const char *colname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("could not read the value of column \"%s\"", colname),
			 errdetail("%s", s->error ? s->error : "The JSON ended early.")));
}

/*
 * Read the "v" of the {"v": ...} object the scanner has just entered, with
 * "each" called on it; other members are skipped.  False when there is no
 * "v".
 */
typedef void (*CellCallback) (JsonScan *s, const JsToken *tok, void *arg);

static bool
read_v(JsonScan *s, const char *colname, CellCallback each, void *arg)
{
	JsToken	key;
	JsToken	tok;
	bool		first_key = true;
	bool		seen = false;

	while (js_object_next(s, &key, &first_key))
	{
		if (!js_string_is(&key, "v") || seen)
		{
			js_skip(s, NULL, NULL);
			continue;
		}
		seen = true;
		tok.type = js_value(s, &tok);
		if (tok.type == JT_ERROR)
			scan_error(s, colname);
		each(s, &tok, arg);
	}
	if (s->error)
		scan_error(s, colname);
	return seen;
}

/*
 * Iterate the cells of the array the scanner has just entered ([{"v": ...},
 * ...]: a REPEATED value, or a RECORD's "f"), calling "each" on every one.
 */
static int
read_cells(JsonScan *s, const char *colname, CellCallback each, void *arg)
{
	bool		first = true;
	int			n = 0;
	JsToken	tok;

	while (js_array_next(s, &first))
	{
		if (js_value(s, &tok) != JT_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent an element that is not a {\"v\": ...} cell for column \"%s\"",
							colname)));
		if (!read_v(s, colname, each, arg))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent a cell without \"v\" for column \"%s\"", colname)));
		n++;
	}
	if (s->error)
		scan_error(s, colname);
	return n;
}

/*
 * Iterate a RECORD value ({"f": [{"v": ...}, ...]}, just entered): the
 * cells of its "f", in field order.
 */
static int
read_record(JsonScan *s, const char *colname, CellCallback each, void *arg)
{
	JsToken	key;
	JsToken	tok;
	bool		first_key = true;
	int			n = -1;

	while (js_object_next(s, &key, &first_key))
	{
		if (!js_string_is(&key, "f") || n >= 0)
		{
			js_skip(s, NULL, NULL);
			continue;
		}
		if (js_value(s, &tok) != JT_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent a RECORD without its \"f\" array for column \"%s\"",
							colname)));
		n = read_cells(s, colname, each, arg);
	}
	if (s->error)
		scan_error(s, colname);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent a RECORD without its \"f\" array for column \"%s\"",
						colname)));
	return n;
}

/* ---- REPEATED into an array ---- */

typedef struct ArrayBuild
{
	BqConverter *conv;
	StringInfo	scratch;
	int			n;
	int			room;
	Datum	   *values;
	bool	   *nulls;
} ArrayBuild;

static void
array_element(JsonScan *s, const JsToken *tok, void *arg)
{
	ArrayBuild *b = (ArrayBuild *) arg;

	if (b->n == b->room)
	{
		b->room *= 2;
		b->values = repalloc(b->values, sizeof(Datum) * b->room);
		b->nulls = repalloc(b->nulls, sizeof(bool) * b->room);
	}
	if (tok->type == JT_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent a nested array element for column \"%s\"",
						b->conv->colname)));
	b->values[b->n] = bq_convert_value(b->conv->element, s, tok, b->scratch, &b->nulls[b->n]);
	b->n++;
}

/*
 * A REPEATED cell, whose array the scanner has just entered: its elements
 * ({"v": ...} each; BigQuery arrays hold no NULLs) into a one-dimensional
 * PostgreSQL array.
 */
Datum
bq_convert_repeated(BqConverter *conv, JsonScan *s, StringInfo scratch)
{
	ArrayBuild	b;
	int			dims[1];
	int			lbs[1] = {1};

	if (conv->cell == BQC_JSON)
	{
		JsToken	tok = {JT_ARRAY, NULL, 0, false};
		bool		isnull;

		return bq_convert_value(conv, s, &tok, scratch, &isnull);
	}
	b.conv = conv;
	b.scratch = scratch;
	b.n = 0;
	b.room = 8;
	b.values = palloc(sizeof(Datum) * b.room);
	b.nulls = palloc(sizeof(bool) * b.room);
	read_cells(s, conv->colname, array_element, &b);
	dims[0] = b.n;
	return PointerGetDatum(construct_md_array(b.values, b.nulls, b.n > 0 ? 1 : 0, dims, lbs,
											  conv->element->pg_type, conv->elmlen,
											  conv->elmbyval, conv->elmalign));
}

/* ---- RECORD into a composite ---- */

typedef struct RecordBuild
{
	BqConverter *conv;
	StringInfo	scratch;
	int			n;
	Datum	   *values;
	bool	   *nulls;
} RecordBuild;

static void
record_field(JsonScan *s, const JsToken *tok, void *arg)
{
	RecordBuild *b = (RecordBuild *) arg;
	int			att;

	if (b->n >= b->conv->nfields)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent more fields than the schema has for RECORD column \"%s\"",
						b->conv->colname)));
	att = b->conv->attnums[b->n];
	b->values[att] = bq_convert_value(&b->conv->fields[b->n], s, tok, b->scratch,
									  &b->nulls[att]);
	b->n++;
}

static Datum
record_from_bq(BqConverter *conv, JsonScan *s, StringInfo scratch)
{
	RecordBuild b;
	int			natts = conv->tupdesc->natts;

	b.conv = conv;
	b.scratch = scratch;
	b.n = 0;
	b.values = palloc0(sizeof(Datum) * natts);
	b.nulls = palloc(sizeof(bool) * natts);
	memset(b.nulls, true, sizeof(bool) * natts);
	read_record(s, conv->colname, record_field, &b);
	if (b.n != conv->nfields)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent %d fields where the schema has %d for RECORD column \"%s\"",
						b.n, conv->nfields, conv->colname)));
	return HeapTupleGetDatum(heap_form_tuple(conv->tupdesc, b.values, b.nulls));
}

/* ---- any value as JSON ---- */

static void render_json(BqConverter *shape, JsonScan *s, const JsToken *tok,
						StringInfo out, bool element);

typedef struct JsonBuild
{
	BqConverter *shape;
	StringInfo	out;
	int			n;
} JsonBuild;

static void
json_element(JsonScan *s, const JsToken *tok, void *arg)
{
	JsonBuild  *b = (JsonBuild *) arg;

	if (b->n++ > 0)
		appendStringInfoChar(b->out, ',');
	render_json(b->shape, s, tok, b->out, true);
}

static void
json_field(JsonScan *s, const JsToken *tok, void *arg)
{
	JsonBuild  *b = (JsonBuild *) arg;

	if (b->n >= b->shape->nfields)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent more fields than the schema has for RECORD column \"%s\"",
						b->shape->colname)));
	if (b->n > 0)
		appendStringInfoChar(b->out, ',');
	escape_json(b->out, b->shape->field_names[b->n]);
	appendStringInfoChar(b->out, ':');
	render_json(&b->shape->fields[b->n], s, tok, b->out, false);
	b->n++;
}

/* a JSON number as RFC 8259 writes them (BigQuery's numeric cells are) */
static bool
is_json_number(const char *p, size_t len)
{
	const char *end = p + len;

	if (p < end && *p == '-')
		p++;
	if (p == end || !isdigit((unsigned char) *p))
		return false;
	if (*p == '0')
		p++;
	else
		while (p < end && isdigit((unsigned char) *p))
			p++;
	if (p < end && *p == '.')
	{
		if (++p == end || !isdigit((unsigned char) *p))
			return false;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !isdigit((unsigned char) *p))
			return false;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	return p == end;
}

/* int64 microseconds since the Unix epoch as RFC 3339 UTC, as BigQuery's TO_JSON writes it */
static void
append_timestamp_json(StringInfo out, const JsToken *tok, const char *colname)
{
	char		buf[32];
	char	   *end;
	int64		us;
	struct pg_tm tm;
	fsec_t		fsec;
	size_t		n = Min(tok->len, sizeof(buf) - 1);

	memcpy(buf, tok->start, n);
	buf[n] = '\0';
	errno = 0;
	us = strtoi64(buf, &end, 10);
	if (tok->escaped || n == 0 || n != tok->len || *end != '\0' || errno == ERANGE ||
		pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
							&us) ||
		!IS_VALID_TIMESTAMP(us) ||
		timestamp2tm(us, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid TIMESTAMP cell \"%s\" in column \"%s\"", buf, colname)));
	appendStringInfo(out, "\"%04d-%02d-%02dT%02d:%02d:%02d",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (fsec != 0)
	{
		int			len;

		snprintf(buf, sizeof(buf), ".%06d", (int) fsec);
		for (len = strlen(buf); buf[len - 1] == '0'; len--)
			;
		appendBinaryStringInfo(out, buf, len);
	}
	appendStringInfoString(out, "Z\"");
}

/*
 * One BigQuery value as JSON: a RECORD as an object keyed by field names,
 * REPEATED as an array, INT64, FLOAT64, NUMERIC and BIGNUMERIC as numbers
 * (jsonb keeps every digit), BOOL as true/false, JSON as itself, TIMESTAMP
 * as RFC 3339 text in UTC, everything else as the string BigQuery sent.
 */
static void
render_json(BqConverter *shape, JsonScan *s, const JsToken *tok, StringInfo out,
			bool element)
{
	const char *type = shape->bq_type;

	if (shape->repeated && !element)
	{
		JsonBuild	b = {shape, out, 0};

		if (tok->type == JT_NULL)
		{
			appendStringInfoString(out, "[]");
			return;
		}
		if (tok->type != JT_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent no array for REPEATED column \"%s\"", shape->colname)));
		appendStringInfoChar(out, '[');
		read_cells(s, shape->colname, json_element, &b);
		appendStringInfoChar(out, ']');
		return;
	}
	if (tok->type == JT_NULL)
	{
		appendStringInfoString(out, "null");
		return;
	}
	if (is_record(type))
	{
		JsonBuild	b = {shape, out, 0};

		if (tok->type != JT_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent no {\"f\": ...} object for RECORD column \"%s\"",
							shape->colname)));
		appendStringInfoChar(out, '{');
		read_record(s, shape->colname, json_field, &b);
		if (b.n != shape->nfields)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent %d fields where the schema has %d for RECORD column \"%s\"",
							b.n, shape->nfields, shape->colname)));
		appendStringInfoChar(out, '}');
		return;
	}
	if (tok->type != JT_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery sent a cell that is not a string or null for column \"%s\"",
						shape->colname)));
	if (type_is(type, "INTEGER") || type_is(type, "INT64") || type_is(type, "NUMERIC") ||
		type_is(type, "BIGNUMERIC") || type_is(type, "FLOAT") || type_is(type, "FLOAT64"))
	{
		if (!tok->escaped && is_json_number(tok->start, tok->len))
			appendBinaryStringInfo(out, tok->start, tok->len);
		else if ((type_is(type, "FLOAT") || type_is(type, "FLOAT64")) &&
				 (js_string_is(tok, "NaN") || js_string_is(tok, "Infinity") ||
				  js_string_is(tok, "-Infinity")))
			appendStringInfo(out, "\"%.*s\"", (int) tok->len, tok->start);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid %s cell in column \"%s\"", type, shape->colname)));
	}
	else if (type_is(type, "BOOLEAN") || type_is(type, "BOOL"))
	{
		if (js_string_is(tok, "true") || js_string_is(tok, "false"))
			appendBinaryStringInfo(out, tok->start, tok->len);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid BOOLEAN cell in column \"%s\"", shape->colname)));
	}
	else if (type_is(type, "TIMESTAMP"))
		append_timestamp_json(out, tok, shape->colname);
	else if (type_is(type, "JSON"))
	{
		StringInfoData text;
		JsonScan	check;

		/* exactly one JSON value, or a key could be smuggled into the object */
		initStringInfo(&text);
		js_string_value(tok, &text);
		js_init(&check, text.data, text.len);
		if (!js_skip(&check, NULL, NULL) || !js_at_end(&check))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid JSON cell in column \"%s\"", shape->colname)));
		appendBinaryStringInfo(out, text.data, text.len);
		pfree(text.data);
	}
	else
	{
		/* the scanner checked the string: its escaped text is valid JSON as it is */
		appendStringInfoChar(out, '"');
		appendBinaryStringInfo(out, tok->start, tok->len);
		appendStringInfoChar(out, '"');
	}
}

/* convert_error_callback's context while a cell converts */
static void push_context(ErrorContextCallback *errcb, BqConverter *conv);

Datum
bq_convert_value(BqConverter *conv, JsonScan *s, const JsToken *tok, StringInfo scratch,
				 bool *isnull)
{
	*isnull = false;
	if (tok->type == JT_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	switch (conv->cell)
	{
		case BQC_JSON:
			{
				StringInfoData out;
				char	   *text;
				ErrorContextCallback errcb;
				Datum		result;

				initStringInfo(&out);
				render_json(conv, s, tok, &out, false);
				text = out.data;
				if (GetDatabaseEncoding() != PG_UTF8)
					text = pg_any_to_server(text, out.len, PG_UTF8);
				push_context(&errcb, conv);
				if (conv->pg_type == TEXTOID)
					result = PointerGetDatum(cstring_to_text(text));
				else
					result = InputFunctionCall(&conv->input, text, conv->ioparam, conv->typmod);
				error_context_stack = errcb.previous;
				return result;
			}
		case BQC_RECORD:
			if (tok->type != JT_OBJECT)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery sent no {\"f\": ...} object for RECORD column \"%s\"",
								conv->colname)));
			return record_from_bq(conv, s, scratch);
		case BQC_REPEATED:
			if (tok->type != JT_ARRAY)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery sent no array for REPEATED column \"%s\"",
								conv->colname)));
			return bq_convert_repeated(conv, s, scratch);
		default:
			if (tok->type == JT_OBJECT || tok->type == JT_ARRAY)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery sent a nested cell for column \"%s\"", conv->colname)));
			return bq_convert_cell(conv, tok, scratch, isnull);
	}
}

/*
 * DATE and TIMESTAMP values as BigQuery reads them in parameters and in
 * insertAll rows: ISO, in UTC for timestamps, whatever DateStyle says.
 * BigQuery's range is the years 1 to 9999.
 */
char *
bq_date_text(DateADT d)
{
	int			y,
				m,
				dd;

	if (DATE_NOT_FINITE(d))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("infinite dates cannot be sent to BigQuery")));
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	if (y < 1 || y > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of BigQuery's range (years 1 to 9999)")));
	return psprintf("%04d-%02d-%02d", y, m, dd);
}

char *
bq_timestamp_text(Timestamp ts, bool utc_offset)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of BigQuery's range (years 1 to 9999)")));
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d%s",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					tm.tm_sec, (int) fsec, utc_offset ? "+00:00" : "");
}
