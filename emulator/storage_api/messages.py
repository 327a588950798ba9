"""Protobuf message classes of the BigQuery Storage API v1, built at import time.

Owns the message definitions the `bigquerystorage` service speaks: they are
written here as Python data (names, field numbers and types taken from
Google's public v1 API reference), turned into FileDescriptorProtos, loaded
into a private descriptor pool and made into classes with message_factory.
No .proto file and no generated code is involved.

Shared by both APIs of the service:
- google.rpc.Status (the `error` of an AppendRowsResponse), google.protobuf's
  Timestamp, Int64Value and Any (the runtime's own well-known types);
- TableSchema / TableFieldSchema, ProtoSchema / ProtoRows (the row
  descriptor travels as a google.protobuf.DescriptorProto);
- the Write API's requests and responses (this module's `WRITE_*` names).

The Read API adds its messages with `define_file()` (see the end of this file)
so both live in one pool and may refer to each other's types.
"""

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf import (any_pb2, descriptor_pb2, descriptor_pool, duration_pb2,
                             message_factory, timestamp_pb2, wrappers_pb2)

PACKAGE = "google.cloud.bigquery.storage.v1"

POOL = descriptor_pool.DescriptorPool()
for _wkt in (descriptor_pb2, any_pb2, timestamp_pb2, wrappers_pb2, duration_pb2):
    POOL.AddSerializedFile(_wkt.DESCRIPTOR.serialized_pb)
_FACTORY = message_factory.MessageFactory(POOL)

_SCALARS = {
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}

_LABELS = {
    "optional": descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    "repeated": descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
}


def _field(msg, spec, oneofs):
    """spec: (name, number, type[, "repeated"][, oneof=NAME]) where type is a
    scalar name, "enum:.pkg.Enum" or a message's full name with a leading dot."""
    name, number, typ = spec[0], spec[1], spec[2]
    label = "optional"
    oneof = None
    for extra in spec[3:]:
        if extra == "repeated":
            label = "repeated"
        elif extra.startswith("oneof="):
            oneof = extra[len("oneof="):]
    f = msg.field.add(name=name, number=number, label=_LABELS[label])
    if typ in _SCALARS:
        f.type = _SCALARS[typ]
    elif typ.startswith("enum:"):
        f.type = descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
        f.type_name = typ[len("enum:"):]
    else:
        f.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
        f.type_name = typ
    if oneof is not None:
        if oneof not in oneofs:
            oneofs[oneof] = len(msg.oneof_decl)
            msg.oneof_decl.add(name=oneof)
        f.oneof_index = oneofs[oneof]


def _message(container, name, body):
    """body: {"fields": [...], "enums": {Name: [(VALUE, n), ...]},
    "nested": {Name: body}, "map_entry": bool}"""
    msg = container.add(name=name)
    if body.get("map_entry"):
        msg.options.map_entry = True
    oneofs = {}
    for spec in body.get("fields", ()):
        _field(msg, spec, oneofs)
    for ename, values in body.get("enums", {}).items():
        e = msg.enum_type.add(name=ename)
        for vname, vnum in values:
            e.value.add(name=vname, number=vnum)
    for nname, nbody in body.get("nested", {}).items():
        _message(msg.nested_type, nname, nbody)
    return msg


def define_file(filename, package, messages, enums=None, deps=()):
    """Add one file of message definitions to the pool and return its message
    classes by simple name (nested ones as "Outer.Inner").

    messages: {Name: body} in the form `_message` takes; enums: {Name: [(VALUE, n)]}
    at file level; deps: file names this file's types refer to."""
    fdp = descriptor_pb2.FileDescriptorProto(name=filename, package=package, syntax="proto3")
    fdp.dependency.extend(deps)
    for ename, values in (enums or {}).items():
        e = fdp.enum_type.add(name=ename)
        for vname, vnum in values:
            e.value.add(name=vname, number=vnum)
    for name, body in messages.items():
        _message(fdp.message_type, name, body)
    POOL.Add(fdp)
    out = {}

    def collect(full, simple):
        desc = POOL.FindMessageTypeByName(full)
        out[simple] = _FACTORY.GetPrototype(desc)
        for nested in desc.nested_types:
            if not nested.GetOptions().map_entry:
                collect(nested.full_name, simple + "." + nested.name)

    for name in messages:
        collect("%s.%s" % (package, name), name)
    return out


def enum_value(full_enum_name, value_name):
    return POOL.FindEnumTypeByName(full_enum_name).values_by_name[value_name].number


# ------------------------------------------------------------------ google.rpc
_RPC = define_file(
    "emulator/google/rpc/status.proto", "google.rpc",
    {"Status": {"fields": [("code", 1, "int32"), ("message", 2, "string"),
                           ("details", 3, ".google.protobuf.Any", "repeated")]}},
    deps=["google/protobuf/any.proto"])
Status = _RPC["Status"]

