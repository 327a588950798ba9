"""Avro encoding of BigQuery rows, as the Storage Read API sends them.

Owns the Avro side of a read session: the schema JSON BigQuery writes for a table
(a record named ``__root__``; a NULLABLE column is the union ["null", T], a REQUIRED
one T, a REPEATED one an array of T, a RECORD a nested record) and the binary
encoding of rows in that schema (Avro 1.x specification: zig-zag varint ``long``
and ``int``, IEEE 754 little-endian ``double``, length-prefixed ``bytes`` and
``string``, union branch index before the value, arrays as one block of items
ended by a zero count, records as their fields in order).

BigQuery's mapping, as its Read API reports it: INT64 long, FLOAT64 double, BOOL
boolean, STRING string, BYTES bytes, NUMERIC bytes with logicalType decimal
(precision 38, scale 9), BIGNUMERIC decimal (77, 38) (unscaled value, big-endian
two's complement, fewest bytes), TIMESTAMP long timestamp-micros, DATE int date,
TIME long time-micros, DATETIME string with logicalType datetime (the canonical
text 'YYYY-MM-DDTHH:MM:SS[.ffffff]'), GEOGRAPHY string with sqlType GEOGRAPHY (WKT),
JSON string with sqlType JSON, INTERVAL string with sqlType INTERVAL.

Rows come in the internal representation of emulator/bigquery/types.py (as SQLite
and query results hold them). The encoder of a row shape is generated once as
straight-line Python (no per-value type dispatch) because a read of a million rows
runs through it.
"""

import json
import struct

from emulator.bigquery import types as T


class AvroUnsupported(Exception):
    """A column type the emulator cannot send in Avro (its message names it)."""


# ------------------------------------------------------------------ schema

_PRIMITIVE = {
    'INT64': 'long', 'FLOAT64': 'double', 'BOOL': 'boolean', 'STRING': 'string',
    'BYTES': 'bytes',
}
_LOGICAL = {
    'NUMERIC': {'type': 'bytes', 'logicalType': 'decimal', 'precision': 38, 'scale': 9},
    'BIGNUMERIC': {'type': 'bytes', 'logicalType': 'decimal', 'precision': 77, 'scale': 38},
    'TIMESTAMP': {'type': 'long', 'logicalType': 'timestamp-micros'},
    'DATE': {'type': 'int', 'logicalType': 'date'},
    'TIME': {'type': 'long', 'logicalType': 'time-micros'},
    'DATETIME': {'type': 'string', 'logicalType': 'datetime'},
    'GEOGRAPHY': {'type': 'string', 'sqlType': 'GEOGRAPHY'},
    'JSON': {'type': 'string', 'sqlType': 'JSON'},
    'INTERVAL': {'type': 'string', 'sqlType': 'INTERVAL'},
}


def _value_schema(name, typ, namespace):
    """The Avro schema of one non-null value of internal type typ."""
    if typ == 'NULL':           # a query column of untyped NULLs: BigQuery types it INT64
        typ = 'INT64'
    if typ in _PRIMITIVE:
        return _PRIMITIVE[typ]
    if typ in _LOGICAL:
        return dict(_LOGICAL[typ])
    if T.is_struct(typ):
        inner = namespace + '.' + name
        required = T.struct_required(typ)
        return {'type': 'record', 'name': name, 'namespace': namespace,
                'fields': [{'name': fname,
                            'type': field_schema(fname, ftype,
                                                 'REQUIRED' if fname in required else 'NULLABLE',
                                                 inner)}
                           for fname, ftype in T.struct_fields(typ)]}
    if T.is_range(typ):
        raise AvroUnsupported('RANGE columns (%s) cannot be read through the Storage Read API '
                              'of the emulator' % name)
    raise AvroUnsupported('Column %s of type %s cannot be read through the Storage Read API '
                          'of the emulator' % (name, typ))


def field_schema(name, typ, mode, namespace='__root__'):
    """The Avro type of a column: T, ["null", T] or {"type": "array", "items": T}."""
    if T.is_array(typ):
        return {'type': 'array', 'items': _value_schema(name, T.array_elem(typ), namespace)}
    if mode == 'REPEATED':
        return {'type': 'array', 'items': _value_schema(name, typ, namespace)}
    value = _value_schema(name, typ, namespace)
    if mode == 'REQUIRED':
        return value
    return ['null', value]


