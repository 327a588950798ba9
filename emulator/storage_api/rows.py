"""Proto rows of AppendRows -> the rows tabledata.insertAll would have received.

Owns the decoding of an AppendRowsRequest's `proto_rows`: the writer_schema's
DescriptorProto becomes a message class (in a pool of its own, proto2 rules:
a bare DescriptorProto carries no syntax, and proto3 encodings, packed
repeated fields included, parse under proto2), each serialized row is parsed
with it and its fields are matched to the table's columns (by name, case
aside, as BigQuery does). A value becomes the JSON value insertAll accepts for
the column's type, following the Storage Write API's table of supported
conversions, so the BigQuery service's own row Validator does the type and
range checks, the REQUIRED rule and the storage form: rows appended through
the Write API and through insertAll end up alike.

Schema mismatches (a proto field with no column, a proto type the column's
type cannot take) are errors of the whole request (SchemaError); a row whose
value does not fit (a bad NUMERIC text, a missing REQUIRED field, a
timestamp out of range) is a row error (RowValueError with the row index).
"""

import base64
import decimal
import hashlib
import threading

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor as FD

from ..bigquery import types as T
from ..bigquery.storage import RowError as StoreRowError

_INTS = (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32,
         FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64)
_INT64S = (FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64)
_FLOATS = (FD.TYPE_DOUBLE, FD.TYPE_FLOAT)

# NUMERIC and BIGNUMERIC as bytes: the two's-complement little-endian integer
# of the value scaled by 10^9 (NUMERIC) or 10^38 (BIGNUMERIC).
_SCALE = {"NUMERIC": 9, "BIGNUMERIC": 38}


class SchemaError(Exception):
    """The writer schema cannot describe rows of this table."""


class RowValueError(Exception):
    def __init__(self, index, message):
        super().__init__(message)
        self.index = index
        self.message = message


_CLASS_CACHE = {}
_CLASS_LOCK = threading.Lock()


def message_class(proto_descriptor):
    """A message class for a writer schema's DescriptorProto (cached by its bytes)."""
    raw = proto_descriptor.SerializeToString(deterministic=True)
    key = hashlib.sha256(raw).digest()
    with _CLASS_LOCK:
        cls = _CLASS_CACHE.get(key)
    if cls is not None:
        return cls
    desc = descriptor_pb2.DescriptorProto.FromString(raw)
    _proto2(desc)
    if not desc.name:
        raise SchemaError("Invalid proto schema: the descriptor has no message name.")
    fdp = descriptor_pb2.FileDescriptorProto(name="writer_schema.proto", syntax="proto2")
    fdp.message_type.add().CopyFrom(desc)
    pool = descriptor_pool.DescriptorPool()
    try:
        pool.Add(fdp)
        cls = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(desc.name))
    except Exception as e:  # noqa: BLE001 - any descriptor the pool refuses
        raise SchemaError("Invalid proto schema: %s" % e) from None
    with _CLASS_LOCK:
        if len(_CLASS_CACHE) > 256:
            _CLASS_CACHE.clear()
        _CLASS_CACHE[key] = cls
    return cls


def _proto2(desc):
    """Make a proto3 writer's descriptor loadable as proto2, in place: a
    `proto3_optional` field is a plain proto2 optional one (both track
    presence), and its synthetic oneof goes."""
    synthetic = {f.oneof_index for f in desc.field if f.proto3_optional and f.HasField("oneof_index")}
    if synthetic:
        keep = [i for i in range(len(desc.oneof_decl)) if i not in synthetic]
        renumber = {old: new for new, old in enumerate(keep)}
        for f in desc.field:
            if f.proto3_optional:
                f.ClearField("proto3_optional")
                f.ClearField("oneof_index")
            elif f.HasField("oneof_index"):
                f.oneof_index = renumber[f.oneof_index]
        decls = [desc.oneof_decl[i] for i in keep]
        del desc.oneof_decl[:]
        desc.oneof_decl.extend(decls)
    for nested in desc.nested_type:
        _proto2(nested)


