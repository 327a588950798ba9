'use strict';
// Conformance of the local emulator's BigQuery Storage APIs (service
// "bigquerystorage", gRPC) with Google's official Node client
// (@google-cloud/bigquery-storage). Writes: the managedwriter's WriterClient
// and JSONWriter (the table's schema from GetWriteStream, made into a proto2
// descriptor by the client's own adapt module) append to a committed stream
// with offsets and to the _default stream, and a pending stream is finalized
// and batch-committed; the REST API (@google-cloud/bigquery) then sees the
// rows. Reads: BigQueryReadClient's sessions and ReadRows, decoded with avsc
// (the "reads" section). Last, rows a pending stream committed are read back
// through the Read API.
//
// Run: node --test test/conformance/   (from the repository root)
// The emulator comes from BIGQUERY_EMULATOR_HOST and BIGQUERY_STORAGE_EMULATOR_HOST
// (host:port each; scripts/test.sh starts one); without them this file starts its
// own /usr/bin/python3 -m emulator with both services.

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const {startEmulator} = require('./emulator');
// Never probe for a GCE metadata server (that would send traffic off this machine).
process.env.METADATA_SERVER_DETECTION = 'none';
const {BigQuery} = require('@google-cloud/bigquery');
const {PassThroughClient} = require('google-auth-library');
const {grpc} = require('google-gax');
const {managedwriter, adapt} = require('@google-cloud/bigquery-storage');

const {WriterClient, JSONWriter} = managedwriter;

const PROJECT = 'conformance';
const RUN = `${process.pid}_${Date.now().toString(36)}`;
const DATASET = `storage_${RUN}`;

let emulator = null; // the private emulator, when this file started one
let bq; // REST client
let storageHost; // host:port of the gRPC service

function writerClient() {
  const [host, port] = storageHost.split(':');
  // h2c: the emulator speaks gRPC without TLS, and wants no credentials
  return new WriterClient({
    projectId: PROJECT,
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
  });
}

const SCHEMA = [
  {name: 'order_id', type: 'STRING', mode: 'REQUIRED'},
  {name: 'qty', type: 'INT64'},
  {name: 'amount', type: 'NUMERIC'},
  {name: 'paid', type: 'BOOL'},
  {name: 'event_time', type: 'TIMESTAMP'},
  {name: 'day', type: 'DATE'},
  {name: 'tags', type: 'STRING', mode: 'REPEATED'},
];

async function newTable(name) {
  await bq.dataset(DATASET).createTable(name, {schema: SCHEMA});
  return `projects/${PROJECT}/datasets/${DATASET}/tables/${name}`;
}

// A JSONWriter on a connection to `streamId`, its descriptor made from the
// table schema the API returns (what Google's samples do).
async function jsonWriter(client, streamId) {
  const ws = await client.getWriteStream({streamId, view: 'FULL'});
  assert.ok(ws.tableSchema, 'GetWriteStream with view FULL returns the table schema');
  const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(ws.tableSchema, 'root');
  const connection = await client.createStreamConnection({streamId});
  return {writer: new JSONWriter({connection, protoDescriptor}), connection};
}

function order(i) {
  return {
    order_id: `o${i}`,
    qty: i,
    amount: `${i}.25`,
    paid: i % 2 === 0,
    event_time: new Date(Date.UTC(2024, 4, 1, 12, 0, i)),
    day: new Date(Date.UTC(2024, 4, 1 + i)),
    tags: [`t${i}`, 'x'],
  };
}

async function tableRows(name) {
  const [rows] = await bq.query({
    query: `SELECT order_id, qty, CAST(amount AS STRING) AS amount, paid, event_time, day, ARRAY_LENGTH(tags) AS ntags
            FROM \`${PROJECT}.${DATASET}.${name}\` ORDER BY qty`,
  });
  return rows;
}

