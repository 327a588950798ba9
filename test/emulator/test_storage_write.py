"""The bigquerystorage service's Storage Write API, driven over real gRPC.

Client stubs are built from the emulator's own message classes
(emulator/storage_api/messages.py); rows are encoded with message classes
made from DescriptorProtos written here, as a client's writer schema would
be. Checked: stream types and their visibility rules, offsets, the default
stream, schema and row errors, type conversions, limits, persistence across
a restart, the 24-hour expiry of uncommitted data through the emulator's
clock, fault injection (a stream broken after the rows were stored), auth.
"""

import shutil
import tempfile
import threading
import unittest

import grpc
from google.protobuf import descriptor_pb2

from emulator.storage_api import messages as M
from emulator.storage_api.rows import message_class
from test.emulator.helpers import EmulatorProcess

FD = descriptor_pb2.FieldDescriptorProto
SERVICE = "/google.cloud.bigquery.storage.v1.BigQueryWrite/"
COMMITTED, PENDING, BUFFERED = 1, 2, 3
SE = M.StorageError.StorageErrorCode


class WriteClient:
    """Thin stubs over one channel, one per method."""

    def __init__(self, port, token=None):
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % port,
                                             options=[("grpc.max_send_message_length", 64 << 20)])
        self.md = (("authorization", "Bearer " + token),) if token else None

        def unary(name, req, resp):
            call = self.channel.unary_unary(SERVICE + name, request_serializer=req.SerializeToString,
                                            response_deserializer=resp.FromString)
            return lambda r, **kw: call(r, metadata=self.md, timeout=30, **kw)

        self.create = unary("CreateWriteStream", M.CreateWriteStreamRequest, M.WriteStream)
        self.get = unary("GetWriteStream", M.GetWriteStreamRequest, M.WriteStream)
        self.finalize = unary("FinalizeWriteStream", M.FinalizeWriteStreamRequest, M.FinalizeWriteStreamResponse)
        self.commit = unary("BatchCommitWriteStreams", M.BatchCommitWriteStreamsRequest,
                            M.BatchCommitWriteStreamsResponse)
        self.flush = unary("FlushRows", M.FlushRowsRequest, M.FlushRowsResponse)
        self._append = self.channel.stream_stream(SERVICE + "AppendRows",
                                                  request_serializer=M.AppendRowsRequest.SerializeToString,
                                                  response_deserializer=M.AppendRowsResponse.FromString)

    def append(self, requests):
        """Send requests on one AppendRows connection; -> list of responses."""
        return list(self._append(iter(requests), metadata=self.md, timeout=30))

    def close(self):
        self.channel.close()


def descriptor(name, fields, nested=()):
    """fields: (name, number, FD type, label[, type_name])."""
    d = descriptor_pb2.DescriptorProto(name=name)
    for spec in fields:
        f = d.field.add(name=spec[0], number=spec[1], type=spec[2], label=spec[3] if len(spec) > 3 else 1)
        if len(spec) > 4:
            f.type_name = spec[4]
    for n in nested:
        d.nested_type.add().CopyFrom(n)
    return d


def request(stream=None, rows=(), desc=None, offset=None):
    r = M.AppendRowsRequest()
    if stream:
        r.write_stream = stream
    if offset is not None:
        r.offset.value = offset
    if desc is not None:
        r.proto_rows.writer_schema.proto_descriptor.MergeFromString(desc.SerializeToString())
    r.proto_rows.rows.serialized_rows.extend(m.SerializeToString() for m in rows)
    if not rows:
        r.proto_rows.rows.SetInParent()
    return r


ORDER_DESC = descriptor("Order", [("id", 1, FD.TYPE_INT64), ("name", 2, FD.TYPE_STRING)])
Order = message_class(ORDER_DESC)