def schema_json(columns):
    """columns: [(name, internal type, mode)] -> the Avro schema text of a row."""
    root = {'type': 'record', 'name': '__root__',
            'fields': [{'name': n, 'type': field_schema(n, t, m)} for n, t, m in columns]}
    return json.dumps(root, separators=(',', ':'))


# ------------------------------------------------------------------ primitive encoders

# zig-zag varints of the small values (most counts, lengths, days, small integers)
_SMALL_LIMIT = 1 << 14
_SMALL = []
for _z in range(_SMALL_LIMIT):
    _SMALL.append(bytes([_z]) if _z < 0x80 else bytes([(_z & 0x7f) | 0x80, _z >> 7]))
del _z


# two 7-bit groups that more groups follow (both continuation bits set): a varint is
# these for each 14 low bits, then the rest from _SMALL (timestamps: 3 + 1 pieces)
_CONT = [bytes([(_c & 0x7f) | 0x80, (_c >> 7) | 0x80]) for _c in range(_SMALL_LIMIT)]


def _varint(z):
    """Unsigned varint of z >= 0."""
    if z < _SMALL_LIMIT:
        return _SMALL[z]
    out = _CONT[z & 0x3fff]
    z >>= 14
    while z >= _SMALL_LIMIT:
        out += _CONT[z & 0x3fff]
        z >>= 14
    return out + _SMALL[z]


def enc_long(n):
    """Avro long (and int): zig-zag, then varint."""
    return _varint((n << 1) ^ (n >> 63))


def _len_prefixed(b):
    n = len(b)
    return (_SMALL[n << 1] if n < 8192 else _varint(n << 1)) + b


def enc_string(s):
    return _len_prefixed(s.encode('utf-8'))


def enc_bytes(b):
    if isinstance(b, str):          # BYTES values built as text by a query expression
        b = b.encode('utf-8')
    return _len_prefixed(b)


_pack_double = struct.Struct('<d').pack
_NAN = _pack_double(float('nan'))


def enc_double(v):
    if v.__class__ is str:          # NaN, which SQLite cannot hold as a REAL
        return _NAN
    return _pack_double(v)


def enc_bool(v):
    return b'\x01' if v else b'\x00'


def _decimal_encoder(scale):
    pad = ['0' * (scale - k) for k in range(scale + 1)]

    def enc(text):
        if text.__class__ is not str:       # an INT64 or FLOAT64 a query computed
            text = T.decimal_text(T.parse_decimal(text))
        # canonical text has at most `scale` fraction digits; the sign of the integer
        # part carries over to the whole unscaled value ('-0.5' -> -500000000)
        ip, _, fp = text.partition('.')
        n = int(ip + fp + pad[len(fp)])
        raw = n.to_bytes(((n + (n < 0)).bit_length() >> 3) + 1, 'big', signed=True)
        k = len(raw) << 1
        return (_SMALL[k] if k < 16384 else _varint(k)) + raw
    return enc


enc_numeric = _decimal_encoder(9)
enc_bignumeric = _decimal_encoder(38)


_DATES = {}         # DATE text -> its Avro bytes: a table holds few distinct days


def enc_date(text):
    b = _DATES.get(text)
    if b is None:
        if len(_DATES) > 100000:
            _DATES.clear()
        b = _DATES[text] = enc_long(T.date_to_days(text))
    return b


def enc_time(text):
    return enc_long(((int(text[0:2]) * 60 + int(text[3:5])) * 60 + int(text[6:8])) * 1000000
                    + int(text[9:15] or 0))


def enc_datetime(text):
    out = text[:10] + 'T' + text[11:]
    if out.endswith('.000000'):
        out = out[:-7]
    return enc_string(out)


_SCALAR = {
    'INT64': enc_long, 'TIMESTAMP': enc_long, 'FLOAT64': enc_double, 'BOOL': enc_bool,
    'STRING': enc_string, 'JSON': enc_string, 'GEOGRAPHY': enc_string,
    'INTERVAL': enc_string, 'BYTES': enc_bytes, 'NUMERIC': enc_numeric,
    'BIGNUMERIC': enc_bignumeric, 'DATE': enc_date, 'TIME': enc_time,
    'DATETIME': enc_datetime, 'NULL': enc_long,
}


