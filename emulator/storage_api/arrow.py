"""Apache Arrow IPC encoding of BigQuery rows, as the Storage Read API sends them in ARROW.

Owns the Arrow side of a read session: the serialized schema (ReadSession.arrow_schema,
an encapsulated IPC Schema message) and each block of rows as an encapsulated IPC
RecordBatch message with its body (ArrowRecordBatch.serialized_record_batch). A reader
concatenates the schema and the batches into one IPC stream.

Written from the Arrow columnar format specification (the "Serialization and
Interprocess Communication" chapter and the Schema.fbs / Message.fbs tables): messages
are FlatBuffers, built here front to back by a small serializer (each table preceded
by its vtable, children after their parent, so every offset points forward); an
encapsulated message is the continuation marker 0xFFFFFFFF, the metadata length (a
multiple of 8), the metadata and the body, whose buffers are 8-byte aligned.

BigQuery's mapping: INT64 int64, FLOAT64 float64, BOOL bool, STRING and JSON utf8
(JSON with the extension name google:sqlType:json), GEOGRAPHY utf8 (google:sqlType:
geography, WKT), BYTES binary, NUMERIC decimal128(38, 9), BIGNUMERIC decimal256(76,
38), TIMESTAMP timestamp[us, UTC], DATE date32, TIME time64[us], DATETIME
timestamp[us] without a zone, REPEATED list, RECORD struct. INTERVAL and RANGE are
refused (ArrowUnsupported). Values come in the internal representation of
emulator/bigquery/types.py.
"""

import json
import struct

from emulator.bigquery import types as T


class ArrowUnsupported(Exception):
    """A column type the emulator cannot send in Arrow (its message names it)."""


# ------------------------------------------------------------------ FlatBuffers

class _Table:
    """A table to serialize: slots -> (kind, value). kinds: 'u8', 'bool', 'i16', 'i32',
    'i64' (scalars), 'obj' (an offset to a child: _Table, _String, _Vector)."""
    __slots__ = ('slots',)

    def __init__(self, **slots):
        self.slots = slots      # {index: (kind, value)} given as s0=..., s1=...


class _String:
    __slots__ = ('text',)

    def __init__(self, text):
        self.text = text


class _Vector:
    """A vector of tables (items: [_Table]) or of 16-byte structs (raw: bytes, count)."""
    __slots__ = ('items', 'raw', 'count')

    def __init__(self, items=None, raw=None, count=0):
        self.items = items
        self.raw = raw
        self.count = count


_SIZES = {'u8': 1, 'bool': 1, 'i16': 2, 'i32': 4, 'i64': 8, 'obj': 4}
_FORMATS = {'u8': '<B', 'bool': '<B', 'i16': '<h', 'i32': '<i', 'i64': '<q'}


def _flatbuffer(root):
    buf = bytearray(4)      # the root offset, patched below

    def pad_to(align, rem=0):
        while len(buf) % align != rem:
            buf.append(0)

    def write(obj):
        """Append obj (and its children); return its position."""
        if isinstance(obj, _String):
            data = obj.text.encode('utf-8')
            pad_to(4)
            pos = len(buf)
            buf.extend(struct.pack('<I', len(data)))
            buf.extend(data)
            buf.append(0)
            return pos
        if isinstance(obj, _Vector):
            if obj.raw is not None:
                pad_to(8, 4)        # 8-aligned struct data after the 4-byte length
                pos = len(buf)
                buf.extend(struct.pack('<I', obj.count))
                buf.extend(obj.raw)
                return pos
            pad_to(4)
            pos = len(buf)
            buf.extend(struct.pack('<I', len(obj.items)))
            slots = []
            for _ in obj.items:
                slots.append(len(buf))
                buf.extend(b'\0\0\0\0')
            for at, item in zip(slots, obj.items):
                target = write(item)
                struct.pack_into('<I', buf, at, target - at)
            return pos
        # a table: its vtable, then the table (soffset, fields biggest first)
        slots = {int(k[1:]): v for k, v in obj.slots.items()}
        nslots = max(slots) + 1 if slots else 0
        order = sorted(slots, key=lambda i: -_SIZES[slots[i][0]])
        field_at = {}
        size = 4
        for i in order:
            n = _SIZES[slots[i][0]]
            while size % n:
                size += 1
            field_at[i] = size
            size += n
        while size % 4:
            size += 1
        vtable = struct.pack('<HH', 4 + 2 * nslots, size) + b''.join(
            struct.pack('<H', field_at.get(i, 0)) for i in range(nslots))
        pad_to(2)
        # the table starts 4 bytes before an 8-aligned position, after its vtable
        while (len(buf) + len(vtable)) % 8 != 4:
            buf.append(0)
        vpos = len(buf)
        buf.extend(vtable)
        tpos = len(buf)
        buf.extend(b'\0' * size)
        struct.pack_into('<i', buf, tpos, tpos - vpos)
        children = []
        for i, (kind, value) in slots.items():
            at = tpos + field_at[i]
            if kind == 'obj':
                children.append((at, value))
            else:
                struct.pack_into(_FORMATS[kind], buf, at, int(value))
        for at, child in children:
            target = write(child)
            struct.pack_into('<I', buf, at, target - at)
        return tpos

    root_pos = write(root)
    struct.pack_into('<I', buf, 0, root_pos)
    pad_to(8)
    return bytes(buf)