class StorageWriteBase(unittest.TestCase):
    extra_args = ()
    data_dir = None

    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess(services=("bigquery", "bigquerystorage"), extra_args=list(cls.extra_args),
                                  data_dir=cls.data_dir)
        cls.client = WriteClient(cls.emu.ports["bigquerystorage"])
        cls.counter = 0
        st, body = cls.bq("POST", "/bigquery/v2/projects/p/datasets", {"datasetReference": {"datasetId": "d"}})
        assert st == 200, body

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.emu.stop()

    @classmethod
    def bq(cls, method, path, body=None):
        return cls.emu.call(method, path, body, service="bigquery")

    def new_table(self, fields=None):
        type(self).counter += 1
        tid = "t%d" % self.counter
        fields = fields or [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"}]
        st, body = self.bq("POST", "/bigquery/v2/projects/p/datasets/d/tables",
                           {"tableReference": {"tableId": tid}, "schema": {"fields": fields}})
        self.assertEqual(st, 200, body)
        return "projects/p/datasets/d/tables/" + tid

    def stream(self, table, typ=COMMITTED):
        return self.client.create(M.CreateWriteStreamRequest(parent=table, write_stream=M.WriteStream(type=typ)))

    def rows(self, table):
        """The table's rows as tabledata.list sees them: [[cell values]]."""
        st, body = self.bq("GET", "/bigquery/v2/%s/data" % table.replace("/tables/", "/tables/", 1))
        self.assertEqual(st, 200, body)
        return [[c["v"] for c in r["f"]] for r in body.get("rows", [])]

    def query(self, sql):
        st, body = self.bq("POST", "/bigquery/v2/projects/p/queries", {"query": sql, "useLegacySql": False})
        self.assertEqual(st, 200, body)
        return [[c["v"] for c in r["f"]] for r in body.get("rows", [])]

    def assertAborted(self, ctx, code):
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())

    def storage_error(self, status):
        """The StorageError detail of a google.rpc.Status."""
        self.assertEqual(len(status.details), 1, status)
        se = M.StorageError()
        self.assertTrue(status.details[0].Unpack(se))
        return se


