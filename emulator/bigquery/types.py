"""BigQuery value types: names, input coercion, internal storage form, output encoding.

Owns everything about a single BigQuery value:

* type names (GoogleSQL ``INT64`` vs the legacy ``INTEGER`` the REST API reports);
* the *internal* representation used in SQLite and inside query evaluation
  (TIMESTAMP = int microseconds UTC, NUMERIC = canonical decimal text, BOOL = 0/1,
  DATE/DATETIME/TIME = fixed-width sortable text, BYTES = blob, REPEATED = JSON text,
  FLOAT64 = REAL except NaN, which SQLite cannot store and is kept as the text 'NaN',
  GEOGRAPHY = normalised WKT, INTERVAL = canonical text, RANGE<T> = JSON [start, end],
  STRUCT<…> = JSON list of its fields' values);
* composite type names: ``STRUCT<a INT64, b ARRAY<STRING>>`` and ``RANGE<DATE>``,
  and their REST schema fields (nested ``fields``, ``rangeElementType``);
* coercion of insertAll JSON values and query parameter strings into that form,
  with BigQuery's error texts;
* the REST cell encoding of query results and tabledata.list (§2.6 of the notes);
* BigQuery's logical byte sizes, used for totalBytesProcessed and numBytes.
"""

import base64
import datetime
import decimal
import json
import math
import re

# ---------------------------------------------------------------- type names

# GoogleSQL name -> name the REST API reports in schemas (the legacy spelling).
LEGACY = {
    'INT64': 'INTEGER', 'FLOAT64': 'FLOAT', 'BOOL': 'BOOLEAN', 'STRING': 'STRING',
    'BYTES': 'BYTES', 'NUMERIC': 'NUMERIC', 'BIGNUMERIC': 'BIGNUMERIC',
    'TIMESTAMP': 'TIMESTAMP', 'DATE': 'DATE', 'TIME': 'TIME', 'DATETIME': 'DATETIME',
    'JSON': 'JSON', 'GEOGRAPHY': 'GEOGRAPHY', 'INTERVAL': 'INTERVAL',
}

# Every spelling accepted in a table schema or a query parameter type -> GoogleSQL name.
SCHEMA_ALIASES = {
    'INT64': 'INT64', 'INTEGER': 'INT64', 'FLOAT64': 'FLOAT64', 'FLOAT': 'FLOAT64',
    'BOOL': 'BOOL', 'BOOLEAN': 'BOOL', 'STRING': 'STRING', 'BYTES': 'BYTES',
    'NUMERIC': 'NUMERIC', 'DECIMAL': 'NUMERIC', 'BIGNUMERIC': 'BIGNUMERIC',
    'BIGDECIMAL': 'BIGNUMERIC', 'TIMESTAMP': 'TIMESTAMP', 'DATE': 'DATE', 'TIME': 'TIME',
    'DATETIME': 'DATETIME', 'JSON': 'JSON', 'GEOGRAPHY': 'GEOGRAPHY', 'INTERVAL': 'INTERVAL',
}

# The element types a RANGE may have.
RANGE_ELEMENT_TYPES = ('DATE', 'DATETIME', 'TIMESTAMP')

# GoogleSQL type names accepted in CAST and in DDL column definitions.
SQL_TYPE_NAMES = {
    'INT64': 'INT64', 'INT': 'INT64', 'INTEGER': 'INT64', 'BIGINT': 'INT64',
    'SMALLINT': 'INT64', 'TINYINT': 'INT64', 'BYTEINT': 'INT64',
    'FLOAT64': 'FLOAT64', 'BOOL': 'BOOL', 'BOOLEAN': 'BOOL', 'STRING': 'STRING',
    'BYTES': 'BYTES', 'NUMERIC': 'NUMERIC', 'DECIMAL': 'NUMERIC',
    'BIGNUMERIC': 'BIGNUMERIC', 'BIGDECIMAL': 'BIGNUMERIC', 'TIMESTAMP': 'TIMESTAMP',
    'DATE': 'DATE', 'TIME': 'TIME', 'DATETIME': 'DATETIME', 'JSON': 'JSON',
}

NUMERIC_TYPES = ('INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC')

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class ValueError_(Exception):
    """A value that cannot be converted; message is BigQuery's wording."""


def is_array(t):
    return t.startswith('ARRAY<')


def array_elem(t):
    return t[6:-1]


def array_of(t):
    return 'ARRAY<%s>' % t


def is_struct(t):
    return t.startswith('STRUCT<')


def is_range(t):
    return t.startswith('RANGE<')


def range_elem(t):
    return t[6:-1]


def struct_of(fields):
    """[(name, type)] -> 'STRUCT<name type, …>'."""
    return 'STRUCT<%s>' % ', '.join('%s %s' % (n, t) for n, t in fields)


_STRUCT_CACHE = {}