def _message(header_type, header, body_length):
    # Message: version (V5 = 4), header_type, header, bodyLength
    meta = _flatbuffer(_Table(s0=('i16', 4), s1=('u8', header_type), s2=('obj', header),
                              s3=('i64', body_length)))
    return struct.pack('<Ii', 0xFFFFFFFF, len(meta)) + meta


# Type union members (Schema.fbs)
_INT, _FLOAT, _BINARY, _UTF8, _BOOL, _DECIMAL, _DATE, _TIME, _TIMESTAMP, _LIST, _STRUCT = \
    2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13
_MICROSECOND = 2
_SCHEMA_HEADER, _RECORD_BATCH_HEADER = 1, 3


# ------------------------------------------------------------------ schema

def _extension(name):
    return _Vector(items=[_Table(s0=('obj', _String('ARROW:extension:name')),
                                 s1=('obj', _String(name)))])


def _type_of(name, typ):
    """(type union member, type table, children, metadata) of a non-repeated column."""
    if typ in ('INT64', 'NULL'):
        return _INT, _Table(s0=('i32', 64), s1=('bool', 1)), [], None
    if typ == 'FLOAT64':
        return _FLOAT, _Table(s0=('i16', 2)), [], None
    if typ == 'BOOL':
        return _BOOL, _Table(), [], None
    if typ == 'STRING':
        return _UTF8, _Table(), [], None
    if typ == 'JSON':
        return _UTF8, _Table(), [], _extension('google:sqlType:json')
    if typ == 'GEOGRAPHY':
        return _UTF8, _Table(), [], _extension('google:sqlType:geography')
    if typ == 'BYTES':
        return _BINARY, _Table(), [], None
    if typ == 'NUMERIC':
        return _DECIMAL, _Table(s0=('i32', 38), s1=('i32', 9), s2=('i32', 128)), [], None
    if typ == 'BIGNUMERIC':
        return _DECIMAL, _Table(s0=('i32', 76), s1=('i32', 38), s2=('i32', 256)), [], None
    if typ == 'TIMESTAMP':
        return _TIMESTAMP, _Table(s0=('i16', _MICROSECOND), s1=('obj', _String('UTC'))), [], None
    if typ == 'DATETIME':
        return _TIMESTAMP, _Table(s0=('i16', _MICROSECOND)), [], None
    if typ == 'DATE':
        return _DATE, _Table(s0=('i16', 0)), [], None
    if typ == 'TIME':
        return _TIME, _Table(s0=('i16', _MICROSECOND), s1=('i32', 64)), [], None
    if T.is_struct(typ):
        required = T.struct_required(typ)
        return _STRUCT, _Table(), [
            _field(fname, ftype, 'REQUIRED' if fname in required else 'NULLABLE')
            for fname, ftype in T.struct_fields(typ)], None
    raise ArrowUnsupported('Column %s of type %s cannot be read in ARROW from the emulator; '
                           'ask for AVRO' % (name, typ))


def _field(name, typ, mode):
    if T.is_array(typ) or mode == 'REPEATED':
        elem = T.array_elem(typ) if T.is_array(typ) else typ
        item = _field(name, elem, 'REQUIRED')
        return _Table(s0=('obj', _String(name)), s1=('bool', 0), s2=('u8', _LIST),
                      s3=('obj', _Table()), s5=('obj', _Vector(items=[item])))
    member, table, children, meta = _type_of(name, typ)
    slots = dict(s0=('obj', _String(name)), s1=('bool', mode != 'REQUIRED'),
                 s2=('u8', member), s3=('obj', table), s5=('obj', _Vector(items=children)))
    if meta is not None:
        slots['s6'] = ('obj', meta)
    return _Table(**slots)


def schema_message(columns):
    """columns: [(name, internal type, mode)] -> the encapsulated IPC Schema message."""
    fields = [_field(n, t, m) for n, t, m in columns]
    return _message(_SCHEMA_HEADER, _Table(s0=('i16', 0), s1=('obj', _Vector(items=fields))), 0)


def check(columns):
    """Raise ArrowUnsupported for a column that cannot be sent."""
    schema_message(columns)


# ------------------------------------------------------------------ record batches

def _validity(values):
    """(bitmap bytes or b'' when none is null, null count)."""
    nulls = values.count(None)
    if not nulls:
        return b'', 0
    bits = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits), nulls