class RowDecoder:
    """Decodes the serialized rows of one writer schema for one table."""

    def __init__(self, table, proto_descriptor):
        self.table = table
        self.cls = message_class(proto_descriptor)
        self.plan = _plan(self.cls.DESCRIPTOR, [(f.name, f.type, f.mode) for f in table.fields], "")

    def decode(self, serialized_rows):
        """-> list of JSON objects as insertAll takes them; RowValueError on a bad row."""
        out = []
        cls = self.cls
        for i, raw in enumerate(serialized_rows):
            try:
                msg = cls.FromString(raw)
            except Exception:  # noqa: BLE001 - DecodeError and its kin
                raise RowValueError(i, "Failed to parse the serialized row with the writer schema.")
            try:
                out.append(_convert(msg, self.plan))
            except _BadValue as e:
                raise RowValueError(i, e.message) from None
        return out


class _BadValue(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _plan(desc, columns, prefix):
    """{proto field number: (column name, repeated, converter or None for a value
    taken as it is)} for the proto fields; SchemaError when a field has no column
    or cannot feed it."""
    by_lower = {name.lower(): (name, typ, mode) for name, typ, mode in columns}
    plan = {}
    for f in desc.fields:
        col = by_lower.get(f.name.lower())
        if col is None:
            raise SchemaError("Input schema has more fields than BigQuery schema, extra fields: '%s%s'"
                              % (prefix, f.name))
        name, typ, mode = col
        base = T.array_elem(typ) if T.is_array(typ) else typ
        repeated = mode == "REPEATED" or T.is_array(typ)
        is_rep_field = f.label == FD.LABEL_REPEATED
        if is_rep_field != repeated:
            raise SchemaError("Field %s%s: the proto field is %s but the BigQuery column is %s."
                              % (prefix, f.name, "repeated" if is_rep_field else "not repeated",
                                 "REPEATED" if repeated else mode or "NULLABLE"))
        conv = _converter(f, base, prefix + name)
        plan[f.number] = (name, repeated, None if conv is _same else conv)
    return plan


def _convert(msg, plan):
    """The fields set in msg (ListFields: present scalars, non-empty repeated
    fields) as the JSON object insertAll would have received."""
    obj = {}
    for fd, value in msg.ListFields():
        name, repeated, conv = plan[fd.number]
        if conv is None:
            obj[name] = list(value) if repeated else value
        elif repeated:
            obj[name] = [conv(v) for v in value]
        else:
            obj[name] = conv(value)
    return obj


def _same(v):
    return v


def _mismatch(f, base, where):
    return SchemaError("The proto field %s of type %s cannot be written to the BigQuery column %s of type %s."
                       % (f.name, _proto_type_name(f), where, base))


def _proto_type_name(f):
    for name in dir(FD):
        if name.startswith("TYPE_") and getattr(FD, name) == f.type:
            return name[5:].lower()
    return str(f.type)


def _converter(f, base, where):
    t = f.type
    if T.is_struct(base):
        if t not in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            raise _mismatch(f, base, where)
        cols = []
        required = set(T.struct_required(base))
        for n, ft in T.struct_fields(base):
            cols.append((n, ft, "REQUIRED" if n in required else ("REPEATED" if T.is_array(ft) else "NULLABLE")))
        sub = _plan(f.message_type, cols, where + ".")
        return lambda m: _convert(m, sub)
    if t in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
        raise _mismatch(f, base, where)
    if base == "INT64":
        if t in _INTS or t == FD.TYPE_ENUM:
            return _same        # Python ints already; the Validator checks the range
        if t == FD.TYPE_BOOL:
            return lambda v: 1 if v else 0
        if t == FD.TYPE_STRING:
            return _int_text
    elif base == "FLOAT64":
        if t in _FLOATS:
            return _same
        if t in _INTS:
            return float
        if t == FD.TYPE_STRING:
            return _same
    elif base == "BOOL":
        if t == FD.TYPE_BOOL:
            return _same
        if t in _INTS:
            return lambda v: v != 0
        if t == FD.TYPE_STRING:
            return _same
    elif base in ("STRING", "JSON", "GEOGRAPHY", "INTERVAL"):
        if t == FD.TYPE_STRING:
            return _same
        if t == FD.TYPE_ENUM and base == "STRING":
            values = f.enum_type.values_by_number
            return lambda v: values[v].name if v in values else str(v)
    elif base == "BYTES":
        if t == FD.TYPE_BYTES:
            return lambda v: base64.b64encode(v).decode("ascii")
        if t == FD.TYPE_STRING:
            return lambda v: base64.b64encode(v.encode()).decode("ascii")
    elif base in ("NUMERIC", "BIGNUMERIC"):
        scale = _SCALE[base]
        if t == FD.TYPE_STRING:
            return _same
        if t == FD.TYPE_BYTES:
            return lambda v: _scaled_bytes(v, scale)
        if t in _INTS:
            return str
        if t in _FLOATS:
            return lambda v: repr(float(v))
    elif base == "TIMESTAMP":
        if t in _INT64S or t in _INTS:
            return _micros
        if t == FD.TYPE_STRING:
            return _same
        if t in _FLOATS:
            return _same      # seconds since the epoch, as insertAll reads numbers
    elif base == "DATE":
        if t in _INTS:
            return _days_text
        if t == FD.TYPE_STRING:
            return _same
    elif base == "DATETIME":
        if t == FD.TYPE_STRING:
            return _same
        if t in _INT64S:
            return _packed_datetime
    elif base == "TIME":
        if t == FD.TYPE_STRING:
            return _same
        if t in _INT64S:
            return _packed_time
    raise _mismatch(f, base, where)


def _int_text(v):
    try:
        return int(v.strip(), 10)
    except ValueError:
        raise _BadValue("Cannot convert value %r to INT64." % v) from None


def _scaled_bytes(v, scale):
    n = int.from_bytes(v, "little", signed=True)
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        return str(decimal.Decimal(n).scaleb(-scale))


def _micros(us):
    if us < T.MIN_TS or us > T.MAX_TS:
        raise _BadValue("Timestamp field value is out of range: %d" % us)
    return T.Micros(us)


_MIN_DAY = T.days_from_civil(1, 1, 1)
_MAX_DAY = T.days_from_civil(9999, 12, 31)


def _days_text(days):
    if not _MIN_DAY <= days <= _MAX_DAY:
        raise _BadValue("Date field value is out of range: %d" % days)
    return T.date_text(days)


# CivilTimeEncoding of the Storage Write API: a TIME packs hour (5 bits),
# minute (6), second (6) and microsecond (20); a DATETIME puts year (14 bits),
# month (4) and day (5) above those 37 bits.
def _time_part(v):
    micros = v & 0xFFFFF
    second = (v >> 20) & 0x3F
    minute = (v >> 26) & 0x3F
    hour = (v >> 32) & 0x1F
    if hour > 23 or minute > 59 or second > 59 or micros > 999999:
        raise _BadValue("Invalid packed time value: %d" % v)
    return "%02d:%02d:%02d.%06d" % (hour, minute, second, micros)


def _packed_time(v):
    if v < 0 or v >> 37:
        raise _BadValue("Invalid packed time value: %d" % v)
    return _time_part(v)


def _packed_datetime(v):
    if v < 0:
        raise _BadValue("Invalid packed datetime value: %d" % v)
    day = (v >> 37) & 0x1F
    month = (v >> 42) & 0xF
    year = (v >> 46) & 0x3FFF
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= 31):
        raise _BadValue("Invalid packed datetime value: %d" % v)
    return "%04d-%02d-%02dT%s" % (year, month, day, _time_part(v & ((1 << 37) - 1)))


def validate_rows(validator, objs):
    """Run the table's insertAll Validator over decoded rows: -> (values, parts,
    sizes), or a list of (index, message) for the rows it refuses."""
    good, parts, sizes, errors = [], [], [], []
    for i, obj in enumerate(objs):
        try:
            vals, part, sz = validator.row(obj, False)
        except StoreRowError as e:
            loc = e.location
            errors.append((i, ("%s: %s" % (loc, e.message)) if loc and loc not in e.message else e.message))
            continue
        good.append(vals)
        parts.append(part)
        sizes.append(sz)
    return (good, parts, sizes), errors