def _parse_struct(t):
    """'STRUCT<a INT64 NOT NULL, b ARRAY<STRUCT<x STRING>>>' -> ([(name, type)], {required})."""
    parsed = _STRUCT_CACHE.get(t)
    if parsed is not None:
        return parsed
    body = t[7:-1]
    fields = []
    required = set()
    depth = 0
    start = 0
    for i, ch in enumerate(body + ','):
        if ch == '<':
            depth += 1
        elif ch == '>':
            depth -= 1
        elif ch == ',' and depth == 0:
            name, _, typ = body[start:i].strip().partition(' ')
            typ = typ.strip()
            if typ.endswith(' NOT NULL'):
                typ = typ[:-9]
                required.add(name)
            fields.append((name, typ))
            start = i + 1
    parsed = _STRUCT_CACHE[t] = (fields, required)
    return parsed


def struct_fields(t):
    """'STRUCT<a INT64, b ARRAY<STRUCT<x STRING>>>' -> [('a', 'INT64'), ('b', 'ARRAY<…>')]."""
    return _parse_struct(t)[0]


def struct_required(t):
    """The names of a STRUCT's REQUIRED fields (written 'name TYPE NOT NULL')."""
    return _parse_struct(t)[1]


def schema_field(name, t, mode='NULLABLE', description=None):
    """A REST TableFieldSchema for a column of internal type t (ARRAY<T> is REPEATED):
    RECORD fields carry their nested ``fields``, RANGE its ``rangeElementType``."""
    if is_array(t):
        t = array_elem(t)
        mode = 'REPEATED'
    r = {'name': name}
    if is_struct(t):
        r['type'] = 'RECORD'
    elif is_range(t):
        r['type'] = 'RANGE'
    else:
        r['type'] = LEGACY[t]
    r['mode'] = mode
    if is_struct(t):
        required = struct_required(t)
        r['fields'] = [schema_field(n, ft, 'REQUIRED' if n in required else 'NULLABLE')
                       for n, ft in struct_fields(t)]
    if is_range(t):
        r['rangeElementType'] = {'type': range_elem(t)}
    if description:
        r['description'] = description
    return r


# ---------------------------------------------------------------- dates and times

_EPOCH_ORD = datetime.date(1970, 1, 1).toordinal()
_DAY_US = 86400 * 1000000
MIN_TS = (datetime.date(1, 1, 1).toordinal() - _EPOCH_ORD) * _DAY_US
MAX_TS = (datetime.date(9999, 12, 31).toordinal() - _EPOCH_ORD + 1) * _DAY_US - 1

_TS_RE = re.compile(
    r'\s*(\d{4})-(\d{1,2})-(\d{1,2})'
    r'(?:(?:[Tt]|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{0,12}))?)?)?'
    r'\s*(Z|z|[Uu][Tt][Cc]|[+-]\d{1,2}(?::?\d{2})?|[A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*)?\s*$')
_DATE_RE = re.compile(r'\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$')
_DATETIME_RE = re.compile(
    r'\s*(\d{4})-(\d{1,2})-(\d{1,2})'
    r'(?:(?:[Tt]|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{0,12}))?)?)?\s*$')
_TIME_RE = re.compile(r'\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{0,12}))?)?\s*$')
_NUMBER_RE = re.compile(r'\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$')


def days_from_civil(y, m, d):
    """Days since 1970-01-01; raises ValueError_ for an impossible date."""
    try:
        return datetime.date(y, m, d).toordinal() - _EPOCH_ORD
    except ValueError:
        raise ValueError_('invalid date') from None


def civil_from_days(n):
    return datetime.date.fromordinal(n + _EPOCH_ORD)


def date_text(n):
    return civil_from_days(n).isoformat()


def date_days(text):
    return int(text[0:4]), int(text[5:7]), int(text[8:10])


def date_to_days(text):
    return datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_ORD


def _frac_us(frac):
    """Fraction digits -> microseconds (BigQuery keeps microseconds, truncating finer digits)."""
    if not frac:
        return 0
    return int((frac + '000000')[:6])


def _tz_offset_us(tz, y, mo, d, h, mi, s):
    """Offset of a zone suffix in microseconds for the given local wall time."""
    if tz is None or tz in ('Z', 'z') or tz.upper() == 'UTC':
        return 0
    if tz[0] in '+-':
        body = tz[1:].replace(':', '')
        if len(body) <= 2:
            hh, mm = int(body), 0
        else:
            hh, mm = int(body[:-2]), int(body[-2:])
        if hh > 14 or mm > 59:
            raise ValueError_('bad offset')
        off = (hh * 3600 + mm * 60) * 1000000
        return off if tz[0] == '+' else -off
    zone = zone_info(tz)
    local = datetime.datetime(y, mo, d, h, mi, s)
    return int(zone.utcoffset(local).total_seconds()) * 1000000


_ZONES = {}


def zone_info(name):
    """A zoneinfo zone by IANA name (cached); ValueError_ for an unknown zone."""
    z = _ZONES.get(name)
    if z is None:
        try:
            import zoneinfo
            z = zoneinfo.ZoneInfo(name)
        except Exception:
            raise ValueError_('Invalid time zone: %s' % name) from None
        _ZONES[name] = z
    return z