def _decimal_bytes(text, scale, width):
    if not isinstance(text, str):
        text = T.decimal_text(T.parse_decimal(text))
    ip, _, fp = text.partition('.')
    return int(ip + fp + '0' * (scale - len(fp))).to_bytes(width, 'little', signed=True)


def _time_micros(text):
    return ((int(text[0:2]) * 60 + int(text[3:5])) * 60 + int(text[6:8])) * 1000000 + \
        int(text[9:15] or 0)


class _Batch:
    def __init__(self):
        self.nodes = []
        self.buffers = []       # (offset, length)
        self.body = bytearray()

    def buffer(self, data):
        self.buffers.append((len(self.body), len(data)))
        self.body.extend(data)
        while len(self.body) % 8:
            self.body.append(0)

    def column(self, typ, mode, values):
        """values: internal values (None for NULL) of one column, in row order."""
        if T.is_array(typ) or mode == 'REPEATED':
            elem = T.array_elem(typ) if T.is_array(typ) else typ
            lists = [T.array_from_storage(elem, v) if v is not None else [] for v in values]
            self.nodes.append((len(values), 0))
            self.buffer(b'')
            offsets = [0]
            flat = []
            for items in lists:
                flat.extend(items)
                offsets.append(len(flat))
            self.buffer(struct.pack('<%di' % len(offsets), *offsets))
            self.column(elem, 'REQUIRED', flat)
            return
        bitmap, nulls = _validity(values)
        self.nodes.append((len(values), nulls))
        self.buffer(bitmap)
        n = len(values)
        if typ in ('INT64', 'TIMESTAMP', 'NULL'):
            self.buffer(struct.pack('<%dq' % n, *[0 if v is None else v for v in values]))
        elif typ == 'FLOAT64':
            self.buffer(struct.pack('<%dd' % n, *[
                0.0 if v is None else (float('nan') if v.__class__ is str else v)
                for v in values]))
        elif typ == 'BOOL':
            bits = bytearray((n + 7) // 8)
            for i, v in enumerate(values):
                if v:
                    bits[i >> 3] |= 1 << (i & 7)
            self.buffer(bytes(bits))
        elif typ in ('STRING', 'JSON', 'GEOGRAPHY', 'BYTES'):
            parts = [b'' if v is None else (v.encode('utf-8') if isinstance(v, str) else v)
                     for v in values]
            offsets = [0]
            total = 0
            for p in parts:
                total += len(p)
                offsets.append(total)
            self.buffer(struct.pack('<%di' % len(offsets), *offsets))
            self.buffer(b''.join(parts))
        elif typ in ('NUMERIC', 'BIGNUMERIC'):
            scale, width = (9, 16) if typ == 'NUMERIC' else (38, 32)
            zero = b'\0' * width
            self.buffer(b''.join(zero if v is None else _decimal_bytes(v, scale, width)
                                 for v in values))
        elif typ == 'DATE':
            self.buffer(struct.pack('<%di' % n, *[0 if v is None else T.date_to_days(v)
                                                  for v in values]))
        elif typ == 'TIME':
            self.buffer(struct.pack('<%dq' % n, *[0 if v is None else _time_micros(v)
                                                  for v in values]))
        elif typ == 'DATETIME':
            self.buffer(struct.pack('<%dq' % n, *[0 if v is None else T.datetime_to_micros(v)
                                                  for v in values]))
        elif T.is_struct(typ):
            required = T.struct_required(typ)
            decoded = [json.loads(v) if isinstance(v, str) else v for v in values]
            for k, (fname, ftype) in enumerate(T.struct_fields(typ)):
                sub = [None if d is None or d[k] is None else
                       T.from_json_form(ftype, d[k]) for d in decoded]
                if T.is_array(ftype):
                    sub = [T.array_to_storage(T.array_elem(ftype), []) if x is None else x
                           for x in sub]
                self.column(ftype, 'REQUIRED' if fname in required else 'NULLABLE', sub)
        else:
            raise ArrowUnsupported('Values of type %s cannot be encoded in ARROW by the '
                                   'emulator' % typ)


def record_batch(columns, rows, skip=0):
    """columns: [(name, internal type, mode)]; rows: sequences with `skip` leading values
    to ignore, then one value per column -> the encapsulated IPC RecordBatch message and
    its body."""
    batch = _Batch()
    cols = list(zip(*rows)) if rows else [()] * (len(columns) + skip)
    for (name, typ, mode), values in zip(columns, cols[skip:]):
        batch.column(typ, mode, list(values))
    nodes = b''.join(struct.pack('<qq', length, nulls) for length, nulls in batch.nodes)
    bufs = b''.join(struct.pack('<qq', off, length) for off, length in batch.buffers)
    header = _Table(s0=('i64', len(rows)),
                    s1=('obj', _Vector(raw=nodes, count=len(batch.nodes))),
                    s2=('obj', _Vector(raw=bufs, count=len(batch.buffers))))
    return _message(_RECORD_BATCH_HEADER, header, len(batch.body)) + bytes(batch.body)