before(async () => {
  let bqHost = process.env.BIGQUERY_EMULATOR_HOST;
  storageHost = process.env.BIGQUERY_STORAGE_EMULATOR_HOST;
  if (!bqHost || !storageHost) {
    emulator = await startEmulator(['bigquery', 'bigquerystorage']);
    bqHost = emulator.hosts.bigquery;
    storageHost = emulator.hosts.bigquerystorage;
  }
  bqHost = bqHost.replace(/^https?:\/\//, '');
  storageHost = storageHost.replace(/^https?:\/\//, '');
  // the REST client would take BIGQUERY_EMULATOR_HOST (without a scheme) over apiEndpoint
  const saved = process.env.BIGQUERY_EMULATOR_HOST;
  delete process.env.BIGQUERY_EMULATOR_HOST;
  bq = new BigQuery({projectId: PROJECT, apiEndpoint: `http://${bqHost}`, authClient: new PassThroughClient()});
  if (saved !== undefined) process.env.BIGQUERY_EMULATOR_HOST = saved;
  await bq.createDataset(DATASET, {location: 'US'});
});

after(async () => {
  if (bq) await bq.dataset(DATASET).delete({force: true}).catch(() => {});
  if (emulator) await emulator.stop();
});

// ------------------------------------------------------------------ writes

test('JSONWriter appends to a committed stream with offsets; rows visible at once', async () => {
  const table = await newTable('committed');
  const client = writerClient();
  try {
    const streamId = await client.createWriteStream({streamType: managedwriter.CommittedStream, destinationTable: table});
    assert.match(streamId, new RegExp(`^${table}/streams/`));
    const {writer, connection} = await jsonWriter(client, streamId);
    let result = await writer.appendRows([order(1), order(2)], 0).getResult();
    assert.equal(Number(result.appendResult.offset.value), 0);
    result = await writer.appendRows([order(3)], 2).getResult();
    assert.equal(Number(result.appendResult.offset.value), 2);
    // an offset already written: ALREADY_EXISTS, and the stream goes on
    result = await writer.appendRows([order(99)], 1).getResult();
    assert.equal(result.error.code, grpc.status.ALREADY_EXISTS);
    result = await writer.appendRows([order(4)], 3).getResult();
    assert.equal(Number(result.appendResult.offset.value), 3);
    const rows = await tableRows('committed');
    assert.deepEqual(rows.map((r) => [r.order_id, r.qty, r.amount, r.paid, r.event_time.value, r.day.value, r.ntags]), [
      ['o1', 1, '1.25', false, '2024-05-01T12:00:01.000Z', '2024-05-02', 2],
      ['o2', 2, '2.25', true, '2024-05-01T12:00:02.000Z', '2024-05-03', 2],
      ['o3', 3, '3.25', false, '2024-05-01T12:00:03.000Z', '2024-05-04', 2],
      ['o4', 4, '4.25', true, '2024-05-01T12:00:04.000Z', '2024-05-05', 2],
    ]);
    const finalized = await connection.finalize();
    assert.equal(Number(finalized.rowCount), 4);
    writer.close();
  } finally {
    client.close();
  }
});

test('JSONWriter appends to the _default stream; tabledata.list sees the rows', async () => {
  const table = await newTable('defaultstream');
  const client = writerClient();
  try {
    const streamId = `${table}/streams/_default`;
    const {writer} = await jsonWriter(client, streamId);
    const results = await Promise.all([
      writer.appendRows([order(1), order(2)]).getResult(),
      writer.appendRows([order(3)]).getResult(),
    ]);
    for (const r of results) assert.ok(r.appendResult, JSON.stringify(r));
    const [rows] = await bq.dataset(DATASET).table('defaultstream').getRows();
    assert.deepEqual(rows.map((r) => r.order_id).sort(), ['o1', 'o2', 'o3']);
    // a row that breaks the schema (REQUIRED order_id missing): row_errors, nothing appended
    const bad = await writer.appendRows([{qty: 7}, order(8)]).getResult();
    assert.equal(bad.error.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(bad.rowErrors.map((e) => Number(e.index)), [0]);
    const [after] = await bq.dataset(DATASET).table('defaultstream').getRows();
    assert.equal(after.length, 3);
    writer.close();
  } finally {
    client.close();
  }
});

test('a pending stream: invisible until finalized and batch-committed', async () => {
  const table = await newTable('pending');
  const client = writerClient();
  try {
    const streamId = await client.createWriteStream({streamType: managedwriter.PendingStream, destinationTable: table});
    const {writer, connection} = await jsonWriter(client, streamId);
    const result = await writer.appendRows([order(1), order(2), order(3)], 0).getResult();
    assert.equal(Number(result.appendResult.offset.value), 0);
    assert.deepEqual(await tableRows('pending'), []);
    // committing a stream that is not finalized fails, and commits nothing
    let commit = await client.batchCommitWriteStream({parent: table, writeStreams: [streamId]});
    assert.equal(commit.commitTime, null);
    assert.equal(commit.streamErrors.length, 1);
    assert.equal(commit.streamErrors[0].code, 'INVALID_STREAM_STATE');
    const finalized = await connection.finalize();
    assert.equal(Number(finalized.rowCount), 3);
    commit = await client.batchCommitWriteStream({parent: table, writeStreams: [streamId]});
    assert.deepEqual(commit.streamErrors, []);
    assert.ok(commit.commitTime);
    const rows = await tableRows('pending');
    assert.deepEqual(rows.map((r) => r.order_id), ['o1', 'o2', 'o3']);
    // a finalized stream refuses appends
    const late = await writer.appendRows([order(4)], 3).getResult();
    assert.equal(late.error.code, grpc.status.INVALID_ARGUMENT);
    writer.close();
  } finally {
    client.close();
  }
});

test('an unknown table is NOT_FOUND', async () => {
  const client = writerClient();
  try {
    await assert.rejects(
      client.createWriteStream({streamType: managedwriter.CommittedStream,
        destinationTable: `projects/${PROJECT}/datasets/${DATASET}/tables/nosuch`}),
      (err) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        return true;
      });
  } finally {
    client.close();
  }
});

// ------------------------------------------------------------------ reads
// The Storage Read API's conformance tests (BigQueryReadClient, ReadRows)
// go here.

const avsc = require('avsc');
const {v1: storageV1} = require('@google-cloud/bigquery-storage');

// gaxServerStreamingRetries: ReadRows retried on the method's own retry codes
// (UNAVAILABLE), not on every error as the older default does (an OUT_OF_RANGE
// would be tried three times over seven seconds)
function readClient(opts = {}) {
  const [host, port] = storageHost.split(':');
  return new storageV1.BigQueryReadClient({
    projectId: PROJECT,
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    ...opts,
  });
}

// Every row of every stream of a session, decoded with avsc from the session's
// Avro schema (rows are concatenated binary records, no container framing).
async function readAll(client, session) {
  const type = avsc.Type.forSchema(JSON.parse(session.avroSchema.schema));
  const out = [];
  for (const stream of session.streams) {
    const part = [];
    for await (const resp of client.readRows({readStream: stream.name, offset: 0})) {
      const buf = Buffer.from(resp.avroRows.serializedBinaryRows);
      const before = part.length;
      let pos = 0;
      while (pos < buf.length) {
        const r = type.decode(buf, pos);
        assert.ok(r.offset > pos, 'avsc decoded a row');
        part.push(r.value);
        pos = r.offset;
      }
      assert.equal(part.length - before, Number(resp.rowCount), 'rowCount counts the block');
    }
    out.push(part);
  }
  return out;
}

// avsc leaves decimal bytes as a Buffer: the unscaled big-endian two's complement value
function decimalText(buf, scale) {
  let n = 0n;
  for (const b of buf) n = (n << 8n) | BigInt(b);
  if (buf.length && buf[0] & 0x80) n -= 1n << BigInt(8 * buf.length);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
  const text = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`.replace(/\.?0+$/, '');
  return (neg ? '-' : '') + text;
}

const READ_SCHEMA = [
  {name: 'id', type: 'INT64', mode: 'REQUIRED'},
  {name: 'name', type: 'STRING'},
  {name: 'amount', type: 'NUMERIC'},
  {name: 'price', type: 'FLOAT64'},
  {name: 'paid', type: 'BOOL'},
  {name: 'event_time', type: 'TIMESTAMP'},
  {name: 'day', type: 'DATE'},
  {name: 'tags', type: 'STRING', mode: 'REPEATED'},
];

function readRow(i) {
  return {
    id: i,
    name: i % 5 === 0 ? null : `n${i}`,
    amount: `${i}.5`,
    price: i * 0.25,
    paid: i % 2 === 0,
    event_time: `2024-05-01T12:00:${String(i % 60).padStart(2, '0')}.000001Z`,
    day: `2024-05-${String(1 + (i % 28)).padStart(2, '0')}`,
    tags: i % 3 === 0 ? [] : [`t${i}`],
  };
}

// the written row as the Avro decoding gives it back
function asRead(r) {
  return {
    id: r.id, name: r.name, amount: r.amount, price: r.price, paid: r.paid,
    event_time: Date.parse(r.event_time) * 1000 + 1,
    day: Date.parse(r.day) / 86400000,
    tags: r.tags,
  };
}

function fromAvro(v) {
  return {...v, amount: v.amount === null ? null : decimalText(v.amount, 9)};
}

test('BigQueryReadClient reads back exactly the rows written through REST (AVRO, 3 streams)', async () => {
  await bq.dataset(DATASET).createTable('readback', {schema: READ_SCHEMA});
  const written = Array.from({length: 250}, (_, i) => readRow(i));
  await bq.dataset(DATASET).table('readback').insert(written);
  const client = readClient();
  try {
    const [session] = await client.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {table: `projects/${PROJECT}/datasets/${DATASET}/tables/readback`, dataFormat: 'AVRO'},
      maxStreamCount: 3,
    });
    assert.equal(session.streams.length, 3);
    assert.equal(Number(session.estimatedRowCount), 250);
    assert.match(session.name, new RegExp(`^projects/${PROJECT}/locations/us/sessions/`));
    const schema = JSON.parse(session.avroSchema.schema);
    assert.equal(schema.name, '__root__');
    assert.deepEqual(schema.fields.map((f) => f.name), READ_SCHEMA.map((f) => f.name));
    const parts = await readAll(client, session);
    assert.ok(parts.every((p) => p.length > 0), 'every stream has rows');
    const got = parts.flat().map(fromAvro);
    assert.deepEqual(got, written.map(asRead));
  } finally {
    await client.close();
  }
});

test('selected fields and a row restriction; an offset resumes a stream', async () => {
  await bq.dataset(DATASET).createTable('readopts', {schema: READ_SCHEMA});
  await bq.dataset(DATASET).table('readopts').insert(Array.from({length: 40}, (_, i) => readRow(i)));
  const client = readClient();
  try {
    const [session] = await client.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {
        table: `projects/${PROJECT}/datasets/${DATASET}/tables/readopts`,
        dataFormat: 'AVRO',
        readOptions: {selectedFields: ['paid', 'id'], rowRestriction: 'id >= 30 AND paid'},
      },
      maxStreamCount: 1,
    });
    const [rows] = await readAll(client, session);
    assert.deepEqual(rows.map((r) => ({...r})), [30, 32, 34, 36, 38].map((id) => ({id, paid: true})));
    const type = avsc.Type.forSchema(JSON.parse(session.avroSchema.schema));
    const rest = [];
    for await (const resp of client.readRows({readStream: session.streams[0].name, offset: 3})) {
      const buf = Buffer.from(resp.avroRows.serializedBinaryRows);
      for (let pos = 0; pos < buf.length;) {
        const r = type.decode(buf, pos);
        rest.push(r.value.id);
        pos = r.offset;
      }
    }
    assert.deepEqual(rest, [36, 38]);
  } finally {
    await client.close();
  }
});

test("a query's results are read through its destination table", async () => {
  await bq.dataset(DATASET).createTable('readquery', {schema: READ_SCHEMA});
  await bq.dataset(DATASET).table('readquery').insert(Array.from({length: 30}, (_, i) => readRow(i)));
  const [job] = await bq.createQueryJob({
    query: `SELECT id, amount FROM \`${PROJECT}.${DATASET}.readquery\` WHERE id < 10 ORDER BY id DESC`,
  });
  await job.getQueryResults();
  const [meta] = await job.getMetadata();
  const dest = meta.configuration.query.destinationTable;
  assert.match(dest.datasetId, /^_/);
  assert.match(dest.tableId, /^anon/);
  const client = readClient();
  try {
    const [session] = await client.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {
        table: `projects/${dest.projectId}/datasets/${dest.datasetId}/tables/${dest.tableId}`,
        dataFormat: 'AVRO',
      },
    });
    const got = (await readAll(client, session)).flat().map(fromAvro);
    assert.deepEqual(got, Array.from({length: 10}, (_, k) => ({id: 9 - k, amount: `${9 - k}.5`})));
  } finally {
    await client.close();
  }
});