def parse_timestamp_text(s):
    """Canonical/RFC 3339 timestamp text -> int microseconds UTC, or raise ValueError_."""
    m = _TS_RE.match(s)
    if not m:
        raise ValueError_('bad timestamp')
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    y, mo, d = int(y), int(mo), int(d)
    h = int(h) if h else 0
    mi = int(mi) if mi else 0
    sec = int(sec) if sec else 0
    if h > 23 or mi > 59 or sec > 60:
        raise ValueError_('bad time')
    if sec == 60:  # a leap second is read as the next second, as BigQuery does
        sec = 59
        extra = 1000000
    else:
        extra = 0
    days = days_from_civil(y, mo, d)
    us = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000 + _frac_us(frac) + extra
          - _tz_offset_us(tz, y, mo, d, h, mi, sec))
    if us < MIN_TS or us > MAX_TS:
        raise ValueError_('timestamp out of range')
    return us


def timestamp_to_text(us, sep=' ', suffix='+00'):
    """int micros -> 'YYYY-MM-DD HH:MM:SS[.ffffff]+00' (CAST(ts AS STRING) form)."""
    days, rem = divmod(us, _DAY_US)
    secs, frac = divmod(rem, 1000000)
    h, r = divmod(secs, 3600)
    mi, s = divmod(r, 60)
    text = '%s%s%02d:%02d:%02d' % (date_text(days), sep, h, mi, s)
    if frac:
        text += '.%06d' % frac
    return text + suffix


def timestamp_parts(us):
    """int micros -> naive UTC datetime.datetime."""
    days, rem = divmod(us, _DAY_US)
    return datetime.datetime.combine(civil_from_days(days), datetime.time()) + \
        datetime.timedelta(microseconds=rem)


def datetime_to_micros_utc(dt):
    """naive datetime (UTC wall clock) -> int micros."""
    days = dt.toordinal() - _EPOCH_ORD
    return ((days * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second) * 1000000
            + dt.microsecond)


def parse_date_text(s):
    m = _DATE_RE.match(s)
    if not m:
        raise ValueError_('bad date')
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    days_from_civil(y, mo, d)
    return '%04d-%02d-%02d' % (y, mo, d)


