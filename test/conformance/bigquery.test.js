'use strict';
// Conformance of the local emulator's BigQuery half with Google's official Node
// client (@google-cloud/bigquery): datasets and partitioned/clustered tables,
// streaming inserts (insertIds, PartialFailureError), queries with named and
// positional parameters, manual paging of a query job, materialized views, and
// the errors of a bad query and a missing table. When BQSTREAM_ORACLE_PGURL names
// a PostgreSQL server, the same rows are loaded there and query results are
// compared with PostgreSQL's as an oracle (skipped visibly otherwise).
//
// Run: node --test test/conformance/   (from the repository root)
// The emulator address comes from BIGQUERY_EMULATOR_HOST (host:port; scripts/test.sh
// starts one); without it this file starts its own /usr/bin/python3 -m emulator.

const {test, before, after} = require('node:test');
const {startEmulator} = require('./emulator');
const assert = require('node:assert/strict');
const {execFileSync} = require('node:child_process');
// Never probe for a GCE metadata server (that would send traffic off this machine).
process.env.METADATA_SERVER_DETECTION = 'none';
const {BigQuery} = require('@google-cloud/bigquery');
const {PassThroughClient} = require('google-auth-library');

const PROJECT = 'conformance';
const RUN = `${process.pid}_${Date.now().toString(36)}`;
const DATASET = `shop_${RUN}`;

let emulator = null; // the private emulator, when this file started one
let host = null; // 127.0.0.1:PORT
let bq; // client on apiEndpoint (paths with /bigquery/v2)
let bqBare; // client through BIGQUERY_EMULATOR_HOST (paths without the prefix)



