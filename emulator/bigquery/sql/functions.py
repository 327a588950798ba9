"""SQLite user functions that the translated SQL calls (registered on every connection).

Owns the GoogleSQL semantics SQLite lacks natively: exact NUMERIC/BIGNUMERIC arithmetic
and aggregates with Python ``decimal`` (never a float round trip), CAST/SAFE_CAST with
BigQuery's conversion rules and error texts, date/time functions on the internal
representation (TIMESTAMP = int microseconds UTC, DATE/DATETIME/TIME = fixed-width
text), ROUND half away from zero, Unicode LOWER/UPPER/TRIM, and the runtime errors
BigQuery raises (division by zero, bad casts).

A Python exception inside a SQLite function surfaces only as "user-defined function
raised exception", so the message is parked in ``last_error`` and the executor
re-raises it as a query error.
"""

import calendar
import datetime
import decimal
import math
import threading

from .. import types as T

_state = threading.local()

D = decimal.Decimal
_CTX = T.NUMERIC_CTX


class QueryRuntimeError(Exception):
    pass


def fail(msg):
    _state.error = msg
    raise QueryRuntimeError(msg)


def take_error():
    """The message of the last runtime error raised by a function in this thread."""
    msg = getattr(_state, 'error', None)
    _state.error = None
    return msg


def _udf(fn):
    """Wrap so that unexpected Python errors become a clean query error, not a crash."""
    def wrapper(*args):
        try:
            return fn(*args)
        except QueryRuntimeError:
            raise
        except T.ValueError_ as e:
            fail(str(e))
        except (ValueError, OverflowError, decimal.InvalidOperation, ArithmeticError) as e:
            fail('Error evaluating %s: %s' % (fn.__name__[3:].upper(), e))
    wrapper.__name__ = fn.__name__
    return wrapper


# ---------------------------------------------------------------- NUMERIC

def _dec(v):
    if v is None:
        return None
    if isinstance(v, str):
        return D(v)
    if isinstance(v, bytes):
        return D(v.decode())
    if isinstance(v, float):
        return D(repr(v))
    return D(v)


def _num_result(d, big):
    try:
        return T.to_numeric(d, big)
    except T.ValueError_:
        fail('%s overflow: %s' % ('BIGNUMERIC' if big else 'numeric', T.decimal_text(d)
                                   if d.is_finite() else d))


def fn_num_add(a, b, big):
    if a is None or b is None:
        return None
    return _num_result(_CTX.add(_dec(a), _dec(b)), big)


def fn_num_sub(a, b, big):
    if a is None or b is None:
        return None
    return _num_result(_CTX.subtract(_dec(a), _dec(b)), big)


def fn_num_mul(a, b, big):
    if a is None or b is None:
        return None
    return _num_result(_CTX.multiply(_dec(a), _dec(b)), big)


def fn_num_div(a, b, big, safe):
    if a is None or b is None:
        return None
    db = _dec(b)
    if db == 0:
        if safe:
            return None
        fail('division by zero: %s / %s' % (T.decimal_text(_dec(a)), T.decimal_text(db)))
    return _num_result(_CTX.divide(_dec(a), db), big)


def fn_num_neg(a):
    if a is None:
        return None
    return T.decimal_text(_dec(a).copy_negate())


def fn_num_from(v, big):
    """INT64/FLOAT64/text -> canonical NUMERIC text (implicit coercion and CAST)."""
    if v is None:
        return None
    if isinstance(v, float) or (isinstance(v, str) and v == 'NaN'):
        if isinstance(v, str) or not math.isfinite(v):
            fail('Illegal conversion of non-finite floating point number to numeric: %s'
                 % T.float_to_sql_string(T.float_from_internal(v)))
    return _num_result(_dec(v), big)


def fn_numkey(v):
    if v is None:
        return None
    if not isinstance(v, str):
        v = T.decimal_text(_dec(v))
    return T.numeric_key(v)


def fn_num_round(v, places, big):
    if v is None or places is None:
        return None
    d = _dec(v)
    q = D(1).scaleb(-int(places))
    try:
        r = d.quantize(q, rounding=decimal.ROUND_HALF_UP, context=_CTX)
    except decimal.InvalidOperation:
        return T.decimal_text(d)
    return _num_result(r, big)