def parse_datetime_text(s):
    """-> fixed-width 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    m = _DATETIME_RE.match(s)
    if not m:
        raise ValueError_('bad datetime')
    y, mo, d, h, mi, sec, frac = m.groups()
    y, mo, d = int(y), int(mo), int(d)
    days_from_civil(y, mo, d)
    h = int(h) if h else 0
    mi = int(mi) if mi else 0
    sec = int(sec) if sec else 0
    if h > 23 or mi > 59 or sec > 59:
        raise ValueError_('bad time')
    return '%04d-%02d-%02d %02d:%02d:%02d.%06d' % (y, mo, d, h, mi, sec, _frac_us(frac))


def parse_time_text(s):
    """-> fixed-width 'HH:MM:SS.ffffff'."""
    m = _TIME_RE.match(s)
    if not m:
        raise ValueError_('bad time')
    h, mi, sec, frac = m.groups()
    h, mi = int(h), int(mi)
    sec = int(sec) if sec else 0
    if h > 23 or mi > 59 or sec > 59:
        raise ValueError_('bad time')
    return '%02d:%02d:%02d.%06d' % (h, mi, sec, _frac_us(frac))


def datetime_from_micros(us):
    days, rem = divmod(us, _DAY_US)
    secs, frac = divmod(rem, 1000000)
    h, r = divmod(secs, 3600)
    mi, s = divmod(r, 60)
    return '%s %02d:%02d:%02d.%06d' % (date_text(days), h, mi, s, frac)


def datetime_to_micros(text):
    days = date_to_days(text)
    return ((days * 86400 + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19]))
            * 1000000 + int(text[20:26]))


def _trim_frac(text):
    """'...SS.ffffff' -> without the fraction when it is zero."""
    if text.endswith('.000000'):
        return text[:-7]
    return text


# ---------------------------------------------------------------- numbers

NUMERIC_CTX = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP,
                              Emin=-999999, Emax=999999, traps=[decimal.InvalidOperation])
_NUMERIC_Q = decimal.Decimal('1e-9')
_BIGNUMERIC_Q = decimal.Decimal('1e-38')
_NUMERIC_MAX = decimal.Decimal('99999999999999999999999999999.999999999')
# (2^255 - 1) / 10^38
_BIGNUMERIC_MAX = decimal.Decimal('578960446186580977117854925043439539266.'
                                  '34992332820282019728792003956564819967')


def decimal_text(d):
    """Canonical decimal text: no exponent, no trailing fraction zeros ('1.5', '-2', '0')."""
    if d == 0:
        return '0'
    t = format(d, 'f')
    if '.' in t:
        t = t.rstrip('0').rstrip('.')
    return t


def to_numeric(d, big=False):
    """Decimal -> canonical NUMERIC/BIGNUMERIC text, rounding half away from zero."""
    if not d.is_finite():
        raise ValueError_('not finite')
    q = d.quantize(_BIGNUMERIC_Q if big else _NUMERIC_Q, context=NUMERIC_CTX)
    if q.copy_abs() > (_BIGNUMERIC_MAX if big else _NUMERIC_MAX):
        raise ValueError_('out of range')
    return decimal_text(q)


def parse_decimal(v):
    if isinstance(v, bool):
        raise ValueError_('bool')
    if isinstance(v, int):
        return decimal.Decimal(v)
    if isinstance(v, float):
        return decimal.Decimal(repr(v))
    if isinstance(v, str):
        if not _NUMBER_RE.match(v):
            raise ValueError_('bad number')
        return decimal.Decimal(v.strip())
    raise ValueError_('bad type')


_NUMKEY_WIDTH = 80


def numeric_key(text):
    """Sortable text key for a NUMERIC/BIGNUMERIC canonical text (ordering in SQLite)."""
    if text is None:
        return None
    neg = text.startswith('-')
    if neg:
        text = text[1:]
    ip, _, fp = text.partition('.')
    ip = ip.rjust(_NUMKEY_WIDTH // 2, '0')
    fp = fp.ljust(_NUMKEY_WIDTH // 2, '0')
    digits = ip + fp
    if neg:
        if digits.strip('0') == '':
            return '1' + digits
        # nines' complement so larger magnitudes sort first
        return '0' + digits.translate(_NINES)
    return '1' + digits


_NINES = str.maketrans('0123456789', '9876543210')


def java_double(x):
    """Format a float as Java's Double.toString does (BigQuery's FLOAT64/TIMESTAMP cells)."""
    if x != x:
        return 'NaN'
    if x == math.inf:
        return 'Infinity'
    if x == -math.inf:
        return '-Infinity'
    if x == 0:
        return '-0.0' if math.copysign(1.0, x) < 0 else '0.0'
    r = repr(x)
    sign = ''
    if r[0] == '-':
        sign = '-'
        r = r[1:]
    mant, _, exp = r.partition('e')
    exp = int(exp) if exp else 0
    ip, _, fp = mant.partition('.')
    ds = ip + fp
    stripped = ds.lstrip('0')
    lead = len(ds) - len(stripped)
    ds = stripped.rstrip('0') or '0'
    e = len(ip) - lead - 1 + exp
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        if e >= 0:
            ipart = ds[:e + 1].ljust(e + 1, '0')
            frac = ds[e + 1:] or '0'
        else:
            ipart = '0'
            frac = '0' * (-e - 1) + ds
        return sign + ipart + '.' + frac
    return sign + ds[0] + '.' + (ds[1:] or '0') + 'E' + str(e)


def float_to_sql_string(x):
    """CAST(FLOAT64 AS STRING): shortest round-trip text, integral values without '.0'."""
    if x != x:
        return 'nan'
    if x == math.inf:
        return 'inf'
    if x == -math.inf:
        return '-inf'
    r = repr(float(x))
    if r.endswith('.0'):
        r = r[:-2]
    return r


def float_internal(x):
    """Python float -> storage value (NaN cannot live in SQLite as a REAL)."""
    return 'NaN' if x != x else x


def float_from_internal(v):
    if isinstance(v, str):
        return math.nan
    return float(v)


# ---------------------------------------------------------------- insertAll / parameter coercion

def _coerce_int64(v):
    if isinstance(v, bool):
        raise ValueError_('bool')
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if not v.is_integer():
            raise ValueError_('fraction')
        n = int(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            n = int(s, 10)
        except ValueError:
            try:
                d = decimal.Decimal(s)
            except decimal.InvalidOperation:
                raise ValueError_('bad') from None
            if not d.is_finite() or d != d.to_integral_value():
                raise ValueError_('fraction') from None
            n = int(d)
    else:
        raise ValueError_('type')
    if n < INT64_MIN or n > INT64_MAX:
        raise ValueError_('range')
    return n


_FLOAT_WORDS = {'nan': math.nan, '+nan': math.nan, '-nan': math.nan, 'inf': math.inf,
                '+inf': math.inf, '-inf': -math.inf, 'infinity': math.inf,
                '+infinity': math.inf, '-infinity': -math.inf}


def _coerce_float64(v):
    if isinstance(v, bool):
        raise ValueError_('bool')
    if isinstance(v, float):
        return float_internal(v)
    if isinstance(v, int):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        w = _FLOAT_WORDS.get(s.lower())
        if w is not None:
            return float_internal(w)
        if not _NUMBER_RE.match(s):
            raise ValueError_('bad')
        return float(s)
    raise ValueError_('type')


def _coerce_numeric(v):
    return to_numeric(parse_decimal(v))


def _coerce_bignumeric(v):
    return to_numeric(parse_decimal(v), big=True)


def _coerce_bool(v):
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int) and v in (0, 1):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ('true', '1'):
            return 1
        if s in ('false', '0'):
            return 0
    raise ValueError_('bad')


def _coerce_string(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        # insertAll accepts a JSON number for a STRING column and keeps its text
        return json.dumps(v)
    raise ValueError_('type')


def b64decode_any(s):
    """Standard or URL-safe base64, padded or not."""
    s = s.strip().replace('-', '+').replace('_', '/')
    s += '=' * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except Exception:
        raise ValueError_('bad base64') from None


def _coerce_bytes(v):
    if isinstance(v, str):
        return b64decode_any(v)
    raise ValueError_('type')


class Micros(int):
    """A TIMESTAMP given as microseconds since the epoch (the Storage Write API's
    int64 form), which insertAll's rule for numbers (seconds) must not rescale."""
    __slots__ = ()


