'use strict';
// Publish side of bench/sidebyside.py: what a GCP user writes with
// @google-cloud/pubsub to publish a file of orders as fast as the client goes.
//
//   node publish.js --file payloads.txt --project P --topic T [--batch 1000] [--in-flight 4]
//
// One payload per line (the exact bytes of bqstream.sample_orders(), so the
// messages equal those of publish_orders() with the same seed and time).
// topic.publishMessage() through the client's flow-controlled publisher
// (topic.flowControlled(), the documented way to publish from a tight loop):
//   batching.maxMessages = --batch (publish_orders' batch_size, default 1000),
//   batching.maxBytes = the client's ceiling (9 MiB; publish_orders fills a
//     request up to ~10 MB, so for ~150-byte orders the message count binds
//     on both sides),
//   flowControlOptions.maxOutstandingMessages = batch * in-flight, so at most
//     --in-flight full batches (publish_orders' max_in_flight, default 4) are
//     outstanding, i.e. as many publish requests in flight as bqstream keeps.
// Everything before "go" (reading the file, building the client, one
// getMetadata call that loads the REST stub) is outside the measurement.

const fs = require('node:fs');
const {parseArgs, ready, startClock, done, pubsubClient, fail} = require('./common');

async function main() {
  const args = parseArgs({file: '', project: 'bench-project', topic: '', batch: 1000, inFlight: 4,
    maxMilliseconds: 10});
  const buf = fs.readFileSync(args.file);
  const payloads = [];
  for (let start = 0; start < buf.length;) {
    let end = buf.indexOf(10, start);
    if (end < 0) end = buf.length;
    if (end > start) payloads.push(buf.subarray(start, end));
    start = end + 1;
  }
  const bytes = payloads.reduce((s, p) => s + p.length, 0);

  const pubsub = pubsubClient(args.project);
  const topic = pubsub.topic(args.topic, {
    batching: {maxMessages: args.batch, maxBytes: 9 * 1024 * 1024, maxMilliseconds: args.maxMilliseconds},
    flowControlOptions: {maxOutstandingMessages: args.batch * args.inFlight},
  });
  await topic.getMetadata();
  await ready({messages: payloads.length, bytes});

  const clock = startClock();
  const fc = topic.flowControlled();
  for (const data of payloads) {
    const wait = fc.publish({data});
    if (wait) await wait;
  }
  const ids = await fc.all();
  const figures = clock();
  if (ids.length !== payloads.length || ids.some((id) => !id)) {
    throw new Error(`published ${ids.length} of ${payloads.length}`);
  }
  done({...figures, published: ids.length, bytes});
  await pubsub.close();
  process.exit(0);
}

main().catch(fail);