def fn_num_trunc(v, places, big, mode):
    if v is None or places is None:
        return None
    d = _dec(v)
    q = D(1).scaleb(-int(places))
    rounding = {'trunc': decimal.ROUND_DOWN, 'floor': decimal.ROUND_FLOOR,
                'ceil': decimal.ROUND_CEILING}[mode]
    return _num_result(d.quantize(q, rounding=rounding, context=_CTX), big)


def fn_num_abs(v):
    if v is None:
        return None
    return T.decimal_text(_dec(v).copy_abs())


class NumSum:
    big = False

    def __init__(self):
        self.total = None

    def step(self, v):
        if v is None:
            return
        d = _dec(v)
        self.total = d if self.total is None else _CTX.add(self.total, d)

    def finalize(self):
        try:
            return None if self.total is None else T.to_numeric(self.total, self.big)
        except T.ValueError_:
            _state.error = 'numeric overflow in SUM'
            raise QueryRuntimeError('numeric overflow')


class BigNumSum(NumSum):
    big = True


class NumAvg:
    big = False

    def __init__(self):
        self.total = D(0)
        self.n = 0

    def step(self, v):
        if v is None:
            return
        self.total = _CTX.add(self.total, _dec(v))
        self.n += 1

    def finalize(self):
        if not self.n:
            return None
        return T.to_numeric(_CTX.divide(self.total, D(self.n)), self.big)


class BigNumAvg(NumAvg):
    big = True


class NumMin:
    sign = 1

    def __init__(self):
        self.best = None

    def step(self, v):
        if v is None:
            return
        d = _dec(v)
        if self.best is None or (d < self.best if self.sign > 0 else d > self.best):
            self.best = d

    def finalize(self):
        return None if self.best is None else T.decimal_text(self.best)


class NumMax(NumMin):
    sign = -1


# ---------------------------------------------------------------- FLOAT64 / INT64

def _f(v):
    return T.float_from_internal(v)


def fn_div(a, b, safe):
    """FLOAT64 result of '/' on INT64/FLOAT64 operands."""
    if a is None or b is None:
        return None
    fa, fb = _f(a), _f(b)
    if fb == 0:
        if safe:
            return None
        fail('division by zero: %s / %s' % (_num_text(a), _num_text(b)))
    return T.float_internal(fa / fb)


def _num_text(v):
    if isinstance(v, int):
        return str(v)
    return T.float_to_sql_string(_f(v))


def fn_ieee_divide(a, b):
    if a is None or b is None:
        return None
    fa, fb = _f(a), _f(b)
    if fb == 0:
        if fa == 0 or fa != fa:
            return 'NaN'
        return math.copysign(math.inf, fa) * math.copysign(1.0, fb)
    return T.float_internal(fa / fb)


def fn_int_div(a, b, op):
    if a is None or b is None:
        return None
    if b == 0:
        fail('division by zero: %s(%d, %d)' % (op, a, b))
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    if op == 'DIV':
        if q > T.INT64_MAX:
            fail('int64 overflow: DIV(%d, %d)' % (a, b))
        return q
    return a - b * q


def fn_int_arith(a, b, op):
    """INT64 + - * with BigQuery's overflow error."""
    if a is None or b is None:
        return None
    r = a + b if op == '+' else (a - b if op == '-' else a * b)
    if r < T.INT64_MIN or r > T.INT64_MAX:
        fail('int64 overflow: %d %s %d' % (a, op, b))
    return r


def fn_xor(a, b):
    if a is None or b is None:
        return None
    return a ^ b


def fn_round(v, places):
    """ROUND on FLOAT64: half away from zero on the decimal value of the double."""
    if v is None or places is None:
        return None
    x = _f(v)
    if not math.isfinite(x):
        return T.float_internal(x)
    # the exact binary value, so ROUND(1.005, 2) is 1.0 as in BigQuery (1.005 is 1.00499…)
    d = D(x)
    q = D(1).scaleb(-int(places))
    try:
        r = d.quantize(q, rounding=decimal.ROUND_HALF_UP, context=_CTX)
    except decimal.InvalidOperation:
        return x
    return float(r)


def fn_ftrunc(v, places, mode):
    if v is None or places is None:
        return None
    x = _f(v)
    if not math.isfinite(x):
        return T.float_internal(x)
    d = D(repr(x))
    q = D(1).scaleb(-int(places))
    rounding = {'trunc': decimal.ROUND_DOWN, 'floor': decimal.ROUND_FLOOR,
                'ceil': decimal.ROUND_CEILING}[mode]
    return float(d.quantize(q, rounding=rounding, context=_CTX))