def _coerce_timestamp(v):
    if v.__class__ is Micros:
        if v < MIN_TS or v > MAX_TS:
            raise ValueError_('range')
        return int(v)
    if isinstance(v, bool):
        raise ValueError_('bool')
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError_('bad')
        us = int(round(decimal.Decimal(repr(v) if isinstance(v, float) else v) * 1000000))
    elif isinstance(v, str):
        if _NUMBER_RE.match(v):
            us = int((decimal.Decimal(v.strip()) * 1000000).to_integral_value(
                rounding=decimal.ROUND_HALF_EVEN))
        else:
            return parse_timestamp_text(v)
    else:
        raise ValueError_('type')
    if us < MIN_TS or us > MAX_TS:
        raise ValueError_('range')
    return us


def _coerce_date(v):
    if isinstance(v, str):
        return parse_date_text(v)
    raise ValueError_('type')


def _coerce_datetime(v):
    if isinstance(v, str):
        return parse_datetime_text(v)
    raise ValueError_('type')


def _coerce_time(v):
    if isinstance(v, str):
        return parse_time_text(v)
    raise ValueError_('type')


def canonical_json(value):
    return json.dumps(value, separators=(',', ':'), ensure_ascii=False, allow_nan=False)


def _coerce_json(v):
    if isinstance(v, str):
        try:
            return canonical_json(json.loads(v))
        except (ValueError, TypeError):
            raise ValueError_('bad json') from None
    try:
        return canonical_json(v)
    except ValueError:
        raise ValueError_('bad json') from None


# ---------------------------------------------------------------- GEOGRAPHY (WKT)

_WKT_TOKEN_RE = re.compile(r'\s*(?:([A-Za-z]+)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|([(),]))')
_WKT_KINDS = ('POINT', 'LINESTRING', 'POLYGON', 'MULTIPOINT', 'MULTILINESTRING',
              'MULTIPOLYGON', 'GEOMETRYCOLLECTION')


def _wkt_number(text):
    x = float(text)
    if not math.isfinite(x):
        raise ValueError_('bad coordinate')
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def parse_wkt(text):
    """WKT -> BigQuery's text of it (upper-case kinds, shortest coordinates, one space
    between x and y, ', ' nowhere: 'LINESTRING(1 2, 3 4)'). Longitudes must lie in
    [-180, 180] and latitudes in [-90, 90], as on BigQuery's sphere."""
    toks = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _WKT_TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError_('bad WKT')
        toks.append(m.group(1).upper() if m.group(1) else m.group(2) if m.group(2)
                    else m.group(3))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else None

    def take(want=None):
        t = peek()
        if t is None or (want is not None and t != want):
            raise ValueError_('bad WKT')
        i[0] += 1
        return t

    def point():
        x = take()
        y = take()
        try:
            xs, ys = _wkt_number(x), _wkt_number(y)
        except (ValueError, ValueError_):
            raise ValueError_('bad WKT') from None
        if not (-180 <= float(x) <= 180 and -90 <= float(y) <= 90):
            raise ValueError_('coordinate out of range')
        return '%s %s' % (xs, ys)

    def listof(item):
        take('(')
        out = [item()]
        while peek() == ',':
            take(',')
            out.append(item())
        take(')')
        return '(' + ', '.join(out) + ')'

    def ring():
        return listof(point)

    def polygon():
        return listof(ring)

    def geometry():
        kind = take()
        if kind not in _WKT_KINDS:
            raise ValueError_('bad WKT')
        if peek() == 'EMPTY':
            take()
            return kind + ' EMPTY'
        if kind == 'POINT':
            return kind + listof(point)
        if kind in ('LINESTRING', 'MULTIPOINT'):
            if kind == 'MULTIPOINT' and i[0] + 1 < len(toks) and toks[i[0] + 1] == '(':
                return kind + listof(lambda: listof(point))
            return kind + listof(point)
        if kind in ('POLYGON', 'MULTILINESTRING'):
            return kind + listof(ring)
        if kind == 'MULTIPOLYGON':
            return kind + listof(polygon)
        return kind + listof(geometry)

    out = geometry()
    if peek() is not None:
        raise ValueError_('bad WKT')
    return out.replace(', ', ',').replace(',', ', ')


def _coerce_geography(v):
    if isinstance(v, str):
        return parse_wkt(v)
    raise ValueError_('type')


# ---------------------------------------------------------------- INTERVAL

_INTERVAL_RE = re.compile(r'\s*([-+]?)(\d+)-(\d+)\s+([-+]?\d+)\s+([-+]?)(\d+):(\d+):(\d+)'
                          r'(?:\.(\d{1,9}))?\s*$')
_ISO_INTERVAL_RE = re.compile(r'\s*P(?:([-+]?\d+)Y)?(?:([-+]?\d+)M)?(?:([-+]?\d+)W)?'
                              r'(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?'
                              r'(?:([-+]?\d+)(?:\.(\d{1,9}))?S)?)?\s*$')
MAX_INTERVAL_MONTHS = 10000 * 12
MAX_INTERVAL_DAYS = 3660000
MAX_INTERVAL_MICROS = 87840000 * 3600 * 1000000


