'use strict';
// Stream side of bench/sidebyside.py: a consumer a GCP user writes with
// @google-cloud/pubsub and @google-cloud/bigquery, doing what one bqstream
// pipeline worker does, draining a backlog of --n messages.
//
//   node consume.js --project P --subscription S --dataset D --table T --n N
//                   [--concurrency W] [--batch 1000] [--chunk 500]
//
// --concurrency loops run in this one process, each: pull up to --batch
// messages (v1.SubscriberClient.pull, returnImmediately false, as the worker
// asks) -> decode, JSON.parse and validate each payload against the table's
// schema (read once with table.getMetadata(), as the worker does with
// tables.get) and the order rules of src/worker/validate.c (no unknown
// fields, required ones present, types, ids non-empty and at most 128
// characters, amount a finite non-negative number, event_time an RFC 3339
// timestamp at most 1 hour ahead; lateness over 5 minutes counted) ->
// table.insert(rows, {raw: true, skipInvalidRows: true, ignoreUnknownValues:
// false}) in chunks of --chunk rows, one after the other, each row with
// insertId = the message ID -> acknowledge the batch after the inserts.
// Rejected payloads are only counted here (bqstream commits them to its
// dead-letter table); with the benchmark's orders there are none.
//
// Streaming pull (subscription.on('message')) is not used: it is a gRPC
// bidirectional stream, the emulator speaks REST only, and in the client's
// REST mode subscription.on('message') fails at once ("Cannot set properties
// of undefined (setting 'highWaterMark')"). Unary pull over REST is what
// test/conformance does too.

const {v1} = require('@google-cloud/pubsub');
const {parseArgs, ready, startClock, done, pubsubClient, bigqueryClient, fail} = require('./common');

const MAX_ID_LENGTH = 128;
const MAX_FUTURE_SKEW_MS = 3600 * 1000;
const MAX_LATENESS_MS = 5 * 60 * 1000;
const RFC3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$/;

// The table's fields as the validator needs them.
function compileSchema(fields) {
  const byName = new Map();
  for (const f of fields) {
    const type = f.mode === 'REPEATED' ? 'OTHER'
      : ({STRING: 'STRING', INTEGER: 'INT64', INT64: 'INT64', FLOAT: 'FLOAT64', FLOAT64: 'FLOAT64',
        NUMERIC: 'FLOAT64', BIGNUMERIC: 'FLOAT64', BOOLEAN: 'BOOL', BOOL: 'BOOL', TIMESTAMP: 'TIMESTAMP'})[f.type] || 'OTHER';
    byName.set(f.name, {name: f.name, type, required: f.mode === 'REQUIRED', isId: f.name.length > 3 && f.name.endsWith('_id'),
      isAmount: f.name === 'amount', isEventTime: f.name === 'event_time'});
  }
  return {byName, required: [...byName.values()].filter((f) => f.required).map((f) => f.name)};
}

// -> {row} or {reason}; row.eventMs when an event_time was read.
function validate(schema, text, nowMs) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    return {reason: 'not_json'};
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return {reason: 'not_an_object'};
  let eventMs = 0;
  for (const key of Object.keys(obj)) {
    const f = schema.byName.get(key);
    if (!f) return {reason: 'unknown_field'};
    const v = obj[key];
    if (v === null) continue;
    if (typeof v === 'object' && f.type !== 'OTHER') return {reason: 'wrong_type'};
    switch (f.type) {
      case 'STRING':
        if (typeof v !== 'string') return {reason: 'wrong_type'};
        if (f.isId && (v.length === 0 || v.length > MAX_ID_LENGTH)) return {reason: 'invalid_id'};
        break;
      case 'INT64':
        if (!(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'string' && /^[+-]?\d+$/.test(v))) {
          return {reason: 'wrong_type'};
        }
        break;
      case 'FLOAT64':
        if (typeof v !== 'number') return {reason: 'wrong_type'};
        if (f.isAmount && !(Number.isFinite(v) && v >= 0)) return {reason: 'invalid_amount'};
        break;
      case 'BOOL':
        if (typeof v !== 'boolean') return {reason: 'wrong_type'};
        break;
      case 'TIMESTAMP': {
        const ms = typeof v === 'string' && RFC3339.test(v) ? Date.parse(v) : NaN;
        if (Number.isNaN(ms)) return {reason: 'bad_timestamp'};
        if (ms > nowMs + MAX_FUTURE_SKEW_MS) return {reason: 'future_event_time'};
        if (f.isEventTime) eventMs = ms;
        break;
      }
      default:
        break;
    }
  }
  for (const name of schema.required) {
    if (obj[name] === undefined || obj[name] === null) return {reason: 'missing_field'};
  }
  return {row: obj, eventMs};
}