class WriteStreamTests(StorageWriteBase):
    def test_committed_stream_offsets(self):
        table = self.new_table()
        ws = self.stream(table)
        self.assertEqual(ws.type, COMMITTED)
        self.assertTrue(ws.name.startswith(table + "/streams/"))
        self.assertEqual([f.name for f in ws.table_schema.fields], ["id", "name"])
        out = self.client.append([
            request(ws.name, [Order(id=1, name="a"), Order(id=2)], ORDER_DESC, offset=0),
            request(None, [Order(id=3)], offset=2),
            request(None, [Order(id=99)], offset=1),        # already there
            request(None, [Order(id=99)], offset=7),        # beyond the end
            request(None, [Order(id=4)]),                   # no offset: at the end
            request(None, [Order(id=5)], offset=4),
        ])
        self.assertEqual([r.WhichOneof("response") for r in out],
                         ["append_result", "append_result", "error", "error", "append_result", "append_result"])
        self.assertEqual([out[i].append_result.offset.value for i in (0, 1, 4, 5)], [0, 2, 3, 4])
        self.assertEqual(out[2].error.code, grpc.StatusCode.ALREADY_EXISTS.value[0])
        self.assertEqual(self.storage_error(out[2].error).code, SE.Value("OFFSET_ALREADY_EXISTS"))
        self.assertEqual(out[3].error.code, grpc.StatusCode.OUT_OF_RANGE.value[0])
        self.assertEqual(self.storage_error(out[3].error).code, SE.Value("OFFSET_OUT_OF_RANGE"))
        self.assertTrue(all(r.write_stream == ws.name for r in out))
        # visible at once, to tabledata.list and to queries
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [1, 2, 3, 4, 5])
        self.assertEqual(self.query("SELECT count(*) FROM d.%s" % table.rsplit("/", 1)[1]), [["5"]])
        got = self.client.get(M.GetWriteStreamRequest(name=ws.name))
        self.assertEqual(got.name, ws.name)
        self.assertFalse(got.HasField("table_schema"))           # BASIC view
        got = self.client.get(M.GetWriteStreamRequest(name=ws.name, view=M.WriteStreamView.Value("FULL")))
        self.assertEqual(len(got.table_schema.fields), 2)
        self.assertEqual(self.client.finalize(M.FinalizeWriteStreamRequest(name=ws.name)).row_count, 5)
        out = self.client.append([request(ws.name, [Order(id=6)], ORDER_DESC, offset=5)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(self.storage_error(out[0].error).code, SE.Value("STREAM_FINALIZED"))
        self.assertEqual(len(self.rows(table)), 5)

    def test_default_stream(self):
        table = self.new_table()
        name = table + "/streams/_default"
        out = self.client.append([request(name, [Order(id=1)], ORDER_DESC),
                                  request(None, [Order(id=2), Order(id=3)])])
        self.assertEqual([r.WhichOneof("response") for r in out], ["append_result"] * 2)
        self.assertFalse(out[0].append_result.HasField("offset"))
        out = self.client.append([request(name, [Order(id=4)], ORDER_DESC, offset=3)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [1, 2, 3])
        ws = self.client.get(M.GetWriteStreamRequest(name=name, view=M.WriteStreamView.Value("FULL")))
        self.assertEqual(ws.type, COMMITTED)
        self.assertEqual([f.name for f in ws.table_schema.fields], ["id", "name"])
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.finalize(M.FinalizeWriteStreamRequest(name=name))
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)

    def test_pending_streams_commit_atomically(self):
        table = self.new_table()
        a, b, c = self.stream(table, PENDING), self.stream(table, PENDING), self.stream(table, PENDING)
        for i, ws in enumerate((a, b, c)):
            out = self.client.append([request(ws.name, [Order(id=10 * i + 1), Order(id=10 * i + 2)],
                                              ORDER_DESC, offset=0)])
            self.assertEqual(out[0].append_result.offset.value, 0)
        self.assertEqual(self.rows(table), [])                   # invisible until committed
        self.assertEqual(self.client.finalize(M.FinalizeWriteStreamRequest(name=a.name)).row_count, 2)
        self.assertEqual(self.client.finalize(M.FinalizeWriteStreamRequest(name=b.name)).row_count, 2)
        # c is not finalized: nothing of the batch is committed
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table,
                                                                   write_streams=[a.name, b.name, c.name]))
        self.assertFalse(resp.HasField("commit_time"))
        self.assertEqual([(e.entity, e.code) for e in resp.stream_errors],
                         [(c.name, SE.Value("INVALID_STREAM_STATE"))])
        self.assertEqual(self.rows(table), [])
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table, write_streams=[a.name, b.name]))
        self.assertTrue(resp.HasField("commit_time"), resp)
        self.assertEqual(len(resp.stream_errors), 0)
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [1, 2, 11, 12])
        got = self.client.get(M.GetWriteStreamRequest(name=a.name))
        self.assertTrue(got.HasField("commit_time"))
        # a commit repeated (its answer lost) says so and stores nothing twice
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table, write_streams=[a.name]))
        self.assertEqual([e.code for e in resp.stream_errors], [SE.Value("STREAM_ALREADY_COMMITTED")])
        self.assertEqual(len(self.rows(table)), 4)
        # a committed stream refuses appends
        out = self.client.append([request(a.name, [Order(id=7)], ORDER_DESC, offset=2)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        # a stream that does not exist, and a committed-type stream, cannot be committed
        ws = self.stream(table, COMMITTED)
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(
            parent=table, write_streams=[table + "/streams/nosuch", ws.name]))
        self.assertEqual([e.code for e in resp.stream_errors],
                         [SE.Value("STREAM_NOT_FOUND"), SE.Value("INVALID_STREAM_TYPE")])

    def test_buffered_stream_flush(self):
        table = self.new_table()
        ws = self.stream(table, BUFFERED)
        self.client.append([request(ws.name, [Order(id=i) for i in range(5)], ORDER_DESC, offset=0),
                            request(None, [Order(id=5)], offset=5)])
        self.assertEqual(self.rows(table), [])
        self.assertEqual(self.client.flush(M.FlushRowsRequest(write_stream=ws.name,
                                                              offset={"value": 2})).offset, 2)
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [0, 1, 2])
        self.client.flush(M.FlushRowsRequest(write_stream=ws.name, offset={"value": 1}))   # nothing new
        self.client.flush(M.FlushRowsRequest(write_stream=ws.name, offset={"value": 5}))
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [0, 1, 2, 3, 4, 5])
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.flush(M.FlushRowsRequest(write_stream=ws.name, offset={"value": 6}))
        self.assertAborted(ctx, grpc.StatusCode.OUT_OF_RANGE)
        committed = self.stream(table)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.flush(M.FlushRowsRequest(write_stream=committed.name, offset={"value": 0}))
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)

    def test_not_found(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stream("projects/p/datasets/d/tables/nosuch")
        self.assertAborted(ctx, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request("projects/p/datasets/d/tables/nosuch/streams/_default",
                                        [Order(id=1)], ORDER_DESC)])
        self.assertAborted(ctx, grpc.StatusCode.NOT_FOUND)
        table = self.new_table()
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.get(M.GetWriteStreamRequest(name=table + "/streams/nosuch"))
        self.assertAborted(ctx, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.create(M.CreateWriteStreamRequest(parent="not a table", write_stream={"type": 1}))
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stream(table, 0)
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)

    def test_first_request_needs_the_writer_schema(self):
        table = self.new_table()
        ws = self.stream(table)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request(ws.name, [Order(id=1)], offset=0)])
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request(None, [Order(id=1)], ORDER_DESC)])
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(self.rows(table), [])

    def test_row_errors_append_nothing(self):
        table = self.new_table([{"name": "id", "type": "INT64", "mode": "REQUIRED"},
                                {"name": "amount", "type": "NUMERIC"}])
        desc = descriptor("R", [("id", 1, FD.TYPE_INT64), ("amount", 2, FD.TYPE_STRING)])
        R = message_class(desc)
        ws = self.stream(table)
        out = self.client.append([
            request(ws.name, [R(id=1, amount="1.5"), R(amount="2"), R(id=3, amount="abc")], desc, offset=0),
            request(None, [R(id=1, amount="1.5")], offset=0)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual([e.index for e in out[0].row_errors], [1, 2])
        self.assertIn("id", out[0].row_errors[0].message)
        self.assertEqual(out[0].row_errors[0].code, M.RowError.RowErrorCode.Value("FIELDS_ERROR"))
        # nothing of the refused request was appended: offset 0 is still free
        self.assertEqual(out[1].append_result.offset.value, 0)
        self.assertEqual(self.rows(table), [["1", "1.5"]])

    def test_schema_mismatch(self):
        table = self.new_table()
        ws = self.stream(table)
        extra = descriptor("X", [("id", 1, FD.TYPE_INT64), ("colour", 2, FD.TYPE_STRING)])
        out = self.client.append([request(ws.name, [message_class(extra)(id=1)], extra, offset=0)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(self.storage_error(out[0].error).code, SE.Value("SCHEMA_MISMATCH_EXTRA_FIELDS"))
        wrong = descriptor("W", [("id", 1, FD.TYPE_STRING), ("name", 2, FD.TYPE_BOOL)])
        out = self.client.append([request(ws.name, [message_class(wrong)(id="1")], wrong, offset=0)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertIn("name", out[0].error.message)
        self.assertEqual(self.rows(table), [])

    def test_request_over_10_mb(self):
        table = self.new_table()
        ws = self.stream(table)
        big = [Order(id=i, name="x" * 100000) for i in range(110)]
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request(ws.name, big, ORDER_DESC, offset=0)])
        self.assertAborted(ctx, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("too large", ctx.exception.details())
        out = self.client.append([request(ws.name, big[:90], ORDER_DESC, offset=0)])   # ~9 MB
        self.assertEqual(out[0].append_result.offset.value, 0)

    def test_type_conversions(self):
        fields = [{"name": n, "type": t, "mode": m} for n, t, m in (
            ("i", "INT64", "NULLABLE"), ("i32", "INT64", "NULLABLE"), ("f", "FLOAT64", "NULLABLE"),
            ("b", "BOOL", "NULLABLE"), ("s", "STRING", "NULLABLE"), ("bys", "BYTES", "NULLABLE"),
            ("n", "NUMERIC", "NULLABLE"), ("nb", "NUMERIC", "NULLABLE"), ("bn", "BIGNUMERIC", "NULLABLE"),
            ("ts", "TIMESTAMP", "NULLABLE"), ("tss", "TIMESTAMP", "NULLABLE"), ("dt", "DATE", "NULLABLE"),
            ("dts", "DATE", "NULLABLE"), ("dtm", "DATETIME", "NULLABLE"), ("tm", "TIME", "NULLABLE"),
            ("j", "JSON", "NULLABLE"), ("tags", "STRING", "REPEATED"), ("nums", "INT64", "REPEATED"))]
        fields.append({"name": "rec", "type": "RECORD", "mode": "NULLABLE",
                       "fields": [{"name": "x", "type": "INT64"}, {"name": "y", "type": "STRING"}]})
        table = self.new_table(fields)
        rec = descriptor("Rec", [("x", 1, FD.TYPE_INT64), ("y", 2, FD.TYPE_STRING)])
        desc = descriptor("All", [
            ("i", 1, FD.TYPE_INT64), ("i32", 2, FD.TYPE_INT32), ("f", 3, FD.TYPE_DOUBLE), ("b", 4, FD.TYPE_BOOL),
            ("s", 5, FD.TYPE_STRING), ("bys", 6, FD.TYPE_BYTES), ("n", 7, FD.TYPE_STRING),
            ("nb", 8, FD.TYPE_BYTES), ("bn", 9, FD.TYPE_STRING), ("ts", 10, FD.TYPE_INT64),
            ("tss", 11, FD.TYPE_STRING), ("dt", 12, FD.TYPE_INT32), ("dts", 13, FD.TYPE_STRING),
            ("dtm", 14, FD.TYPE_INT64), ("tm", 15, FD.TYPE_STRING), ("j", 16, FD.TYPE_STRING),
            ("tags", 17, FD.TYPE_STRING, FD.LABEL_REPEATED), ("nums", 18, FD.TYPE_INT64, FD.LABEL_REPEATED),
            ("rec", 19, FD.TYPE_MESSAGE, 1, "All.Rec")], nested=[rec])
        All = message_class(desc)
        # NUMERIC as bytes: -1.5 scaled by 10^9, two's complement little-endian
        nb = (-1500000000).to_bytes(8, "little", signed=True)
        # DATETIME 2024-02-29T13:14:15.000016 in the packed civil-time encoding
        packed = (2024 << 46) | (2 << 42) | (29 << 37) | (13 << 32) | (14 << 26) | (15 << 20) | 16
        row = All(i=-(2 ** 63), i32=-5, f=2.5, b=True, s="héllo", bys=b"\x00\xff", n="123.456789",
                  nb=nb, bn="1.00000000000000000000000000000000000001", ts=1700000000123456,
                  tss="2024-01-02 03:04:05.5+00", dt=19000, dts="2024-03-01", dtm=packed, tm="23:59:59.999999",
                  j='{"a": [1, 2]}', tags=["x", "y"], nums=[1, 2, 3])
        row.rec.x = 7
        row.rec.y = "z"
        ws = self.stream(table)
        out = self.client.append([request(ws.name, [row, All()], desc, offset=0)])
        self.assertEqual(out[0].WhichOneof("response"), "append_result", out[0])
        got = [r for r in self.rows(table) if r[0] is not None]
        self.assertEqual(got, [[str(-(2 ** 63)), "-5", "2.5", "true", "héllo", "AP8=", "123.456789", "-1.5",
                                "1.00000000000000000000000000000000000001", "1.700000000123456E9",
                                "1.7041646455E9", "2022-01-08", "2024-03-01", "2024-02-29T13:14:15.000016",
                                "23:59:59.999999", '{"a":[1,2]}', [{"v": "x"}, {"v": "y"}],
                                [{"v": "1"}, {"v": "2"}, {"v": "3"}], {"f": [{"v": "7"}, {"v": "z"}]}]])
        self.assertEqual(self.query("SELECT count(*) FROM d.%s WHERE i IS NULL AND ARRAY_LENGTH(tags) = 0"
                                    % table.rsplit("/", 1)[1]), [["1"]])

    def test_proto3_encoding(self):
        """A proto3 writer's rows: packed repeated fields, defaults left out."""
        table = self.new_table([{"name": "id", "type": "INT64"}, {"name": "nums", "type": "INT64",
                                                                    "mode": "REPEATED"}])
        desc = descriptor("P3", [("id", 1, FD.TYPE_INT64), ("nums", 2, FD.TYPE_INT64, FD.LABEL_REPEATED)])
        # id 5, nums packed [1, 300]: field 2 as one length-delimited run
        raw = bytes([0x08, 5, 0x12, 3, 1, 0xAC, 0x02])
        req = request(self.stream(table).name, [], desc, offset=0)
        req.proto_rows.rows.serialized_rows.append(raw)
        out = self.client.append([req])
        self.assertEqual(out[0].WhichOneof("response"), "append_result", out[0])
        self.assertEqual(self.rows(table), [["5", [{"v": "1"}, {"v": "300"}]]])
        # `optional` in proto3: a synthetic oneof, and an explicit 0 that is not NULL
        opt = descriptor("P3opt", [("id", 1, FD.TYPE_INT64)])
        opt.oneof_decl.add(name="_id")
        opt.field[0].proto3_optional = True
        opt.field[0].oneof_index = 0
        req = request(table + "/streams/_default", [], opt)
        req.proto_rows.rows.serialized_rows.extend([bytes([0x08, 0]), b""])
        out = self.client.append([req])
        self.assertEqual(out[0].WhichOneof("response"), "append_result", out[0])
        self.assertEqual(self.rows(table)[1:], [["0", []], [None, []]])

    def test_timestamps_in_arrays_and_records(self):
        """int64 microseconds keep their unit wherever the TIMESTAMP is (insertAll
        would read a number as seconds)."""
        table = self.new_table([{"name": "tss", "type": "TIMESTAMP", "mode": "REPEATED"},
                                {"name": "rec", "type": "RECORD", "fields": [{"name": "at", "type": "TIMESTAMP"}]},
                                {"name": "extra", "type": "STRING"}])
        rec = descriptor("Rec", [("at", 1, FD.TYPE_INT64)])
        desc = descriptor("T", [("tss", 1, FD.TYPE_INT64, FD.LABEL_REPEATED),
                                ("rec", 2, FD.TYPE_MESSAGE, 1, "T.Rec"),
                                ("EXTRA", 3, FD.TYPE_STRING)], nested=[rec])
        Row = message_class(desc)
        row = Row(tss=[0, 1700000000000001], EXTRA="case aside")
        row.rec.at = 86400000000
        out = self.client.append([request(table + "/streams/_default", [row], desc)])
        self.assertEqual(out[0].WhichOneof("response"), "append_result", out[0])
        self.assertEqual(self.rows(table), [[[{"v": "0.0"}, {"v": "1.700000000000001E9"}],
                                             {"f": [{"v": "86400.0"}]}, "case aside"]])

    def test_dml_may_change_rows_appended_at_once(self):
        """Unlike insertAll's streaming buffer, rows written through the Storage
        Write API can be changed by DML at once (Google's DML limitations)."""
        table = self.new_table()
        tid = table.rsplit("/", 1)[1]
        self.client.append([request(table + "/streams/_default", [Order(id=1), Order(id=2)], ORDER_DESC)])
        self.query("DELETE FROM d.%s WHERE id = 1" % tid)
        self.assertEqual(self.rows(table), [["2", None]])
        st, body = self.bq("GET", "/bigquery/v2/%s" % table)
        self.assertNotIn("streamingBuffer", body)
        self.assertEqual(body["numRows"], "1")
        # an insertAll row is in the streaming buffer: DML over it is refused
        self.bq("POST", "/bigquery/v2/%s/insertAll" % table, {"rows": [{"json": {"id": 3}}]})
        st, body = self.bq("POST", "/bigquery/v2/projects/p/queries",
                           {"query": "DELETE FROM d.%s WHERE id = 3" % tid, "useLegacySql": False})
        self.assertEqual(st, 400, body)
        self.assertIn("streaming buffer", body["error"]["message"])

    def test_timestamp_out_of_range_is_a_row_error(self):
        table = self.new_table([{"name": "ts", "type": "TIMESTAMP"}])
        desc = descriptor("T", [("ts", 1, FD.TYPE_INT64)])
        out = self.client.append([request(table + "/streams/_default",
                                          [message_class(desc)(ts=2 ** 62)], desc)])
        self.assertEqual([e.index for e in out[0].row_errors], [0])
        self.assertEqual(self.rows(table), [])


class ClockAndExpiryTests(StorageWriteBase):
    def test_uncommitted_data_expires_after_24_hours(self):
        table = self.new_table()
        pending, committed = self.stream(table, PENDING), self.stream(table, COMMITTED)
        self.client.append([request(pending.name, [Order(id=1)], ORDER_DESC, offset=0)])
        self.client.append([request(committed.name, [Order(id=2)], ORDER_DESC, offset=0)])
        st, body = self.bq("POST", "/emulator/clock", {"advance_s": 23 * 3600})
        self.assertEqual(st, 200, body)
        self.client.get(M.GetWriteStreamRequest(name=pending.name))      # still there at 23 h
        st, body = self.bq("POST", "/emulator/clock", {"advance_s": 3601})
        self.assertGreaterEqual(body["offset_s"], 24 * 3600)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.finalize(M.FinalizeWriteStreamRequest(name=pending.name))
        self.assertAborted(ctx, grpc.StatusCode.NOT_FOUND)
        self.client.get(M.GetWriteStreamRequest(name=committed.name))    # committed data stays
        self.assertEqual(self.rows(table), [["2", None]])
        st, body = self.bq("POST", "/emulator/clock", {"advance_s": -1})
        self.assertEqual(st, 400, body)

    def test_insert_id_window_follows_the_clock(self):
        table = self.new_table()
        path = "/bigquery/v2/%s/insertAll" % table
        body = {"rows": [{"insertId": "same", "json": {"id": 1}}]}
        self.assertEqual(self.bq("POST", path, body)[0], 200)
        self.assertEqual(self.bq("POST", path, body)[0], 200)
        self.assertEqual(len(self.rows(table)), 1)                       # de-duplicated
        self.bq("POST", "/emulator/clock", {"advance_s": 61})
        self.assertEqual(self.bq("POST", path, body)[0], 200)
        self.assertEqual(len(self.rows(table)), 2)                       # the window has passed


class PersistenceTests(StorageWriteBase):
    data_dir = True

    def test_restart_keeps_offsets_and_pending_rows(self):
        table = self.new_table()
        committed, pending = self.stream(table), self.stream(table, PENDING)
        self.client.append([request(committed.name, [Order(id=1), Order(id=2)], ORDER_DESC, offset=0)])
        self.client.append([request(pending.name, [Order(id=10)], ORDER_DESC, offset=0)])
        self.client.close()
        self.emu.restart(hard=True)
        type(self).client = WriteClient(self.emu.ports["bigquerystorage"])
        out = self.client.append([request(committed.name, [Order(id=99)], ORDER_DESC, offset=1),
                                  request(None, [Order(id=3)], offset=2)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.ALREADY_EXISTS.value[0])
        self.assertEqual(out[1].append_result.offset.value, 2)
        self.assertEqual(self.client.finalize(M.FinalizeWriteStreamRequest(name=pending.name)).row_count, 1)
        self.client.close()
        self.emu.restart(hard=False)
        type(self).client = WriteClient(self.emu.ports["bigquerystorage"])
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table, write_streams=[pending.name]))
        self.assertEqual(len(resp.stream_errors), 0, resp)
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [1, 2, 3, 10])


class FaultTests(StorageWriteBase):
    def faults(self, cfg):
        st, body = self.bq("POST", "/emulator/bigquerystorage/faults", cfg)
        self.assertEqual(st, 200, body)

    def tearDown(self):
        self.bq("DELETE", "/emulator/bigquerystorage/faults")
        self.bq("POST", "/emulator/bigquerystorage/counters/reset")

    def test_stream_broken_after_the_rows_were_stored(self):
        table = self.new_table()
        ws = self.stream(table)
        self.faults({"lost_rate": 1.0, "methods": ["AppendRows"], "count": 1})
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request(ws.name, [Order(id=1)], ORDER_DESC, offset=0)])
        self.assertAborted(ctx, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.rows(table), [["1", None]])                # stored, answer lost
        # the writer retries on a new connection: the offset says it is there
        out = self.client.append([request(ws.name, [Order(id=1)], ORDER_DESC, offset=0),
                                  request(None, [Order(id=2)], offset=1)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.ALREADY_EXISTS.value[0])
        self.assertEqual(out[1].append_result.offset.value, 1)
        self.assertEqual(len(self.rows(table)), 2)
        st, counters = self.bq("GET", "/emulator/bigquerystorage/counters")
        self.assertEqual(counters["faults_lost"], 1)

    def test_stream_broken_mid_way(self):
        """A connection's first request is answered, its second stored and its
        answer lost: the stream ends UNAVAILABLE after one response."""
        table = self.new_table()
        ws = self.stream(table)
        answered = threading.Event()

        def requests():
            yield request(ws.name, [Order(id=1)], ORDER_DESC, offset=0)
            answered.wait(10)
            self.faults({"lost_rate": 1.0, "methods": ["AppendRows"], "count": 1})
            yield request(None, [Order(id=2)], offset=1)

        got = []
        with self.assertRaises(grpc.RpcError) as ctx:
            for resp in self.client._append(requests(), timeout=30):
                got.append(resp)
                answered.set()
        self.assertAborted(ctx, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual([r.append_result.offset.value for r in got], [0])
        self.assertEqual(sorted(int(r[0]) for r in self.rows(table)), [1, 2])
        out = self.client.append([request(ws.name, [Order(id=2)], ORDER_DESC, offset=1)])
        self.assertEqual(out[0].error.code, grpc.StatusCode.ALREADY_EXISTS.value[0])

    def test_concurrent_writers_with_lost_answers_store_each_row_once(self):
        """Four writers, each on its own committed stream, a fifth of the answers
        lost: retrying at the same offset (ALREADY_EXISTS = it is there) stores
        every row exactly once."""
        table = self.new_table()
        self.faults({"lost_rate": 0.2, "drop_rate": 0.05, "methods": ["AppendRows"]})
        errors = []

        def writer(w):
            try:
                ws = self.stream(table)
                offset = 0
                while offset < 200:
                    batch = [Order(id=w * 1000 + offset + i) for i in range(10)]
                    for _ in range(50):
                        try:
                            out = self.client.append([request(ws.name, batch, ORDER_DESC, offset=offset)])
                        except grpc.RpcError as e:
                            if e.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                            continue                    # broken: send the same offset again
                        kind = out[0].WhichOneof("response")
                        if kind == "append_result" or out[0].error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]:
                            break
                        raise AssertionError(out[0])
                    else:
                        raise AssertionError("offset %d never acknowledged" % offset)
                    offset += 10
            except Exception as e:  # noqa: BLE001 - reported by the test thread
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        ids = [int(r[0]) for r in self.rows_all(table)]
        self.assertEqual(len(ids), 800)
        self.assertEqual(sorted(ids), sorted(w * 1000 + i for w in range(4) for i in range(200)))
        st, counters = self.bq("GET", "/emulator/bigquerystorage/counters")
        self.assertGreater(counters["faults_lost"], 0)

    def rows_all(self, table):
        out, token = [], None
        while True:
            path = "/bigquery/v2/%s/data?maxResults=1000" % table + ("&pageToken=" + token if token else "")
            st, body = self.bq("GET", path)
            self.assertEqual(st, 200, body)
            out += [[c["v"] for c in r["f"]] for r in body.get("rows", [])]
            token = body.get("pageToken")
            if not token:
                return out

    def test_unavailable_stores_nothing(self):
        table = self.new_table()
        ws = self.stream(table)
        self.faults({"error_rate": 1.0, "error_codes": [503], "methods": ["AppendRows"], "count": 1})
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.append([request(ws.name, [Order(id=1)], ORDER_DESC, offset=0)])
        self.assertAborted(ctx, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.rows(table), [])
        out = self.client.append([request(ws.name, [Order(id=1)], ORDER_DESC, offset=0)])
        self.assertEqual(out[0].append_result.offset.value, 0)

    def test_unary_faults(self):
        table = self.new_table()
        self.faults({"error_rate": 1.0, "error_codes": [429], "methods": ["CreateWriteStream"], "count": 1})
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stream(table)
        self.assertAborted(ctx, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.stream(table)
        ws = self.stream(table, PENDING)
        self.client.finalize(M.FinalizeWriteStreamRequest(name=ws.name))
        self.faults({"lost_rate": 1.0, "methods": ["BatchCommitWriteStreams"], "count": 1})
        with self.assertRaises(grpc.RpcError) as ctx:
            self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table, write_streams=[ws.name]))
        self.assertAborted(ctx, grpc.StatusCode.UNAVAILABLE)
        resp = self.client.commit(M.BatchCommitWriteStreamsRequest(parent=table, write_streams=[ws.name]))
        self.assertEqual([e.code for e in resp.stream_errors], [SE.Value("STREAM_ALREADY_COMMITTED")])


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is needed")
class AuthTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from test.emulator.test_core_auth import make_key
        cls.tmp = tempfile.mkdtemp(prefix="emulator-storage-auth-")
        cls.key, pub = make_key(cls.tmp, "sa")
        cls.emu = EmulatorProcess(services=("bigquery", "bigquerystorage"),
                                  extra_args=["--auth-public-key", pub], data_dir=None)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_bearer_token_required(self):
        import time
        from urllib.parse import urlencode
        from test.emulator.test_core_auth import JWT_BEARER, FORM, make_jwt
        anonymous = WriteClient(self.emu.ports["bigquerystorage"])
        try:
            with self.assertRaises(grpc.RpcError) as ctx:
                anonymous.create(M.CreateWriteStreamRequest(parent="projects/p/datasets/d/tables/x",
                                                            write_stream={"type": 1}))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        finally:
            anonymous.close()
        url = "http://127.0.0.1:%d/token" % self.emu.ports["bigquery"]
        now = int(time.time())
        jwt = make_jwt(self.key, {"iss": "sa@p.iam.gserviceaccount.com", "aud": url, "iat": now,
                                  "exp": now + 3600, "scope": "https://www.googleapis.com/auth/bigquery"})
        st, body = self.emu.call("POST", "/token", urlencode({"grant_type": JWT_BEARER, "assertion": jwt}).encode(),
                                 service="bigquery", headers=FORM)
        self.assertEqual(st, 200, body)
        token = body["access_token"]
        client = WriteClient(self.emu.ports["bigquerystorage"], token)
        try:
            with self.assertRaises(grpc.RpcError) as ctx:
                client.create(M.CreateWriteStreamRequest(parent="projects/p/datasets/d/tables/nosuch",
                                                         write_stream={"type": 1}))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)     # past auth
        finally:
            client.close()


if __name__ == "__main__":
    unittest.main()