def interval_text(months, days, micros):
    """(months, days, microseconds) -> BigQuery's canonical '[-]Y-M [-]D [-]H:M:S[.F]'."""
    if abs(months) > MAX_INTERVAL_MONTHS or abs(days) > MAX_INTERVAL_DAYS or \
            abs(micros) > MAX_INTERVAL_MICROS:
        raise ValueError_('interval out of range')
    y, m = divmod(abs(months), 12)
    secs, frac = divmod(abs(micros), 1000000)
    h, r = divmod(secs, 3600)
    mi, sec = divmod(r, 60)
    text = '%s%d-%d %d %s%d:%d:%d' % ('-' if months < 0 else '', y, m, days,
                                     '-' if micros < 0 else '', h, mi, sec)
    if frac:
        text += ('.%06d' % frac).rstrip('0')
    return text


def interval_parts(text):
    """Canonical interval text -> (months, days, microseconds)."""
    m = _INTERVAL_RE.match(text)
    if not m:
        raise ValueError_('bad interval')
    ys, y, mo, d, ts, h, mi, sec, frac = m.groups()
    months = int(y) * 12 + int(mo)
    micros = ((int(h) * 60 + int(mi)) * 60 + int(sec)) * 1000000 + _frac_us(frac)
    return (-months if ys == '-' else months, int(d), -micros if ts == '-' else micros)


def parse_interval_text(text):
    """Canonical or ISO 8601 ('P1Y2M3DT4H5M6.5S') interval text -> canonical text."""
    if _INTERVAL_RE.match(text):
        return interval_text(*interval_parts(text))
    m = _ISO_INTERVAL_RE.match(text)
    if not m or not any(g is not None for g in m.groups()):
        raise ValueError_('bad interval')
    y, mo, w, d, h, mi, sec, frac = [g for g in m.groups()]
    num = [int(x) if x else 0 for x in (y, mo, w, d, h, mi, sec)]
    us = _frac_us(frac)
    micros = ((num[4] * 60 + num[5]) * 60 + num[6]) * 1000000 + (-us if num[6] < 0 or (
        sec or '').startswith('-') else us)
    return interval_text(num[0] * 12 + num[1], num[2] * 7 + num[3], micros)


def _coerce_interval(v):
    if isinstance(v, str):
        return parse_interval_text(v)
    raise ValueError_('type')


# ---------------------------------------------------------------- RANGE

_RANGE_RE = re.compile(r'\s*\[\s*(.*?)\s*,\s*(.*?)\s*\)\s*$')


def range_coercer(t):
    """insertAll value of RANGE<T> ({"start": …, "end": …} or '[start, end)', NULL or
    UNBOUNDED for an open end) -> internal JSON '[start, end]'."""
    elem = range_elem(t)
    co = COERCE[elem]

    def bound(x):
        if x is None or (isinstance(x, str) and x.strip().upper() in ('UNBOUNDED', 'NULL')):
            return None
        return co(x)

    def coerce_range(v):
        if isinstance(v, dict):
            if set(v) - {'start', 'end'}:
                raise ValueError_('bad range')
            a, b = bound(v.get('start')), bound(v.get('end'))
        elif isinstance(v, str):
            m = _RANGE_RE.match(v)
            if not m:
                raise ValueError_('bad range')
            a, b = bound(m.group(1)), bound(m.group(2))
        else:
            raise ValueError_('type')
        if a is not None and b is not None and not a < b:
            raise ValueError_('range start must be less than its end')
        return json.dumps([a, b], separators=(',', ':'))
    return coerce_range


# ---------------------------------------------------------------- STRUCT

def struct_coercer(t):
    """insertAll JSON object for STRUCT<…> (field names matched as BigQuery does, case
    aside) -> internal JSON list of the fields' values in schema order."""
    fields = [(n, ft, coercer(array_elem(ft) if is_array(ft) else ft)) for n, ft in
              struct_fields(t)]
    lower = {n.lower(): i for i, (n, _, _) in enumerate(fields)}
    required = struct_required(t)

    def coerce_struct(v):
        if not isinstance(v, dict):
            raise ValueError_('not a record')
        out = [None] * len(fields)
        for key, x in v.items():
            i = lower.get(key.lower()) if isinstance(key, str) else None
            if i is None:
                raise FieldError(key, 'no such field: %s.' % key)
            name, ft, co = fields[i]
            try:
                if is_array(ft):
                    if x is None:
                        out[i] = []
                        continue
                    if not isinstance(x, list):
                        raise FieldError(name, 'Field %s is repeated; the value must be a '
                                         'JSON array.' % name)
                    vals = []
                    for e in x:
                        if e is None:
                            raise FieldError(name, 'Null value in array field: %s.' % name)
                        vals.append(json_form(array_elem(ft), co(e)))
                    out[i] = vals
                elif x is not None:
                    if isinstance(x, (list, dict)) and not (is_struct(ft) or is_range(ft)):
                        raise FieldError(name, 'Array specified for non-repeated field: %s.'
                                         % name if isinstance(x, list) else
                                         'This field: %s is not a record.' % name)
                    out[i] = json_form(ft, co(x))
            except FieldError as e:
                raise FieldError('%s.%s' % (name, e.location) if e.location != name else
                                 name, e.message) from None
            except ValueError_:
                raise FieldError(name, insert_error_message(
                    array_elem(ft) if is_array(ft) else ft, x)) from None
        for i, (n, ft, _) in enumerate(fields):
            if is_array(ft) and out[i] is None:
                out[i] = []
            if out[i] is None and n in required:
                raise FieldError(n, 'Missing required field: %s.' % n)
        return json.dumps(out, separators=(',', ':'), ensure_ascii=False)
    return coerce_struct