function publishMs(ts) {
  if (!ts) return 0;
  return Number(ts.seconds || 0) * 1000 + Math.floor((ts.nanos || 0) / 1e6);
}

async function main() {
  const args = parseArgs({project: 'bench-project', subscription: '', dataset: 'shop', table: '', n: 0,
    concurrency: 2, batch: 1000, chunk: 500, bigqueryHost: process.env.BIGQUERY_EMULATOR_HOST || ''});
  const pubsub = pubsubClient(args.project);
  const subscriber = new v1.SubscriberClient(await pubsub.getClientConfig());
  const subscription = `projects/${args.project}/subscriptions/${args.subscription}`;
  const bq = bigqueryClient(args.project, args.bigqueryHost);
  const table = bq.dataset(args.dataset).table(args.table);
  const [meta] = await table.getMetadata();
  const schema = compileSchema(meta.schema.fields);
  await subscriber.getSubscription({subscription});   // loads the REST stub
  await ready({subscription, table: args.table});

  const clock = startClock();
  const stats = {received: 0, inserted: 0, rejected: 0, refused_by_bigquery: 0, late: 0, acked: 0,
    pulls: 0, empty_pulls: 0, insert_requests: 0};
  let finished = null;

  async function loop() {
    while (stats.acked < args.n) {
      const [resp] = await subscriber.pull({subscription, maxMessages: args.batch});
      stats.pulls++;
      const msgs = resp.receivedMessages || [];
      if (msgs.length === 0) {
        stats.empty_pulls++;
        continue;
      }
      stats.received += msgs.length;
      const nowMs = Date.now();
      const rows = [];
      for (const m of msgs) {
        const d = m.message.data;   // bytes: a Uint8Array (Buffer) decoded from base64 by the client
        const text = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('utf8');
        const v = validate(schema, text, nowMs);
        if (v.reason) {
          stats.rejected++;
          continue;
        }
        const pub = publishMs(m.message.publishTime);
        if (pub && v.eventMs && pub - v.eventMs > MAX_LATENESS_MS) stats.late++;
        rows.push({insertId: m.message.messageId, json: v.row});
      }
      for (let from = 0; from < rows.length; from += args.chunk) {
        const chunk = rows.slice(from, from + args.chunk);
        stats.insert_requests++;
        try {
          await table.insert(chunk, {raw: true, skipInvalidRows: true, ignoreUnknownValues: false});
          stats.inserted += chunk.length;
        } catch (err) {
          if (err.name !== 'PartialFailureError') throw err;
          stats.refused_by_bigquery += err.errors.length;
          stats.inserted += chunk.length - err.errors.length;
        }
      }
      await subscriber.acknowledge({subscription, ackIds: msgs.map((m) => m.ackId)});
      stats.acked += msgs.length;
      if (stats.acked >= args.n && !finished) {
        finished = clock();
        done({...finished, ...stats});
      }
    }
  }

  // The clock stops when the count is reached; the other loops may still be
  // inside a pull that the emulator holds for up to a second. Wait for them
  // before exiting: a held pull whose client vanished would still be given
  // messages published afterwards, and they would come back only after the
  // ack deadline.
  await Promise.all(Array.from({length: args.concurrency}, loop));
  process.exit(0);
}

main().catch(fail);
