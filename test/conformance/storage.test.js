'use strict';
// Conformance of the local emulator's BigQuery Storage APIs (service
// "bigquerystorage", gRPC) with Google's official Node client
// (@google-cloud/bigquery-storage). Writes: the managedwriter's WriterClient
// and JSONWriter (the table's schema from GetWriteStream, made into a proto2
// descriptor by the client's own adapt module) append to a committed stream
// with offsets and to the _default stream, and a pending stream is finalized
// and batch-committed; the REST API (@google-cloud/bigquery) then sees the
// rows. Reads: see the section at the end of this file.
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