class FieldError(ValueError_):
    """A bad value inside a RECORD: where (dotted field path) and BigQuery's message."""

    def __init__(self, location, message):
        super().__init__(message)
        self.location = location
        self.message = message


_COERCERS = {}


def coercer(t):
    """The insertAll/parameter coercion for any non-array type, composite ones included."""
    f = COERCE.get(t)
    if f is not None:
        return f
    f = _COERCERS.get(t)
    if f is None:
        f = _COERCERS[t] = struct_coercer(t) if is_struct(t) else range_coercer(t)
    return f


def json_form(t, v):
    """internal value -> the JSON value kept for it inside a RECORD or an array."""
    if v is None:
        return None
    if t == 'BYTES':
        return base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode('ascii')
    if is_struct(t) or is_range(t):
        return json.loads(v) if isinstance(v, str) else v
    if is_array(t):
        return [json_form(array_elem(t), x) for x in array_from_storage(array_elem(t), v)]
    return v


def from_json_form(t, j):
    """The inverse of json_form."""
    if j is None:
        return None
    if t == 'BYTES':
        return base64.b64decode(j)
    if is_struct(t) or is_range(t):
        return json.dumps(j, separators=(',', ':'), ensure_ascii=False)
    if is_array(t):
        return array_to_storage(array_elem(t), [from_json_form(array_elem(t), x) for x in j])
    return j


COERCE = {
    'INT64': _coerce_int64, 'FLOAT64': _coerce_float64, 'NUMERIC': _coerce_numeric,
    'BIGNUMERIC': _coerce_bignumeric, 'BOOL': _coerce_bool, 'STRING': _coerce_string,
    'BYTES': _coerce_bytes, 'TIMESTAMP': _coerce_timestamp, 'DATE': _coerce_date,
    'DATETIME': _coerce_datetime, 'TIME': _coerce_time, 'JSON': _coerce_json,
    'GEOGRAPHY': _coerce_geography, 'INTERVAL': _coerce_interval,
}

# What insertAll says about a value it cannot convert (BigQuery's wording where known).
_INSERT_ERR = {
    'INT64': 'Cannot convert value to integer (bad value): %s',
    'FLOAT64': 'Cannot convert value to floating point (bad value): %s',
    'NUMERIC': 'Invalid NUMERIC value: %s',
    'BIGNUMERIC': 'Invalid BIGNUMERIC value: %s',
    'BOOL': 'Cannot convert value to boolean (bad value): %s',
    'STRING': 'Cannot convert value to string.',
    'BYTES': 'Could not decode base64 string to bytes.',
    'TIMESTAMP': "Could not parse '%s' as a timestamp. Required format is "
                 "YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or YYYY/MM/DD HH:MM[:SS[.SSSSSS]]",
    'DATE': "Could not parse '%s' as a date. Required format is YYYY-MM-DD",
    'DATETIME': "Could not parse '%s' as a datetime. Required format is "
                "YYYY-MM-DD HH:MM[:SS[.SSSSSS]]",
    'TIME': "Could not parse '%s' as a time. Required format is HH:MM[:SS[.SSSSSS]]",
    'JSON': 'Invalid JSON value: %s',
    'GEOGRAPHY': 'Invalid geography value: %s',
    'INTERVAL': 'Invalid INTERVAL value: %s',
    'RANGE': 'Invalid RANGE value: %s',
    'RECORD': 'This field: %s is not a record.',
}


def insert_error_message(bqtype, value):
    tmpl = _INSERT_ERR['RANGE' if is_range(bqtype) else 'RECORD' if is_struct(bqtype)
                       else bqtype]
    if '%s' not in tmpl:
        return tmpl
    shown = value if isinstance(value, str) else json.dumps(value)
    return tmpl % shown


def coerce_param(bqtype, text):
    """A query parameter's string value -> internal value, or raise ValueError_."""
    return coercer(bqtype)(text)


# ---------------------------------------------------------------- output encoding

def _enc_int(v):
    return str(v)


def _enc_float(v):
    if isinstance(v, str):
        return 'NaN'
    return java_double(float(v))


def _enc_numeric(v):
    if isinstance(v, str):
        return v
    return decimal_text(decimal.Decimal(v))


def _enc_bool(v):
    return 'true' if v else 'false'


def _enc_str(v):
    return v if isinstance(v, str) else str(v)


def _enc_bytes(v):
    if isinstance(v, str):
        v = v.encode('utf-8')
    return base64.b64encode(v).decode('ascii')


def _enc_ts_float(v):
    return java_double(v / 1000000.0)