test('read errors: an unknown table is NOT_FOUND, a view INVALID_ARGUMENT, an offset past the end OUT_OF_RANGE', async () => {
  await bq.dataset(DATASET).createTable('readerr', {schema: READ_SCHEMA});
  await bq.dataset(DATASET).table('readerr').insert([readRow(1), readRow(2)]);
  await bq.dataset(DATASET).createTable('readerr_view', {
    view: {query: `SELECT id FROM \`${PROJECT}.${DATASET}.readerr\``, useLegacySql: false},
  });
  const client = readClient({gaxServerStreamingRetries: true});
  const session = (name) => client.createReadSession({
    parent: `projects/${PROJECT}`,
    readSession: {table: `projects/${PROJECT}/datasets/${DATASET}/tables/${name}`, dataFormat: 'AVRO'},
  });
  try {
    await assert.rejects(session('nosuch'), (err) => err.code === grpc.status.NOT_FOUND);
    await assert.rejects(session('readerr_view'), (err) => err.code === grpc.status.INVALID_ARGUMENT);
    const [s] = await session('readerr');
    await assert.rejects(async () => {
      for await (const _ of client.readRows({readStream: s.streams[0].name, offset: 3})) { /* none */ }
    }, (err) => err.code === grpc.status.OUT_OF_RANGE);
  } finally {
    await client.close();
  }
});