before(async () => {
  if (!process.env.BIGQUERY_EMULATOR_HOST) emulator = await startEmulator('bigquery');
  host = process.env.BIGQUERY_EMULATOR_HOST || emulator.host;
  host = host.replace(/^https?:\/\//, '');
  const saved = process.env.BIGQUERY_EMULATOR_HOST;
  delete process.env.BIGQUERY_EMULATOR_HOST;
  // The BigQuery client authorizes every request, even to a custom endpoint; a
  // pass-through auth client sends none and skips Application Default Credentials.
  const authClient = new PassThroughClient();
  bq = new BigQuery({projectId: PROJECT, apiEndpoint: `http://${host}`, authClient});
  // the client reads the variable at construction and then uses it as the base URL
  process.env.BIGQUERY_EMULATOR_HOST = `http://${host}`;
  bqBare = new BigQuery({projectId: PROJECT, authClient});
  if (saved === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
  else process.env.BIGQUERY_EMULATOR_HOST = saved;

  await bq.createDataset(DATASET, {location: 'US'});
  await bq.dataset(DATASET).createTable('orders', {
    schema: [
      {name: 'order_id', type: 'STRING', mode: 'REQUIRED'},
      {name: 'user_id', type: 'STRING'},
      {name: 'qty', type: 'INT64'},
      {name: 'amount', type: 'NUMERIC'},
      {name: 'event_time', type: 'TIMESTAMP', mode: 'REQUIRED'},
    ],
    timePartitioning: {type: 'DAY', field: 'event_time'},
    clustering: {fields: ['user_id']},
  });
});

after(async () => {
  if (bq) await bq.dataset(DATASET).delete({force: true}).catch(() => {});
  if (emulator) await emulator.stop();
});

// 60 orders over three days and five users; amounts are exact decimals
const ROWS = Array.from({length: 60}, (_, i) => ({
  order_id: `o${String(i).padStart(3, '0')}`,
  user_id: `u${i % 5}`,
  qty: (i % 4) + 1,
  amount: `${(i * 7) % 50}.${String((i * 13) % 100).padStart(2, '0')}`,
  event_time: `2024-05-0${1 + (i % 3)}T${String(i % 24).padStart(2, '0')}:30:00.000000Z`,
}));

test('datasets and a partitioned, clustered table', async () => {
  const [meta] = await bq.dataset(DATASET).get();
  assert.equal(meta.metadata.id, `${PROJECT}:${DATASET}`);
  assert.equal(meta.metadata.location, 'US');
  const [table] = await bqBare.dataset(DATASET).table('orders').get();
  const m = table.metadata;
  assert.equal(m.type, 'TABLE');
  assert.deepEqual(m.timePartitioning, {type: 'DAY', field: 'event_time'});
  assert.deepEqual(m.clustering, {fields: ['user_id']});
  assert.deepEqual(m.schema.fields.map((f) => f.type), ['STRING', 'STRING', 'INTEGER', 'NUMERIC', 'TIMESTAMP']);
  const [tables] = await bq.dataset(DATASET).getTables();
  assert.deepEqual(tables.map((t) => t.id), ['orders']);
  await assert.rejects(bq.dataset(DATASET).table('missing').get(), (err) => {
    assert.equal(err.code, 404);
    assert.equal(err.message, `Not found: Table ${PROJECT}:${DATASET}.missing`);
    return true;
  });
});

test('streaming inserts with insertIds, and a bad row as PartialFailureError', async () => {
  const table = bq.dataset(DATASET).table('orders');
  await table.insert(ROWS.map((json, i) => ({insertId: `ins-${i}`, json})), {raw: true});
  // a retry of the same batch is absorbed by insertId de-duplication
  await table.insert(ROWS.slice(0, 10).map((json, i) => ({insertId: `ins-${i}`, json})), {raw: true});
  await assert.rejects(table.insert([{order_id: 'bad', event_time: 'not a time'}, ROWS[0]]), (err) => {
    assert.equal(err.name, 'PartialFailureError');
    const reasons = err.errors.map((e) => e.errors[0].reason).sort();
    assert.deepEqual(reasons, ['invalid', 'stopped']);
    return true;
  });
  const [rows] = await bq.query({query: `SELECT COUNT(*) AS n FROM \`${PROJECT}.${DATASET}.orders\``});
  assert.equal(rows[0].n, 60);
});

test('queries with named and positional parameters', async () => {
  const [named] = await bq.query({
    query: `SELECT user_id, COUNT(*) AS n, SUM(qty) AS q FROM ${DATASET}.orders
            WHERE event_time >= @since AND user_id IN UNNEST(@users) GROUP BY user_id ORDER BY user_id`,
    params: {since: bq.timestamp('2024-05-02T00:00:00Z'), users: ['u1', 'u3']},
  });
  assert.deepEqual(named.map((r) => [r.user_id, r.n, r.q]), [['u1', 8, 20], ['u3', 8, 20]]);
  const [positional] = await bqBare.query({
    query: `SELECT order_id, amount, event_time FROM ${DATASET}.orders WHERE qty = ? AND order_id < ? ORDER BY order_id`,
    params: [2, 'o010'],
  });
  assert.deepEqual(positional.map((r) => r.order_id), ['o001', 'o005', 'o009']);
  assert.equal(positional[0].amount.toString(), '7.13');
  assert.equal(positional[0].event_time.value, '2024-05-02T01:30:00.000Z');
});

test('a query job paged by hand with maxResults', async () => {
  const [job] = await bq.createQueryJob({query: `SELECT order_id FROM ${DATASET}.orders ORDER BY order_id`});
  let options = {maxResults: 7, autoPaginate: false};
  const got = [];
  let pages = 0;
  for (;;) {
    const [rows, next, resp] = await job.getQueryResults(options);
    assert.equal(resp.totalRows, '60');
    got.push(...rows.map((r) => r.order_id));
    pages += 1;
    if (!next) break;
    options = next;
  }
  assert.equal(pages, 9);
  assert.deepEqual(got, ROWS.map((r) => r.order_id));
  const [meta] = await job.getMetadata();
  assert.equal(meta.status.state, 'DONE');
  assert.equal(meta.statistics.query.statementType, 'SELECT');
});

test('a materialized view sees rows streamed after it was created', async () => {
  await bq.query(`CREATE MATERIALIZED VIEW ${DATASET}.per_user AS
                  SELECT user_id, COUNT(*) AS n, SUM(amount) AS total FROM ${DATASET}.orders GROUP BY user_id`);
  const [mv] = await bq.dataset(DATASET).table('per_user').get();
  assert.equal(mv.metadata.type, 'MATERIALIZED_VIEW');
  assert.match(mv.metadata.materializedView.query, /GROUP BY user_id/);
  // rows streamed from now on stay in the streaming buffer for an hour (an emulator label)
  await bq.dataset(DATASET).table('orders').setMetadata({labels: {emulator_streaming_buffer_s: '3600'}});
  await bq.dataset(DATASET).table('orders').insert([
    {order_id: 'late', user_id: 'u9', qty: 1, amount: '0.5', event_time: '2024-05-03T00:00:00Z'}]);
  const [rows] = await bq.query(`SELECT user_id, n, total FROM ${DATASET}.per_user WHERE user_id = 'u9'`);
  assert.deepEqual(rows.map((r) => [r.user_id, r.n, r.total.toString()]), [['u9', 1, '0.5']]);
  // DML cannot change rows still in the streaming buffer, as in BigQuery
  await bq.query(`DELETE FROM ${DATASET}.orders WHERE order_id = 'late'`).then(
    () => assert.fail('DML over buffered rows must be rejected'),
    (err) => assert.match(err.message, /would affect rows in the streaming buffer, which is not supported/));
});

test('errors of a bad query and a missing table', async () => {
  await assert.rejects(bq.query(`SELECT nope FROM ${DATASET}.orders`), (err) => {
    assert.equal(err.code, 400);
    assert.equal(err.message, 'Unrecognized name: nope at [1:8]');
    assert.equal(err.errors[0].reason, 'invalidQuery');
    return true;
  });
  await assert.rejects(bq.query(`SELECT 1 FROM ${DATASET}.missing`), (err) => {
    assert.equal(err.code, 404);
    assert.match(err.message, new RegExp(`Not found: Table ${PROJECT}:${DATASET}.missing`));
    return true;
  });
  await assert.rejects(bq.query({query: 'SELECT 1', useLegacySql: true}), /Legacy SQL is not supported/);
});

// ---------------------------------------------------------------- PostgreSQL as an oracle
const ORACLE = process.env.BQSTREAM_ORACLE_PGURL;
const ORACLE_QUERIES = [
  // [GoogleSQL on the emulator, the same question in PostgreSQL]
  [`SELECT user_id, COUNT(*) AS n, SUM(qty) AS q, MIN(amount) AS lo, MAX(amount) AS hi
      FROM ${DATASET}.orders WHERE order_id != 'late' GROUP BY user_id ORDER BY user_id`,
   `SELECT user_id, COUNT(*), SUM(qty), MIN(amount), MAX(amount) FROM %T
      GROUP BY user_id ORDER BY user_id`],
  [`SELECT DATE(event_time) AS d, SUM(amount) AS total FROM ${DATASET}.orders
      WHERE event_time >= '2024-05-02' AND order_id != 'late' GROUP BY d ORDER BY d`,
   `SELECT (event_time AT TIME ZONE 'UTC')::date, SUM(amount) FROM %T
      WHERE event_time >= '2024-05-02 00:00:00+00' GROUP BY 1 ORDER BY 1`],
  [`SELECT order_id, qty * 2 + 1 AS x FROM ${DATASET}.orders
      WHERE amount BETWEEN 10 AND 20 AND user_id LIKE 'u%' ORDER BY qty DESC, order_id LIMIT 7`,
   `SELECT order_id, qty * 2 + 1 FROM %T WHERE amount BETWEEN 10 AND 20 AND user_id LIKE 'u%'
      ORDER BY qty DESC, order_id LIMIT 7`],
];

function psql(sql) {
  const out = execFileSync('psql', [ORACLE, '-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    {encoding: 'utf8'});
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

const normalize = (v) => {
  if (v === null || v === undefined || v === '') return '';
  const s = typeof v === 'object' && 'value' in v ? String(v.value) : String(v);
  return /^-?\d+(\.\d+)?$/.test(s) ? String(Number(s)) : s;
};

test('query results agree with PostgreSQL', {skip: ORACLE ? false : 'BQSTREAM_ORACLE_PGURL is not set'}, async () => {
  const table = `bqstream_oracle_${RUN}`.toLowerCase();
  psql(`CREATE TABLE ${table} (order_id text NOT NULL, user_id text, qty bigint, amount numeric,
        event_time timestamptz NOT NULL)`);
  try {
    const values = ROWS.map((r) => `('${r.order_id}', '${r.user_id}', ${r.qty}, ${r.amount}, '${r.event_time}')`);
    psql(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
    for (const [bqSql, pgSql] of ORACLE_QUERIES) {
      const [rows] = await bq.query({query: bqSql, wrapIntegers: false});
      const mine = rows.map((r) => Object.values(r).map(normalize));
      const theirs = psql(pgSql.replaceAll('%T', table)).map((r) => r.map(normalize));
      assert.ok(theirs.length > 0, `the oracle returned no rows for: ${pgSql}`);
      assert.deepEqual(mine, theirs, bqSql);
    }
  } finally {
    psql(`DROP TABLE IF EXISTS ${table}`);
  }
});