def _enc_ts_int(v):
    return str(v)


def _enc_datetime(v):
    return _trim_frac(v[:10] + 'T' + v[11:])


def _enc_time(v):
    return _trim_frac(v)


_ENC = {
    'INT64': _enc_int, 'FLOAT64': _enc_float, 'NUMERIC': _enc_numeric,
    'BIGNUMERIC': _enc_numeric, 'BOOL': _enc_bool, 'STRING': _enc_str, 'BYTES': _enc_bytes,
    'DATE': _enc_str, 'DATETIME': _enc_datetime, 'TIME': _enc_time, 'JSON': _enc_str,
    'GEOGRAPHY': _enc_str, 'INTERVAL': _enc_str,
}


def _struct_encoder(t, int64_timestamp):
    """RECORD cell: {"f": [{"v": field cell}, …]}, each field encoded as a column would be."""
    fields = [(ft, cell_encoder(ft, int64_timestamp)) for _, ft in struct_fields(t)]

    def enc_struct(v):
        vals = json.loads(v) if isinstance(v, str) else v
        out = []
        for (ft, enc), x in zip(fields, vals):
            if x is None:
                out.append({'v': [] if is_array(ft) else None})
            else:
                out.append({'v': enc(from_json_form(ft, x))})
        return {'f': out}
    return enc_struct


def _range_encoder(t, int64_timestamp):
    """RANGE cell: '[start, end)', each end as its element's cell, UNBOUNDED when open."""
    enc = cell_encoder(range_elem(t), int64_timestamp)

    def enc_range(v):
        a, b = json.loads(v) if isinstance(v, str) else v
        return '[%s, %s)' % ('UNBOUNDED' if a is None else enc(a),
                             'UNBOUNDED' if b is None else enc(b))
    return enc_range


def cell_encoder(bqtype, int64_timestamp):
    """internal value -> REST cell value 'v' (a string, or a list of {'v':…} for arrays)."""
    if is_array(bqtype):
        elem = cell_encoder(array_elem(bqtype), int64_timestamp)

        def enc_array(v):
            return [{'v': None if x is None else elem(x)} for x in array_from_storage(
                array_elem(bqtype), v)]
        return enc_array
    if bqtype == 'TIMESTAMP':
        return _enc_ts_int if int64_timestamp else _enc_ts_float
    if is_struct(bqtype):
        return _struct_encoder(bqtype, int64_timestamp)
    if is_range(bqtype):
        return _range_encoder(bqtype, int64_timestamp)
    return _ENC[bqtype]


# ---------------------------------------------------------------- arrays (REPEATED)

def array_to_storage(elem_type, values):
    """list of internal values -> JSON text stored for a REPEATED column / ARRAY value."""
    if elem_type == 'BYTES' or is_struct(elem_type) or is_range(elem_type):
        values = [json_form(elem_type, x) for x in values]
    return json.dumps(values, separators=(',', ':'), ensure_ascii=False)


def array_from_storage(elem_type, text):
    if text is None:
        return []
    vals = json.loads(text) if isinstance(text, str) else text
    if elem_type == 'BYTES' or is_struct(elem_type) or is_range(elem_type):
        return [from_json_form(elem_type, x) for x in vals]
    return vals


# ---------------------------------------------------------------- logical sizes

_FIXED_SIZE = {'INT64': 8, 'FLOAT64': 8, 'TIMESTAMP': 8, 'DATETIME': 8, 'TIME': 8, 'DATE': 8,
               'BOOL': 1, 'NUMERIC': 16, 'BIGNUMERIC': 32, 'INTERVAL': 16}


def _size_geography(v):
    # 16 bytes plus 24 per vertex, as BigQuery's data size table says
    return 16 + 24 * len(re.findall(r'[-+0-9.eE]+ [-+0-9.eE]+', v))


def _size_text(v):
    return 2 + (len(v) if v.isascii() else len(v.encode('utf-8')))


def _size_bytes(v):
    return 2 + len(v)


def size_function(bqtype):
    """internal value (not None) -> BigQuery logical bytes (NULL is 0 and never passed)."""
    if is_array(bqtype):
        elem = size_function(array_elem(bqtype))
        et = array_elem(bqtype)

        def size_array(v):
            vals = [x for x in array_from_storage(et, v) if x is not None]
            return elem * len(vals) if isinstance(elem, int) else sum(elem(x) for x in vals)
        return size_array
    if is_struct(bqtype):
        subs = [(ft, size_function(ft)) for _, ft in struct_fields(bqtype)]

        def size_struct(v):
            vals = json.loads(v) if isinstance(v, str) else v
            total = 0
            for (ft, size), x in zip(subs, vals):
                if x is not None:
                    total += size if isinstance(size, int) else size(from_json_form(ft, x))
            return total
        return size_struct
    if is_range(bqtype):
        return 16 if range_elem(bqtype) == 'DATE' else 32
    if bqtype == 'GEOGRAPHY':
        return _size_geography
    fixed = _FIXED_SIZE.get(bqtype)
    if fixed is not None:
        return fixed
    if bqtype == 'BYTES':
        return _size_bytes
    return _size_text