def fn_math(name, v):
    if v is None:
        return None
    x = _f(v)
    try:
        if name == 'SQRT':
            if x < 0:
                fail('Argument to SQRT cannot be negative: %s' % T.float_to_sql_string(x))
            r = math.sqrt(x)
        elif name == 'EXP':
            r = math.exp(x)
        elif name == 'LN':
            if x <= 0:
                fail('Argument to LN must be positive: %s' % T.float_to_sql_string(x))
            r = math.log(x)
        elif name == 'LOG10':
            if x <= 0:
                fail('Argument to LOG10 must be positive: %s' % T.float_to_sql_string(x))
            r = math.log10(x)
        else:
            raise AssertionError(name)
    except OverflowError:
        fail('Floating point overflow in function: %s(%s)' % (name, T.float_to_sql_string(x)))
    return T.float_internal(r)


def fn_pow(a, b):
    if a is None or b is None:
        return None
    try:
        return T.float_internal(math.pow(_f(a), _f(b)))
    except (OverflowError, ValueError):
        fail('Floating point error in function: POW(%s, %s)' % (_num_text(a), _num_text(b)))


def fn_is_nan(v):
    if v is None:
        return None
    return 1 if isinstance(v, str) else 0


def fn_is_inf(v):
    if v is None:
        return None
    return 1 if (not isinstance(v, str) and math.isinf(v)) else 0


# ---------------------------------------------------------------- strings