def value_encoder(typ):
    """internal value (not None) of typ -> its Avro bytes (without the union index)."""
    if typ in _SCALAR:
        return _SCALAR[typ]
    if T.is_array(typ):
        return _array_encoder(T.array_elem(typ))
    if T.is_struct(typ):
        return _struct_encoder(typ)
    raise AvroUnsupported('Values of type %s cannot be encoded in Avro by the emulator' % typ)


def _array_encoder(elem):
    enc = value_encoder(elem)

    def enc_array(v):
        items = T.array_from_storage(elem, v)
        if not items:
            return b'\x00'
        # BigQuery arrays never hold NULL; an element that is one cannot be sent
        return enc_long(len(items)) + b''.join([enc(x) for x in items]) + b'\x00'
    return enc_array


def _struct_encoder(typ):
    required = T.struct_required(typ)
    parts = []
    for fname, ftype in T.struct_fields(typ):
        if T.is_array(ftype):
            parts.append((ftype, value_encoder(ftype), 'array'))
        else:
            parts.append((ftype, value_encoder(ftype),
                          'required' if fname in required else 'nullable'))

    def enc_struct(v):
        vals = json.loads(v) if isinstance(v, str) else v
        out = []
        for (ftype, enc, kind), x in zip(parts, vals):
            if kind == 'array':
                out.append(b'\x00' if not x else enc(T.from_json_form(ftype, x)))
            elif x is None:
                if kind == 'required':
                    raise AvroUnsupported('NULL in REQUIRED field of a RECORD')
                out.append(b'\x00')
            else:
                if kind == 'nullable':
                    out.append(b'\x02')
                out.append(enc(T.from_json_form(ftype, x)))
        return b''.join(out)
    return enc_struct


# ------------------------------------------------------------------ row encoders

def row_encoder(columns, skip=0):
    """columns: [(name, internal type, mode)] -> encode(rows) -> bytes of those rows.

    rows are sequences with `skip` values to ignore (a rowid), then one internal value
    per column, in order. The function is generated for the shape: each column's code
    is inlined, NULL checks only where the column is NULLABLE."""
    ns = {'_SMALL': _SMALL, '_varint': _varint, '_pd': _pack_double, '_NAN': _NAN,
          '_DATES': _DATES, '_ed': enc_date}
    lines = ['def encode(rows):',
             '    out = []',
             '    ap = out.append',
             '    for row in rows:']
    names = ['_s%d' % i for i in range(skip)] + ['v%d' % i for i in range(len(columns))]
    if names:
        lines.append('        %s, = row' % ', '.join(names))
    for i, (name, typ, mode) in enumerate(columns):
        v = 'v%d' % i
        repeated = T.is_array(typ) or mode == 'REPEATED'
        if repeated and not T.is_array(typ):
            typ = T.array_of(typ)
        value_encoder(typ)          # refuses what cannot be encoded, before any row
        if repeated:
            ns['e%d' % i] = value_encoder(typ)
            lines.append('        ap(e%d(%s) if %s is not None else b"\\x00")' % (i, v, v))
            continue
        indent = '        '
        if mode != 'REQUIRED':
            lines += ['        if %s is None:' % v,
                      '            ap(b"\\x00")',
                      '        else:',
                      '            ap(b"\\x02")']
            indent = '            '
        if typ in ('INT64', 'TIMESTAMP'):
            lines += [indent + 'z = (%s << 1) ^ (%s >> 63)' % (v, v),
                      indent + 'ap(_SMALL[z] if z < 16384 else _varint(z))']
        elif typ == 'FLOAT64':
            lines.append(indent + 'ap(_pd(%s) if %s.__class__ is not str else _NAN)' % (v, v))
        elif typ == 'BOOL':
            lines.append(indent + 'ap(b"\\x01" if %s else b"\\x00")' % v)
        elif typ == 'DATE':
            lines.append(indent + 'ap(_DATES.get(%s) or _ed(%s))' % (v, v))
        elif typ in ('STRING', 'JSON', 'GEOGRAPHY', 'INTERVAL'):
            lines += [indent + 'b = %s.encode()' % v,
                      indent + 'n = len(b) << 1',
                      indent + 'ap(_SMALL[n] if n < 16384 else _varint(n))',
                      indent + 'ap(b)']
        else:
            ns['e%d' % i] = value_encoder(typ)
            lines.append(indent + 'ap(e%d(%s))' % (i, v))
    lines.append('    return b"".join(out)')
    exec(compile('\n'.join(lines) + '\n', '<avro row encoder>', 'exec'), ns)
    return ns['encode']