test('every column type decodes with avsc from the schema the session gives', async () => {
  const schema = [
    {name: 'i', type: 'INT64', mode: 'REQUIRED'},
    {name: 'f', type: 'FLOAT64'},
    {name: 'b', type: 'BOOL'},
    {name: 's', type: 'STRING'},
    {name: 'y', type: 'BYTES'},
    {name: 'n', type: 'NUMERIC'},
    {name: 'bn', type: 'BIGNUMERIC'},
    {name: 'ts', type: 'TIMESTAMP'},
    {name: 'd', type: 'DATE'},
    {name: 't', type: 'TIME'},
    {name: 'dt', type: 'DATETIME'},
    {name: 'g', type: 'GEOGRAPHY'},
    {name: 'j', type: 'JSON'},
    {name: 'arr', type: 'INT64', mode: 'REPEATED'},
    {name: 'rec', type: 'RECORD', fields: [
      {name: 'x', type: 'INT64', mode: 'REQUIRED'},
      {name: 'tags', type: 'STRING', mode: 'REPEATED'},
      {name: 'inner', type: 'RECORD', fields: [{name: 'v', type: 'NUMERIC'}]},
    ]},
  ];
  await bq.dataset(DATASET).createTable('readtypes', {schema});
  await bq.dataset(DATASET).table('readtypes').insert([
    {i: -5, f: 1.5, b: true, s: 'h\u00e9llo', y: Buffer.from([0, 255, 97]).toString('base64'),
      n: '-12.5', bn: '1.00000000000000000000000000000000000001', ts: '2024-01-02T03:04:05.123456Z',
      d: '2024-01-02', t: '12:34:56.5', dt: '2024-01-02 03:04:05.25', g: 'POINT(1 2)',
      j: '{"a": [1, 2]}', arr: [1, -2, 300000], rec: {x: 7, tags: ['a', 'b'], inner: {v: '0.000000001'}}},
    {i: 0, arr: [], rec: {x: 1}},
  ]);
  const client = readClient();
  try {
    const [session] = await client.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {table: `projects/${PROJECT}/datasets/${DATASET}/tables/readtypes`, dataFormat: 'AVRO'},
    });
    const [[a, b]] = await readAll(client, session);
    const plain = (v) => JSON.parse(JSON.stringify(v, (k, x) =>
      (x && x.type === 'Buffer' ? x.data : x)));
    assert.deepEqual({...plain(a), n: decimalText(a.n, 9), bn: decimalText(a.bn, 38),
      rec: {...plain(a.rec), inner: {v: decimalText(a.rec.inner.v, 9)}}}, {
      i: -5, f: 1.5, b: true, s: 'h\u00e9llo', y: [0, 255, 97], n: '-12.5',
      bn: '1.00000000000000000000000000000000000001',
      ts: Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 123456,
      d: Date.UTC(2024, 0, 2) / 86400000, t: (12 * 3600 + 34 * 60 + 56) * 1e6 + 500000,
      dt: '2024-01-02T03:04:05.250000', g: 'POINT(1 2)', j: '{"a":[1,2]}', arr: [1, -2, 300000],
      rec: {x: 7, tags: ['a', 'b'], inner: {v: '0.000000001'}},
    });
    assert.deepEqual(plain(b), {i: 0, f: null, b: null, s: null, y: null, n: null, bn: null,
      ts: null, d: null, t: null, dt: null, g: null, j: null, arr: [],
      rec: {x: 1, tags: [], inner: null}});
  } finally {
    await client.close();
  }
});