def fn_lower(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.lower()
    return v.lower()


def fn_upper(v):
    if v is None:
        return None
    return v.upper()


def fn_trim(v, chars, mode):
    if v is None:
        return None
    if isinstance(v, bytes):
        ch = chars if chars is not None else b' '
    else:
        ch = chars  # None strips Unicode whitespace as BigQuery does
    if mode == 'L':
        return v.lstrip(ch)
    if mode == 'R':
        return v.rstrip(ch)
    return v.strip(ch)


def fn_substr(v, pos, length, has_length):
    if v is None or pos is None or (has_length and length is None):
        return None
    n = len(v)
    if pos > 0:
        start = pos - 1
    elif pos == 0:
        start = 0
    else:
        start = max(0, n + pos)
    if length is None:
        return v[start:]
    if length < 0:
        fail('Third argument in SUBSTR() cannot be negative')
    return v[start:start + length]


def fn_translate(v, source, target):
    """TRANSLATE: each character of source becomes target's at the same place, or goes."""
    if v is None or source is None or target is None:
        return None
    if len(set(source)) != len(source):
        dup = next(ch for i, ch in enumerate(source) if ch in source[:i])
        fail('Duplicate character "%s" in TRANSLATE source characters' % dup)
    table = {ch: (target[i] if i < len(target) else None) for i, ch in enumerate(source)}
    if isinstance(v, bytes):
        out = (table.get(v[i:i + 1], v[i:i + 1]) for i in range(len(v)))
        return b''.join(b for b in out if b is not None)
    return ''.join(ch for ch in (table.get(ch, ch) for ch in v) if ch is not None)


def fn_error(msg):
    fail(msg if msg is not None else 'NULL')


def fn_starts_with(v, p):
    if v is None or p is None:
        return None
    return 1 if v.startswith(p) else 0


def fn_ends_with(v, p):
    if v is None or p is None:
        return None
    return 1 if v.endswith(p) else 0


def fn_reverse(v):
    if v is None:
        return None
    return v[::-1]


def fn_concat_bytes(*args):
    if any(a is None for a in args):
        return None
    return b''.join(args)


def fn_left_right(v, n, which):
    if v is None or n is None:
        return None
    if n < 0:
        fail('Second argument in %s() cannot be negative' % which)
    return v[:n] if which == 'LEFT' else (v[len(v) - n:] if n else v[:0])


# ---------------------------------------------------------------- casts

def _cast_error(msg, safe):
    if safe:
        return None
    fail(msg)


def fn_cast(v, src, dst, safe):
    """CAST/SAFE_CAST between internal representations, with BigQuery's error texts."""
    if v is None:
        return None
    try:
        return _cast(v, src, dst)
    except T.ValueError_ as e:
        return _cast_error(str(e), safe)
    except (ValueError, OverflowError, decimal.InvalidOperation) as e:
        return _cast_error('Invalid cast from %s to %s: %s' % (src, dst, e), safe)


def _cast(v, src, dst):
    if src == dst:
        return v
    if dst == 'STRING':
        return to_string(v, src)
    if dst == 'INT64':
        if src == 'STRING':
            s = v.strip()
            try:
                n = int(s, 16) if s.lower().startswith(('0x', '-0x', '+0x')) else int(s)
            except ValueError:
                raise T.ValueError_('Bad int64 value: %s' % v) from None
        elif src == 'FLOAT64':
            x = _f(v)
            if not math.isfinite(x):
                raise T.ValueError_('Illegal conversion of non-finite floating point number '
                                    'to an integer: %s' % T.float_to_sql_string(x))
            n = int(D(repr(x)).to_integral_value(rounding=decimal.ROUND_HALF_UP))
        elif src in ('NUMERIC', 'BIGNUMERIC'):
            n = int(_dec(v).to_integral_value(rounding=decimal.ROUND_HALF_UP))
        elif src == 'BOOL':
            n = int(v)
        else:
            raise T.ValueError_('Invalid cast from %s to INT64' % src)
        if n < T.INT64_MIN or n > T.INT64_MAX:
            raise T.ValueError_('int64 overflow: %s' % n)
        return n
    if dst == 'FLOAT64':
        if src == 'STRING':
            try:
                return T.COERCE['FLOAT64'](v)
            except T.ValueError_:
                raise T.ValueError_('Bad double value: %s' % v) from None
        if src in ('INT64', 'NUMERIC', 'BIGNUMERIC'):
            return float(_dec(v))
        raise T.ValueError_('Invalid cast from %s to FLOAT64' % src)
    if dst in ('NUMERIC', 'BIGNUMERIC'):
        big = dst == 'BIGNUMERIC'
        if src == 'STRING':
            try:
                return T.to_numeric(T.parse_decimal(v), big)
            except T.ValueError_:
                raise T.ValueError_('Invalid %s value: %s' % (dst, v)) from None
        if src == 'FLOAT64':
            x = _f(v)
            if not math.isfinite(x):
                raise T.ValueError_('Illegal conversion of non-finite floating point number '
                                    'to numeric: %s' % T.float_to_sql_string(x))
        if src in ('INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC'):
            try:
                return T.to_numeric(_dec(v), big)
            except T.ValueError_:
                raise T.ValueError_('%s overflow: %s' % (dst, _dec(v))) from None
        raise T.ValueError_('Invalid cast from %s to %s' % (src, dst))
    if dst == 'BOOL':
        if src == 'INT64':
            return 1 if v != 0 else 0
        if src == 'STRING':
            s = v.strip().lower()
            if s == 'true':
                return 1
            if s == 'false':
                return 0
            raise T.ValueError_('Bad bool value: %s' % v)
        raise T.ValueError_('Invalid cast from %s to BOOL' % src)
    if dst == 'BYTES':
        if src == 'STRING':
            return v.encode('utf-8')
        raise T.ValueError_('Invalid cast from %s to BYTES' % src)
    if dst == 'DATE':
        if src == 'STRING':
            try:
                return T.parse_date_text(v)
            except T.ValueError_:
                raise T.ValueError_('Invalid date: \'%s\'' % v) from None
        if src == 'TIMESTAMP':
            return T.date_text(v // T._DAY_US)
        if src == 'DATETIME':
            return v[:10]
        raise T.ValueError_('Invalid cast from %s to DATE' % src)
    if dst == 'TIMESTAMP':
        if src == 'STRING':
            try:
                return T.parse_timestamp_text(v)
            except T.ValueError_:
                raise T.ValueError_('Invalid timestamp: \'%s\'' % v) from None
        if src == 'DATE':
            return T.date_to_days(v) * T._DAY_US
        if src == 'DATETIME':
            return T.datetime_to_micros(v)
        raise T.ValueError_('Invalid cast from %s to TIMESTAMP' % src)
    if dst == 'DATETIME':
        if src == 'STRING':
            try:
                return T.parse_datetime_text(v)
            except T.ValueError_:
                raise T.ValueError_('Invalid datetime: \'%s\'' % v) from None
        if src == 'DATE':
            return v + ' 00:00:00.000000'
        if src == 'TIMESTAMP':
            return T.datetime_from_micros(v)
        raise T.ValueError_('Invalid cast from %s to DATETIME' % src)
    if dst == 'TIME':
        if src == 'STRING':
            try:
                return T.parse_time_text(v)
            except T.ValueError_:
                raise T.ValueError_('Invalid time: \'%s\'' % v) from None
        if src == 'TIMESTAMP':
            return T.datetime_from_micros(v)[11:]
        if src == 'DATETIME':
            return v[11:]
        raise T.ValueError_('Invalid cast from %s to TIME' % src)
    raise T.ValueError_('Invalid cast from %s to %s' % (src, dst))


def to_string(v, src):
    if src == 'STRING':
        return v
    if src == 'INT64':
        return str(v)
    if src == 'FLOAT64':
        return T.float_to_sql_string(_f(v))
    if src in ('NUMERIC', 'BIGNUMERIC'):
        return v if isinstance(v, str) else T.decimal_text(_dec(v))
    if src == 'BOOL':
        return 'true' if v else 'false'
    if src == 'BYTES':
        try:
            return v.decode('utf-8')
        except UnicodeDecodeError:
            raise T.ValueError_('Invalid cast of bytes to UTF8 string') from None
    if src == 'DATE':
        return v
    if src == 'TIMESTAMP':
        return T.timestamp_to_text(v)
    if src == 'DATETIME':
        return T._trim_frac(v)
    if src == 'TIME':
        return T._trim_frac(v)
    if src == 'JSON':
        return v
    raise T.ValueError_('Invalid cast from %s to STRING' % src)


# ---------------------------------------------------------------- dates and times

_MICROS = {'MICROSECOND': 1, 'MILLISECOND': 1000, 'SECOND': 1000000, 'MINUTE': 60000000,
           'HOUR': 3600000000, 'DAY': 86400000000}
_WEEKDAYS = {'SUNDAY': 6, 'MONDAY': 0, 'TUESDAY': 1, 'WEDNESDAY': 2, 'THURSDAY': 3,
             'FRIDAY': 4, 'SATURDAY': 5}


def _local(us, tz):
    """TIMESTAMP micros -> naive local datetime in zone tz (None/UTC = UTC)."""
    dt = T.timestamp_parts(us)
    if tz is None or tz.upper() == 'UTC':
        return dt
    zone = _zone(tz)
    return dt.replace(tzinfo=datetime.timezone.utc).astimezone(zone).replace(tzinfo=None)


def _zone(tz):
    if tz[0] in '+-':
        sign = 1 if tz[0] == '+' else -1
        body = tz[1:].replace(':', '')
        hh, mm = (int(body), 0) if len(body) <= 2 else (int(body[:-2]), int(body[-2:]))
        return datetime.timezone(sign * datetime.timedelta(hours=hh, minutes=mm))
    try:
        return T.zone_info(tz)
    except T.ValueError_:
        fail('Invalid time zone: %s' % tz)


def _from_local(dt, tz):
    """naive local datetime in zone tz -> TIMESTAMP micros."""
    if tz is None or tz.upper() == 'UTC':
        return T.datetime_to_micros_utc(dt)
    zone = _zone(tz)
    aware = dt.replace(tzinfo=zone)
    return T.datetime_to_micros_utc(aware.astimezone(datetime.timezone.utc).replace(tzinfo=None))


def _week_start(d, weekday):
    """Start of the week containing date d, weeks starting on weekday (Mon=0..Sun=6)."""
    return d - datetime.timedelta(days=(d.weekday() - weekday) % 7)


def _trunc_date(d, part):
    if part == 'DAY':
        return d
    if part.startswith('WEEK'):
        wd = 6
        if '(' in part:
            wd = _WEEKDAYS[part[5:-1]]
        return _week_start(d, wd)
    if part == 'ISOWEEK':
        return _week_start(d, 0)
    if part == 'MONTH':
        return d.replace(day=1)
    if part == 'QUARTER':
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    if part == 'YEAR':
        return d.replace(month=1, day=1)
    if part == 'ISOYEAR':
        iso_year = d.isocalendar()[0]
        return datetime.date.fromisocalendar(iso_year, 1, 1)
    fail('Unsupported date part %s' % part)


def fn_ts_trunc(us, part, tz):
    if us is None:
        return None
    if part in _MICROS and part != 'DAY' and (tz is None or part in ('MICROSECOND',
                                                                      'MILLISECOND', 'SECOND')):
        u = _MICROS[part]
        return us - us % u
    if part in ('MINUTE', 'HOUR'):
        # by the offset in force at the instant, not a local time read back:
        # across a 30-minute DST shift the result need not be on the hour
        # locally; and no civil date is built, so a local year 0 or 10000 at
        # the range's ends is no error (the offset there is the zone's first
        # or last, no shift falling in the first or last two days)
        edge = 2 * _MICROS['DAY']
        probe = min(max(us, T.MIN_TS + edge), T.MAX_TS - edge)
        offset = T.datetime_to_micros_utc(_local(probe, tz)) - probe
        u = _MICROS[part]
        out = us - (us + offset) % u
        if out < T.MIN_TS:
            fail('Timestamp overflow truncating %s to %s' % (part, tz))
        return out
    local = _local(us, tz)
    if part in _MICROS:
        u = _MICROS[part]
        lm = T.datetime_to_micros_utc(local)
        local = T.timestamp_parts(lm - lm % u)
    else:
        local = datetime.datetime.combine(_trunc_date(local.date(), part), datetime.time())
    # a local midnight skipped or repeated by a DST shift reads with the offset
    # before the shift (absl's "pre"; Python's fold=0 is the same)
    return _from_local(local, tz)


def fn_date_trunc(v, part):
    if v is None:
        return None
    if part in _MICROS and part != 'DAY':
        fail('DATE_TRUNC does not support the %s date part' % part)
    return _trunc_date(datetime.date.fromisoformat(v), part).isoformat()


def fn_datetime_trunc(v, part):
    if v is None:
        return None
    us = T.datetime_to_micros(v)
    if part in _MICROS:
        u = _MICROS[part]
        return T.datetime_from_micros(us - us % u)
    d = _trunc_date(datetime.date.fromisoformat(v[:10]), part)
    return d.isoformat() + ' 00:00:00.000000'


def fn_ts_to_date(us, tz):
    if us is None:
        return None
    if tz is None:
        return T.date_text(us // T._DAY_US)
    return _local(us, tz).date().isoformat()


def fn_ts_to_datetime(us, tz):
    if us is None:
        return None
    if tz is None:
        return T.datetime_from_micros(us)
    local = _local(us, tz)
    return T.datetime_from_micros(T.datetime_to_micros_utc(local))


def fn_make_date(y, m, d):
    if y is None or m is None or d is None:
        return None
    try:
        return datetime.date(y, m, d).isoformat()
    except ValueError:
        fail('Input calculates to invalid date: %04d-%02d-%02d' % (y, m, d))


def fn_to_timestamp(v, src, tz):
    """TIMESTAMP(string|date|datetime [, tz])."""
    if v is None:
        return None
    if src == 'STRING':
        if tz is None:
            try:
                return T.parse_timestamp_text(v)
            except T.ValueError_:
                fail('Invalid timestamp: \'%s\'' % v)
        dt = T.parse_datetime_text(v)
        return _from_local(T.timestamp_parts(T.datetime_to_micros(dt)), tz)
    if src == 'DATE':
        return _from_local(datetime.datetime.combine(datetime.date.fromisoformat(v),
                                                     datetime.time()), tz)
    if src == 'DATETIME':
        return _from_local(T.timestamp_parts(T.datetime_to_micros(v)), tz)
    fail('No matching signature for function TIMESTAMP for argument type %s' % src)


def _add_months(d, n):
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    if y < 1 or y > 9999:
        fail('DATE_ADD result out of range')
    day = min(d.day, calendar.monthrange(y, m)[1])
    return d.replace(year=y, month=m, day=day)


def _date_add(d, n, part):
    if part == 'DAY':
        return d + datetime.timedelta(days=n)
    if part == 'WEEK':
        return d + datetime.timedelta(days=7 * n)
    if part == 'MONTH':
        return _add_months(d, n)
    if part == 'QUARTER':
        return _add_months(d, 3 * n)
    if part == 'YEAR':
        return _add_months(d, 12 * n)
    fail('Unsupported date part %s in DATE_ADD' % part)


def fn_date_add(v, n, part):
    if v is None or n is None:
        return None
    try:
        return _date_add(datetime.date.fromisoformat(v), n, part).isoformat()
    except OverflowError:
        fail('DATE_ADD result out of range')


def fn_datetime_add(v, n, part):
    if v is None or n is None:
        return None
    if part in _MICROS:
        return T.datetime_from_micros(T.datetime_to_micros(v) + n * _MICROS[part])
    d = _date_add(datetime.date.fromisoformat(v[:10]), n, part)
    return d.isoformat() + v[10:]


def fn_ts_add(us, n, part):
    if us is None or n is None:
        return None
    r = us + n * _MICROS[part]
    if r < T.MIN_TS or r > T.MAX_TS:
        fail('TIMESTAMP_ADD result out of range')
    return r


def _months_between(a, b):
    return (a.year - b.year) * 12 + (a.month - b.month)


def fn_date_diff(a, b, part):
    if a is None or b is None:
        return None
    da, db = datetime.date.fromisoformat(a[:10]), datetime.date.fromisoformat(b[:10])
    if part == 'DAY':
        return (da - db).days
    if part.startswith('WEEK') or part == 'ISOWEEK':
        wd = 0 if part == 'ISOWEEK' else (_WEEKDAYS[part[5:-1]] if '(' in part else 6)
        return (_week_start(da, wd) - _week_start(db, wd)).days // 7
    if part == 'MONTH':
        return _months_between(da, db)
    if part == 'QUARTER':
        return (da.year * 4 + (da.month - 1) // 3) - (db.year * 4 + (db.month - 1) // 3)
    if part == 'YEAR':
        return da.year - db.year
    if part == 'ISOYEAR':
        return da.isocalendar()[0] - db.isocalendar()[0]
    fail('Unsupported date part %s in DATE_DIFF' % part)


def fn_ts_diff(a, b, part):
    if a is None or b is None:
        return None
    d = a - b
    u = _MICROS[part]
    q = abs(d) // u
    return q if d >= 0 else -q


def _extract_date_parts(d, part):
    if part == 'YEAR':
        return d.year
    if part == 'MONTH':
        return d.month
    if part == 'DAY':
        return d.day
    if part == 'DAYOFWEEK':
        return (d.weekday() + 1) % 7 + 1
    if part == 'DAYOFYEAR':
        return d.timetuple().tm_yday
    if part == 'QUARTER':
        return (d.month - 1) // 3 + 1
    if part == 'ISOWEEK':
        return d.isocalendar()[1]
    if part == 'ISOYEAR':
        return d.isocalendar()[0]
    if part.startswith('WEEK'):
        wd = _WEEKDAYS[part[5:-1]] if '(' in part else 6
        jan1 = d.replace(month=1, day=1)
        first = jan1 + datetime.timedelta(days=(wd - jan1.weekday()) % 7)
        if d < first:
            return 0
        return (d - first).days // 7 + 1
    return None


def fn_extract(part, src, v, tz):
    if v is None:
        return None
    if src == 'TIMESTAMP':
        local = _local(v, tz)
        if part == 'DATE':
            return local.date().isoformat()
        if part == 'TIME':
            return T.datetime_from_micros(T.datetime_to_micros_utc(local))[11:]
        if part == 'DATETIME':
            return T.datetime_from_micros(T.datetime_to_micros_utc(local))
        d, t_us = local.date(), local
    elif src == 'DATE':
        d, t_us = datetime.date.fromisoformat(v), None
    elif src == 'DATETIME':
        if part == 'DATE':
            return v[:10]
        if part == 'TIME':
            return v[11:]
        d, t_us = datetime.date.fromisoformat(v[:10]), T.timestamp_parts(T.datetime_to_micros(v))
    else:  # TIME
        d, t_us = None, datetime.datetime.combine(datetime.date(1970, 1, 1),
                                                  datetime.time.fromisoformat(v))
    if part in ('HOUR', 'MINUTE', 'SECOND', 'MILLISECOND', 'MICROSECOND'):
        if t_us is None:
            fail('EXTRACT from DATE does not support the %s date part' % part)
        if part == 'HOUR':
            return t_us.hour
        if part == 'MINUTE':
            return t_us.minute
        if part == 'SECOND':
            return t_us.second
        if part == 'MILLISECOND':
            return t_us.microsecond // 1000
        return t_us.microsecond
    if d is None:
        fail('EXTRACT from TIME does not support the %s date part' % part)
    r = _extract_date_parts(d, part)
    if r is None:
        fail('Unsupported date part %s' % part)
    return r


def fn_current_tz(us, tz, what):
    local = _local(us, tz)
    if what == 'DATE':
        return local.date().isoformat()
    if what == 'DATETIME':
        return T.datetime_from_micros(T.datetime_to_micros_utc(local))
    return T.datetime_from_micros(T.datetime_to_micros_utc(local))[11:]


def fn_ts_string(us, tz):
    if us is None:
        return None
    if tz is None:
        return T.timestamp_to_text(us)
    local = _local(us, tz)
    off = _zone(tz).utcoffset(local) if tz[0] not in '+-' else _zone(tz).utcoffset(None)
    mins = int(off.total_seconds()) // 60
    sign = '+' if mins >= 0 else '-'
    mins = abs(mins)
    suffix = '%s%02d' % (sign, mins // 60) + (':%02d' % (mins % 60) if mins % 60 else '')
    return T.timestamp_to_text(T.datetime_to_micros_utc(local), suffix=suffix)


def fn_array_has(arr, v):
    """v IN UNNEST(array column) — arrays are stored as JSON text."""
    if arr is None or v is None:
        return None if v is None and arr is not None else 0
    import json
    vals = json.loads(arr)
    if v in vals:
        return 1
    return None if None in vals else 0


# ---------------------------------------------------------------- registration

_SCALARS = [
    ('bq_num_add', 3, fn_num_add), ('bq_num_sub', 3, fn_num_sub), ('bq_num_mul', 3, fn_num_mul),
    ('bq_num_div', 4, fn_num_div), ('bq_num_neg', 1, fn_num_neg), ('bq_num_from', 2, fn_num_from),
    ('bq_numkey', 1, fn_numkey), ('bq_num_round', 3, fn_num_round),
    ('bq_num_trunc', 4, fn_num_trunc), ('bq_num_abs', 1, fn_num_abs),
    ('bq_div', 3, fn_div), ('bq_ieee_divide', 2, fn_ieee_divide), ('bq_int_div', 3, fn_int_div),
    ('bq_int_arith', 3, fn_int_arith), ('bq_xor', 2, fn_xor), ('bq_round', 2, fn_round),
    ('bq_ftrunc', 3, fn_ftrunc),
    ('bq_math', 2, fn_math), ('bq_pow', 2, fn_pow), ('bq_is_nan', 1, fn_is_nan),
    ('bq_is_inf', 1, fn_is_inf),
    ('bq_lower', 1, fn_lower), ('bq_upper', 1, fn_upper), ('bq_trim', 3, fn_trim),
    ('bq_substr', 4, fn_substr), ('bq_starts_with', 2, fn_starts_with),
    ('bq_translate', 3, fn_translate),
    ('bq_ends_with', 2, fn_ends_with), ('bq_reverse', 1, fn_reverse),
    ('bq_concat_bytes', -1, fn_concat_bytes), ('bq_left_right', 3, fn_left_right),
    ('bq_cast', 4, fn_cast),
    ('bq_ts_trunc', 3, fn_ts_trunc), ('bq_date_trunc', 2, fn_date_trunc),
    ('bq_datetime_trunc', 2, fn_datetime_trunc), ('bq_ts_to_date', 2, fn_ts_to_date),
    ('bq_ts_to_datetime', 2, fn_ts_to_datetime), ('bq_make_date', 3, fn_make_date),
    ('bq_to_timestamp', 3, fn_to_timestamp), ('bq_date_add', 3, fn_date_add),
    ('bq_datetime_add', 3, fn_datetime_add), ('bq_ts_add', 3, fn_ts_add),
    ('bq_date_diff', 3, fn_date_diff), ('bq_ts_diff', 3, fn_ts_diff),
    ('bq_extract', 4, fn_extract), ('bq_current_tz', 3, fn_current_tz),
    ('bq_ts_string', 2, fn_ts_string), ('bq_array_has', 2, fn_array_has),
]

_AGGREGATES = [
    ('bq_num_sum', NumSum), ('bq_bignum_sum', BigNumSum), ('bq_num_avg', NumAvg),
    ('bq_bignum_avg', BigNumAvg), ('bq_num_min', NumMin), ('bq_num_max', NumMax),
]


def register(conn):
    for name, nargs, fn in _SCALARS:
        deterministic = True
        conn.create_function(name, nargs, _udf(fn), deterministic=deterministic)
    # not deterministic: SQLite must not compute it ahead of the CASE branch that reaches it
    conn.create_function('bq_error', 1, _udf(fn_error), deterministic=False)
    for name, cls in _AGGREGATES:
        conn.create_aggregate(name, 1, cls)