# ------------------------------------------------------------------ shared: table, protobuf
_V1 = "." + PACKAGE + "."

_TABLE = define_file(
    "emulator/google/cloud/bigquery/storage/v1/table.proto", PACKAGE,
    {
        "TableSchema": {"fields": [("fields", 1, _V1 + "TableFieldSchema", "repeated")]},
        "TableFieldSchema": {
            "fields": [
                ("name", 1, "string"),
                ("type", 2, "enum:" + _V1 + "TableFieldSchema.Type"),
                ("mode", 3, "enum:" + _V1 + "TableFieldSchema.Mode"),
                ("fields", 4, _V1 + "TableFieldSchema", "repeated"),
                ("description", 6, "string"),
                ("max_length", 7, "int64"),
                ("precision", 8, "int64"),
                ("scale", 9, "int64"),
                ("default_value_expression", 10, "string"),
                ("range_element_type", 11, _V1 + "TableFieldSchema.FieldElementType"),
            ],
            "enums": {
                "Type": [("TYPE_UNSPECIFIED", 0), ("STRING", 1), ("INT64", 2), ("DOUBLE", 3),
                         ("STRUCT", 4), ("BYTES", 5), ("BOOL", 6), ("TIMESTAMP", 7), ("DATE", 8),
                         ("TIME", 9), ("DATETIME", 10), ("GEOGRAPHY", 11), ("NUMERIC", 12),
                         ("BIGNUMERIC", 13), ("INTERVAL", 14), ("JSON", 15), ("RANGE", 16)],
                "Mode": [("MODE_UNSPECIFIED", 0), ("NULLABLE", 1), ("REQUIRED", 2), ("REPEATED", 3)],
            },
            "nested": {"FieldElementType": {
                "fields": [("type", 1, "enum:" + _V1 + "TableFieldSchema.Type")]}},
        },
    })
TableSchema = _TABLE["TableSchema"]
TableFieldSchema = _TABLE["TableFieldSchema"]

_PROTOBUF = define_file(
    "emulator/google/cloud/bigquery/storage/v1/protobuf.proto", PACKAGE,
    {
        "ProtoSchema": {"fields": [("proto_descriptor", 1, ".google.protobuf.DescriptorProto")]},
        "ProtoRows": {"fields": [("serialized_rows", 1, "bytes", "repeated")]},
    },
    deps=["google/protobuf/descriptor.proto"])
ProtoSchema = _PROTOBUF["ProtoSchema"]
ProtoRows = _PROTOBUF["ProtoRows"]