test('a ReadRows stream broken mid-way (UNAVAILABLE) resumes at the offset of the first row not received', async () => {
  await bq.dataset(DATASET).createTable('readbreak', {schema: READ_SCHEMA});
  const n = 4000;
  for (let i = 0; i < n; i += 1000) {
    await bq.dataset(DATASET).table('readbreak').insert(Array.from({length: 1000}, (_, k) => readRow(i + k)));
  }
  // the emulator's fault labels: the next 2 ReadRows calls on this table break after one response
  await bq.dataset(DATASET).table('readbreak').setMetadata({
    labels: {emulator_read_breaks: '2', emulator_read_break_after: '1'}});
  const client = readClient();
  try {
    const [session] = await client.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {table: `projects/${PROJECT}/datasets/${DATASET}/tables/readbreak`, dataFormat: 'AVRO',
        readOptions: {selectedFields: ['id']}},
      maxStreamCount: 1,
    });
    const type = avsc.Type.forSchema(JSON.parse(session.avroSchema.schema));
    const ids = [];
    const codes = [];
    for (;;) {
      try {
        for await (const resp of client.readRows({readStream: session.streams[0].name, offset: ids.length})) {
          const buf = Buffer.from(resp.avroRows.serializedBinaryRows);
          for (let pos = 0; pos < buf.length;) {
            const r = type.decode(buf, pos);
            ids.push(r.value.id);
            pos = r.offset;
          }
        }
        break;
      } catch (err) {
        codes.push(err.code);
        assert.ok(codes.length <= 2, `more breaks than injected: ${codes}`);
      }
    }
    assert.deepEqual(codes, [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    assert.deepEqual(ids, Array.from({length: n}, (_, i) => i));
  } finally {
    await client.close();
  }
});

