'use strict';
// Interoperability of bqstream.publish_orders() with Google's official Node
// client: what the C publisher sends through the emulator is pulled by
// @google-cloud/pubsub and must be, message for message, the orders that
// bqstream.sample_orders() gives for the same seed and event time.
//
// Needs a PostgreSQL with bqstream installed (BQSTREAM_ORACLE_PGURL, which
// scripts/test.sh sets) and the Pub/Sub emulator (PUBSUB_EMULATOR_HOST, or a
// private one started here).

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const {execFileSync} = require('node:child_process');
const {startEmulator} = require('./emulator');
const {PubSub, v1} = require('@google-cloud/pubsub');
const {PassThroughClient} = require('google-auth-library');

const PG = process.env.BQSTREAM_ORACLE_PGURL;
const PROJECT = 'interop-project';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const DB = `interop_${process.pid}`;

let emulator = null;
let pubsub;
let subscriber;

function psql(url, sql) {
  return execFileSync('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim();
}

const dbUrl = () => PG.replace('/postgres?', `/${DB}?`);

before(async () => {
  if (!PG) return;
  if (!process.env.PUBSUB_EMULATOR_HOST) {
    emulator = await startEmulator('pubsub');
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  }
  pubsub = new PubSub({projectId: PROJECT, fallback: 'rest', protocol: 'http', authClient: new PassThroughClient()});
  subscriber = new v1.SubscriberClient(await pubsub.getClientConfig());
  psql(PG, `CREATE DATABASE ${DB}`);
  psql(dbUrl(), `CREATE EXTENSION bqstream;
    CREATE SERVER interop FOREIGN DATA WRAPPER bqstream_fdw
      OPTIONS (project_id '${PROJECT}', pubsub_endpoint 'http://${process.env.PUBSUB_EMULATOR_HOST}');
    CREATE USER MAPPING FOR CURRENT_USER SERVER interop OPTIONS (auth 'none')`);
});

after(async () => {
  await Promise.allSettled([pubsub && pubsub.close(), subscriber && subscriber.close()]);
  if (PG) psql(PG, `DROP DATABASE IF EXISTS ${DB}`);
  if (emulator) await emulator.stop();
});

async function pullAll(subscription, count) {
  const got = [];
  const deadline = Date.now() + 30000;
  while (got.length < count && Date.now() < deadline) {
    const [resp] = await subscriber.pull({subscription, maxMessages: 1000, returnImmediately: true});
    const msgs = resp.receivedMessages || [];
    if (msgs.length === 0) continue;
    got.push(...msgs.map((m) => m.message));
    await subscriber.acknowledge({subscription, ackIds: msgs.map((m) => m.ackId)});
  }
  return got;
}

test('the Node client pulls exactly the orders publish_orders() published',
  {skip: PG ? false : 'BQSTREAM_ORACLE_PGURL is not set'}, async () => {
    const N = 2500;
    const args = `seed => 20261125, malformed_fraction => 0.1, late_fraction => 0.2, ` +
      `"at" => '2026-11-25 10:00:00.123456+00'`;
    const [topic] = await pubsub.createTopic(`orders-${RUN}`);
    const [sub] = await topic.createSubscription(`orders-${RUN}-sub`);

    const published = psql(dbUrl(), `SELECT published || ' ' || failed || ' ' || malformed || ' ' || late
      FROM bqstream.publish_orders(${N}, 'interop', '${topic.name.split('/').pop()}', ${args},
                                   batch_size => 300)`).split(' ').map(Number);
    assert.equal(published[0], N, 'all orders published');
    assert.equal(published[1], 0, 'none failed');
    assert.ok(published[2] > 150 && published[2] < 350, `about 10% malformed (${published[2]})`);
    assert.ok(published[3] > 350 && published[3] < 650, `about 20% late (${published[3]})`);

    const expected = JSON.parse(psql(dbUrl(),
      `SELECT json_agg(o) FROM bqstream.sample_orders(${N}, ${args}) o`));
    assert.equal(expected.length, N);

    const messages = await pullAll(sub.name, N);
    assert.equal(messages.length, N, 'every message delivered');
    const payloads = messages.map((m) => Buffer.from(m.data).toString('utf8'));
    assert.deepEqual([...payloads].sort(), [...expected].sort(), 'payloads are the sampled orders, byte for byte');

    const ids = new Set(messages.map((m) => m.messageId));
    assert.equal(ids.size, N, 'message IDs are unique');
    for (const m of messages) {
      assert.equal(Object.keys(m.attributes || {}).length, 0, 'no attributes');
      assert.ok(m.publishTime, 'publish time set by the service');
    }

    // the valid ones are well-formed orders, as the pipeline will expect
    const valid = payloads.map((p) => { try { return JSON.parse(p); } catch { return null; } })
      .filter((o) => o && typeof o === 'object' && !Array.isArray(o) &&
        ['order_id', 'user_id', 'product_id', 'event_time'].every((k) => typeof o[k] === 'string' && o[k] !== '') &&
        typeof o.amount === 'number' && o.amount > 0 && !Number.isNaN(Date.parse(o.event_time)) &&
        Date.parse(o.event_time) <= Date.parse('2026-11-25T11:00:00Z'));
    assert.equal(valid.length, N - published[2], 'every message not counted as malformed is a valid order');
    for (const o of valid) {
      assert.match(o.order_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.match(o.event_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    await sub.delete();
    await topic.delete();
  });
