"""Protocol buffer messages of the BigQuery Storage Read API (google.cloud.bigquery.storage.v1).

Owns the message definitions the BigQueryRead service speaks: ReadSession with its
TableReadOptions and TableModifiers, ReadStream, CreateReadSessionRequest,
ReadRowsRequest/Response, SplitReadStreamRequest/Response, AvroSchema, AvroRows,
AvroSerializationOptions, ArrowSchema, ArrowRecordBatch, ArrowSerializationOptions,
StreamStats and ThrottleState, the DataFormat enum, and the service's method paths.

Written here from Google's public API reference (message and field names, field
numbers and types are facts of the wire format), not generated from Google's .proto
files. They are added with messages.define_file() to the pool of the Write API's
messages, so the two APIs share one set of well-known types. Field numbers follow
the reference exactly: a client encodes them, and a wrong one silently loses a field.
"""

from .messages import PACKAGE, define_file

SERVICE = PACKAGE + '.BigQueryRead'

# google.cloud.bigquery.storage.v1.DataFormat
DATA_FORMAT_UNSPECIFIED = 0
AVRO = 1
ARROW = 2

_V1 = '.' + PACKAGE + '.'
_PICOS = [('PICOS_TIMESTAMP_PRECISION_UNSPECIFIED', 0), ('TIMESTAMP_PRECISION_MICROS', 1),
          ('TIMESTAMP_PRECISION_NANOS', 2), ('TIMESTAMP_PRECISION_PICOS', 3)]

_FORMATS = define_file(
    'emulator/google/cloud/bigquery/storage/v1/avro_arrow.proto', PACKAGE,
    {
        'AvroSchema': {'fields': [('schema', 1, 'string')]},
        # row_count is deprecated in favour of ReadRowsResponse.row_count; both are sent
        'AvroRows': {'fields': [('serialized_binary_rows', 1, 'bytes'),
                                ('row_count', 2, 'int64')]},
        'AvroSerializationOptions': {
            'fields': [('enable_display_name_attribute', 1, 'bool'),
                       ('picos_timestamp_precision', 2,
                        'enum:' + _V1 + 'AvroSerializationOptions.PicosTimestampPrecision')],
            'enums': {'PicosTimestampPrecision': _PICOS}},
        'ArrowSchema': {'fields': [('serialized_schema', 1, 'bytes')]},
        'ArrowRecordBatch': {'fields': [('serialized_record_batch', 1, 'bytes'),
                                        ('row_count', 2, 'int64')]},
        'ArrowSerializationOptions': {
            'fields': [('buffer_compression', 2,
                        'enum:' + _V1 + 'ArrowSerializationOptions.CompressionCodec'),
                       ('picos_timestamp_precision', 3,
                        'enum:' + _V1 + 'ArrowSerializationOptions.PicosTimestampPrecision')],
            'enums': {'CompressionCodec': [('COMPRESSION_UNSPECIFIED', 0), ('LZ4_FRAME', 1),
                                           ('ZSTD', 2)],
                      'PicosTimestampPrecision': _PICOS}},
    })