# ------------------------------------------------------------------ Write API
_WRITE = define_file(
    "emulator/google/cloud/bigquery/storage/v1/write.proto", PACKAGE,
    {
        "WriteStream": {
            "fields": [
                ("name", 1, "string"),
                ("type", 2, "enum:" + _V1 + "WriteStream.Type"),
                ("create_time", 3, ".google.protobuf.Timestamp"),
                ("commit_time", 4, ".google.protobuf.Timestamp"),
                ("table_schema", 5, _V1 + "TableSchema"),
                ("write_mode", 7, "enum:" + _V1 + "WriteStream.WriteMode"),
                ("location", 8, "string"),
            ],
            "enums": {
                "Type": [("TYPE_UNSPECIFIED", 0), ("COMMITTED", 1), ("PENDING", 2), ("BUFFERED", 3)],
                "WriteMode": [("WRITE_MODE_UNSPECIFIED", 0), ("INSERT", 1)],
            },
        },
        "CreateWriteStreamRequest": {"fields": [("parent", 1, "string"),
                                                ("write_stream", 2, _V1 + "WriteStream")]},
        "AppendRowsRequest": {
            "fields": [
                ("write_stream", 1, "string"),
                ("offset", 2, ".google.protobuf.Int64Value"),
                ("proto_rows", 4, _V1 + "AppendRowsRequest.ProtoData", "oneof=rows"),
                ("trace_id", 6, "string"),
                ("missing_value_interpretations", 7,
                 _V1 + "AppendRowsRequest.MissingValueInterpretationsEntry", "repeated"),
                ("default_missing_value_interpretation", 8,
                 "enum:" + _V1 + "AppendRowsRequest.MissingValueInterpretation"),
            ],
            "enums": {"MissingValueInterpretation": [
                ("MISSING_VALUE_INTERPRETATION_UNSPECIFIED", 0), ("NULL_VALUE", 1),
                ("DEFAULT_VALUE", 2)]},
            "nested": {
                "ProtoData": {"fields": [("writer_schema", 1, _V1 + "ProtoSchema"),
                                         ("rows", 2, _V1 + "ProtoRows")]},
                "MissingValueInterpretationsEntry": {
                    "map_entry": True,
                    "fields": [("key", 1, "string"),
                               ("value", 2, "enum:" + _V1 + "AppendRowsRequest.MissingValueInterpretation")]},
            },
        },
        "AppendRowsResponse": {
            "fields": [
                ("append_result", 1, _V1 + "AppendRowsResponse.AppendResult", "oneof=response"),
                ("error", 2, ".google.rpc.Status", "oneof=response"),
                ("updated_schema", 3, _V1 + "TableSchema"),
                ("row_errors", 4, _V1 + "RowError", "repeated"),
                ("write_stream", 5, "string"),
            ],
            "nested": {"AppendResult": {"fields": [("offset", 1, ".google.protobuf.Int64Value")]}},
        },
        "GetWriteStreamRequest": {"fields": [("name", 1, "string"),
                                             ("view", 3, "enum:" + _V1 + "WriteStreamView")]},
        "BatchCommitWriteStreamsRequest": {"fields": [("parent", 1, "string"),
                                                      ("write_streams", 2, "string", "repeated")]},
        "BatchCommitWriteStreamsResponse": {"fields": [
            ("commit_time", 1, ".google.protobuf.Timestamp"),
            ("stream_errors", 2, _V1 + "StorageError", "repeated")]},
        "FinalizeWriteStreamRequest": {"fields": [("name", 1, "string")]},
        "FinalizeWriteStreamResponse": {"fields": [("row_count", 1, "int64")]},
        "FlushRowsRequest": {"fields": [("write_stream", 1, "string"),
                                        ("offset", 2, ".google.protobuf.Int64Value")]},
        "FlushRowsResponse": {"fields": [("offset", 1, "int64")]},
        "StorageError": {
            "fields": [("code", 1, "enum:" + _V1 + "StorageError.StorageErrorCode"),
                       ("entity", 2, "string"), ("error_message", 3, "string")],
            "enums": {"StorageErrorCode": [
                ("STORAGE_ERROR_CODE_UNSPECIFIED", 0), ("TABLE_NOT_FOUND", 1),
                ("STREAM_ALREADY_COMMITTED", 2), ("STREAM_NOT_FOUND", 3), ("INVALID_STREAM_TYPE", 4),
                ("INVALID_STREAM_STATE", 5), ("STREAM_FINALIZED", 6),
                ("SCHEMA_MISMATCH_EXTRA_FIELDS", 7), ("OFFSET_ALREADY_EXISTS", 8),
                ("OFFSET_OUT_OF_RANGE", 9), ("CMEK_NOT_PROVIDED", 10), ("INVALID_CMEK_PROVIDED", 11),
                ("CMEK_ENCRYPTION_ERROR", 12), ("KMS_SERVICE_ERROR", 13),
                ("KMS_PERMISSION_DENIED", 14)]},
        },
        "RowError": {
            "fields": [("index", 1, "int64"), ("code", 2, "enum:" + _V1 + "RowError.RowErrorCode"),
                       ("message", 3, "string")],
            "enums": {"RowErrorCode": [("ROW_ERROR_CODE_UNSPECIFIED", 0), ("FIELDS_ERROR", 1)]},
        },
    },
    enums={"WriteStreamView": [("WRITE_STREAM_VIEW_UNSPECIFIED", 0), ("BASIC", 1), ("FULL", 2)]},
    deps=["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto",
          "emulator/google/rpc/status.proto",
          "emulator/google/cloud/bigquery/storage/v1/table.proto",
          "emulator/google/cloud/bigquery/storage/v1/protobuf.proto"])

WriteStream = _WRITE["WriteStream"]
CreateWriteStreamRequest = _WRITE["CreateWriteStreamRequest"]
AppendRowsRequest = _WRITE["AppendRowsRequest"]
AppendRowsResponse = _WRITE["AppendRowsResponse"]
GetWriteStreamRequest = _WRITE["GetWriteStreamRequest"]
BatchCommitWriteStreamsRequest = _WRITE["BatchCommitWriteStreamsRequest"]
BatchCommitWriteStreamsResponse = _WRITE["BatchCommitWriteStreamsResponse"]
FinalizeWriteStreamRequest = _WRITE["FinalizeWriteStreamRequest"]
FinalizeWriteStreamResponse = _WRITE["FinalizeWriteStreamResponse"]
FlushRowsRequest = _WRITE["FlushRowsRequest"]
FlushRowsResponse = _WRITE["FlushRowsResponse"]
StorageError = _WRITE["StorageError"]
RowError = _WRITE["RowError"]
WriteStreamView = EnumTypeWrapper(POOL.FindEnumTypeByName(PACKAGE + ".WriteStreamView"))

# The runtime's own classes for the well-known types, for building values.
Timestamp = _FACTORY.GetPrototype(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
Int64Value = _FACTORY.GetPrototype(POOL.FindMessageTypeByName("google.protobuf.Int64Value"))
Any = _FACTORY.GetPrototype(POOL.FindMessageTypeByName("google.protobuf.Any"))

# ------------------------------------------------------------------ Read API
# The Read API's messages (ReadSession, ReadRowsRequest, ...) are added by
# storage_api/read*.py with define_file(), depending on the files above.