// ------------------------------------------------------------------ writes and reads together

test('rows appended with JSONWriter are what BigQueryReadClient reads', async () => {
  const table = await newTable('roundtrip');
  const writer = writerClient();
  const reader = readClient();
  try {
    const streamId = await writer.createWriteStream({streamType: managedwriter.PendingStream, destinationTable: table});
    const {writer: json, connection} = await jsonWriter(writer, streamId);
    const rows = Array.from({length: 30}, (_, i) => order(i + 1));
    for (let off = 0; off < rows.length; off += 10) {
      const r = await json.appendRows(rows.slice(off, off + 10), off).getResult();
      assert.equal(Number(r.appendResult.offset.value), off);
    }
    await connection.finalize();
    const commit = await writer.batchCommitWriteStream({parent: table, writeStreams: [streamId]});
    assert.deepEqual(commit.streamErrors, []);
    const [session] = await reader.createReadSession({
      parent: `projects/${PROJECT}`,
      readSession: {table, dataFormat: 'AVRO', readOptions: {selectedFields: ['order_id', 'qty', 'event_time', 'day']}},
      maxStreamCount: 2,
    });
    const got = (await readAll(reader, session)).flat();
    assert.deepEqual(got.map((r) => [r.order_id, r.qty, r.event_time, r.day]),
      rows.map((r) => [r.order_id, r.qty, r.event_time.getTime() * 1000, r.day.getTime() / 86400000]));
    json.close();
  } finally {
    writer.close();
    await reader.close();
  }
});