_READ = define_file(
    'emulator/google/cloud/bigquery/storage/v1/read.proto', PACKAGE,
    {
        'ReadStream': {'fields': [('name', 1, 'string')]},
        'ReadSession': {
            'fields': [
                ('name', 1, 'string'),
                ('expire_time', 2, '.google.protobuf.Timestamp'),
                ('data_format', 3, 'enum:' + _V1 + 'DataFormat'),
                ('avro_schema', 4, _V1 + 'AvroSchema', 'oneof=schema'),
                ('arrow_schema', 5, _V1 + 'ArrowSchema', 'oneof=schema'),
                ('table', 6, 'string'),
                ('table_modifiers', 7, _V1 + 'ReadSession.TableModifiers'),
                ('read_options', 8, _V1 + 'ReadSession.TableReadOptions'),
                ('streams', 10, _V1 + 'ReadStream', 'repeated'),
                ('estimated_total_bytes_scanned', 12, 'int64'),
                ('trace_id', 13, 'string'),
                ('estimated_row_count', 14, 'int64'),
                ('estimated_total_physical_file_size', 15, 'int64'),
            ],
            'nested': {
                'TableModifiers': {'fields': [('snapshot_time', 1,
                                               '.google.protobuf.Timestamp')]},
                'TableReadOptions': {
                    'fields': [
                        ('selected_fields', 1, 'string', 'repeated'),
                        ('row_restriction', 2, 'string'),
                        ('arrow_serialization_options', 3, _V1 + 'ArrowSerializationOptions',
                         'oneof=output_format_serialization_options'),
                        ('avro_serialization_options', 4, _V1 + 'AvroSerializationOptions',
                         'oneof=output_format_serialization_options'),
                        # proto3 `optional`: a synthetic oneof each, so presence is known
                        ('sample_percentage', 5, 'double', 'oneof=_sample_percentage'),
                        ('response_compression_codec', 6,
                         'enum:' + _V1 + 'ReadSession.TableReadOptions.ResponseCompressionCodec',
                         'oneof=_response_compression_codec'),
                    ],
                    'enums': {'ResponseCompressionCodec': [
                        ('RESPONSE_COMPRESSION_CODEC_UNSPECIFIED', 0),
                        ('RESPONSE_COMPRESSION_CODEC_LZ4', 2)]}},
            }},
        'CreateReadSessionRequest': {'fields': [
            ('parent', 1, 'string'),
            ('read_session', 2, _V1 + 'ReadSession'),
            ('max_stream_count', 3, 'int32'),
            ('preferred_min_stream_count', 4, 'int32')]},
        'ReadRowsRequest': {'fields': [('read_stream', 1, 'string'), ('offset', 2, 'int64')]},
        'ThrottleState': {'fields': [('throttle_percent', 1, 'int32')]},
        'StreamStats': {
            'fields': [('progress', 2, _V1 + 'StreamStats.Progress')],
            'nested': {'Progress': {'fields': [('at_response_start', 1, 'double'),
                                               ('at_response_end', 2, 'double')]}}},
        'ReadRowsResponse': {'fields': [
            ('stats', 2, _V1 + 'StreamStats'),
            ('avro_rows', 3, _V1 + 'AvroRows', 'oneof=rows'),
            ('arrow_record_batch', 4, _V1 + 'ArrowRecordBatch', 'oneof=rows'),
            ('throttle_state', 5, _V1 + 'ThrottleState'),
            ('row_count', 6, 'int64'),
            ('avro_schema', 7, _V1 + 'AvroSchema', 'oneof=schema'),
            ('arrow_schema', 8, _V1 + 'ArrowSchema', 'oneof=schema'),
            ('uncompressed_byte_size', 9, 'int64', 'oneof=_uncompressed_byte_size')]},
        'SplitReadStreamRequest': {'fields': [('name', 1, 'string'), ('fraction', 2, 'double')]},
        'SplitReadStreamResponse': {'fields': [('primary_stream', 1, _V1 + 'ReadStream'),
                                               ('remainder_stream', 2, _V1 + 'ReadStream')]},
    },
    enums={'DataFormat': [('DATA_FORMAT_UNSPECIFIED', 0), ('AVRO', 1), ('ARROW', 2)]},
    deps=['google/protobuf/timestamp.proto',
          'emulator/google/cloud/bigquery/storage/v1/avro_arrow.proto'])

AvroSchema = _FORMATS['AvroSchema']
AvroRows = _FORMATS['AvroRows']
AvroSerializationOptions = _FORMATS['AvroSerializationOptions']
ArrowSchema = _FORMATS['ArrowSchema']
ArrowRecordBatch = _FORMATS['ArrowRecordBatch']
ArrowSerializationOptions = _FORMATS['ArrowSerializationOptions']
ReadStream = _READ['ReadStream']
ReadSession = _READ['ReadSession']
TableModifiers = _READ['ReadSession.TableModifiers']
TableReadOptions = _READ['ReadSession.TableReadOptions']
CreateReadSessionRequest = _READ['CreateReadSessionRequest']
ReadRowsRequest = _READ['ReadRowsRequest']
ReadRowsResponse = _READ['ReadRowsResponse']
ThrottleState = _READ['ThrottleState']
StreamStats = _READ['StreamStats']
Progress = _READ['StreamStats.Progress']
SplitReadStreamRequest = _READ['SplitReadStreamRequest']
SplitReadStreamResponse = _READ['SplitReadStreamResponse']

# gRPC method paths, '/package.Service/Method'
CREATE_READ_SESSION = '/%s/CreateReadSession' % SERVICE
READ_ROWS = '/%s/ReadRows' % SERVICE
SPLIT_READ_STREAM = '/%s/SplitReadStream' % SERVICE
