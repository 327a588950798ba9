'use strict';
// Conformance of the local emulator's Pub/Sub half with Google's official Node
// client (@google-cloud/pubsub) in REST mode: if the real client library
// accepts our responses and surfaces the expected gRPC codes, C code tested
// against the emulator is talking to something shaped like production.
//
// Run: node --test test/conformance/   (from the repository root)
// The emulator address comes from PUBSUB_EMULATOR_HOST (scripts/test.sh starts
// one); without it this file starts its own /usr/bin/python3 -m emulator.

const {test, before, after} = require('node:test');
const {startEmulator, sleep} = require('./emulator');
const assert = require('node:assert/strict');
const {PubSub, v1} = require('@google-cloud/pubsub');
const {PassThroughClient} = require('google-auth-library');

const PROJECT = 'conformance';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const GRPC = {NOT_FOUND: 5, ALREADY_EXISTS: 6, INVALID_ARGUMENT: 3};

let emulator = null; // the private emulator, when this file started one
let pubsub;
let publisher;
let subscriber;

const name = (kind) => `${kind}-${RUN}-${Math.random().toString(36).slice(2, 8)}`;


before(async () => {
  if (!process.env.PUBSUB_EMULATOR_HOST) {
    emulator = await startEmulator('pubsub');
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  }
  const options = {projectId: PROJECT, fallback: 'rest', protocol: 'http', authClient: new PassThroughClient()};
  pubsub = new PubSub(options);
  // the low-level clients get the emulator endpoint the high-level one derived
  const config = await pubsub.getClientConfig();
  publisher = new v1.PublisherClient(config);
  subscriber = new v1.SubscriberClient(config);
});

after(async () => {
  await Promise.allSettled([pubsub && pubsub.close(), publisher && publisher.close(), subscriber && subscriber.close()]);
  if (emulator) await emulator.stop();
});

async function createTopicAndSub(subOptions = {}) {
  const [topic] = await pubsub.createTopic(name('topic'));
  const [sub] = await topic.createSubscription(name('sub'), subOptions);
  return {topic, sub};
}

async function pull(sub, maxMessages = 10) {
  const [resp] = await subscriber.pull({subscription: sub.name, maxMessages, returnImmediately: true});
  return resp.receivedMessages || [];
}

async function pullUntil(sub, count, timeoutMs = 5000) {
  const got = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) {
    const [resp] = await subscriber.pull({subscription: sub.name, maxMessages: 100});
    got.push(...(resp.receivedMessages || []));
  }
  return got;
}

test('create topic and subscription, read them back', async () => {
  const {topic, sub} = await createTopicAndSub({ackDeadlineSeconds: 30, labels: {suite: 'conformance'}});
  const [meta] = await sub.getMetadata();
  assert.equal(meta.name, sub.name);
  assert.equal(meta.topic, topic.name);
  assert.equal(meta.ackDeadlineSeconds, 30);
  assert.deepEqual(meta.labels, {suite: 'conformance'});
  assert.equal(Number(meta.messageRetentionDuration.seconds), 604800);
  const [exists] = await topic.exists();
  assert.equal(exists, true);
  const [subs] = await topic.getSubscriptions();
  assert.deepEqual(subs.map((s) => s.name), [sub.name]);
  const [topics] = await pubsub.getTopics();
  assert.ok(topics.some((t) => t.name === topic.name));
});

test('publish with attributes, pull, ack', async () => {
  const {topic, sub} = await createTopicAndSub();
  const payload = Buffer.from(JSON.stringify({order_id: 42, amount: '19.99'}));
  const messageId = await topic.publishMessage({data: payload, attributes: {source: 'conformance', n: '1'}});
  assert.match(messageId, /^\d+$/);
  // the low-level publisher returns IDs in request order
  const [resp] = await publisher.publish({topic: topic.name, messages: [{data: Buffer.from('two')}]});
  // one ordering key per request: mixing keys is refused like production does
  const [keyed] = await publisher.publish({topic: topic.name, messages: [{data: Buffer.from('three'), orderingKey: 'k'}]});
  assert.equal(new Set([messageId, ...resp.messageIds, ...keyed.messageIds]).size, 3);
  await assert.rejects(publisher.publish({topic: topic.name, messages: [
    {data: Buffer.from('a'), orderingKey: 'k1'}, {data: Buffer.from('b'), orderingKey: 'k2'}]}),
  (err) => err.code === GRPC.INVALID_ARGUMENT);

  const received = await pullUntil(sub, 3);
  assert.equal(received.length, 3);
  const first = received.find((r) => r.message.messageId === messageId);
  assert.ok(first, 'published message pulled');
  assert.deepEqual(Buffer.from(first.message.data), payload);
  assert.deepEqual(first.message.attributes, {source: 'conformance', n: '1'});
  assert.ok(first.message.publishTime && Number(first.message.publishTime.seconds) > 1.6e9);
  assert.ok(first.ackId && first.ackId !== messageId);
  assert.ok(!first.deliveryAttempt, 'no deliveryAttempt without a dead-letter policy');
  const third = received.find((r) => Buffer.from(r.message.data).toString() === 'three');
  assert.equal(third.message.orderingKey, 'k');

  await subscriber.acknowledge({subscription: sub.name, ackIds: received.map((r) => r.ackId)});
  assert.deepEqual(await pull(sub), []);
});

test('nack and expired deadline redeliver with a new ackId', async () => {
  const {topic, sub} = await createTopicAndSub();
  const messageId = await topic.publishMessage({data: Buffer.from('again')});
  const [first] = await pullUntil(sub, 1);
  assert.equal(first.message.messageId, messageId);

  // nack: deadline 0 makes it available at once
  await subscriber.modifyAckDeadline({subscription: sub.name, ackIds: [first.ackId], ackDeadlineSeconds: 0});
  const [second] = await pull(sub);
  assert.equal(second.message.messageId, messageId);
  assert.notEqual(second.ackId, first.ackId);

  // let it expire: shorten this delivery's deadline to 1 s and wait
  await subscriber.modifyAckDeadline({subscription: sub.name, ackIds: [second.ackId], ackDeadlineSeconds: 1});
  assert.deepEqual(await pull(sub), [], 'not redelivered before its deadline');
  await sleep(1300);
  const [third] = await pullUntil(sub, 1);
  assert.equal(third.message.messageId, messageId);
  assert.notEqual(third.ackId, second.ackId);

  // a stale ackId is accepted but does not remove the redelivered message
  await subscriber.acknowledge({subscription: sub.name, ackIds: [first.ackId]});
  await subscriber.modifyAckDeadline({subscription: sub.name, ackIds: [third.ackId], ackDeadlineSeconds: 0});
  const [fourth] = await pull(sub);
  assert.equal(fourth.message.messageId, messageId);
  await subscriber.acknowledge({subscription: sub.name, ackIds: [fourth.ackId]});
  assert.deepEqual(await pull(sub), []);
});

test('dead-letter policy: deliveryAttempt counts and forwarding', async () => {
  const [dlqTopic] = await pubsub.createTopic(name('dlq'));
  const [dlqSub] = await dlqTopic.createSubscription(name('dlqsub'));
  const {topic, sub} = await createTopicAndSub({deadLetterPolicy: {deadLetterTopic: dlqTopic.name, maxDeliveryAttempts: 5}});
  const [meta] = await sub.getMetadata();
  assert.equal(meta.deadLetterPolicy.maxDeliveryAttempts, 5);
  await topic.publishMessage({data: Buffer.from('poison'), attributes: {kind: 'bad'}});

  const attempts = [];
  for (let i = 0; i < 5; i++) {
    const [r] = await pullUntil(sub, 1);
    attempts.push(r.deliveryAttempt);
    await subscriber.modifyAckDeadline({subscription: sub.name, ackIds: [r.ackId], ackDeadlineSeconds: 0});
  }
  assert.deepEqual(attempts, [1, 2, 3, 4, 5]);
  assert.deepEqual(await pull(sub), [], 'gone from the source subscription');

  const [dead] = await pullUntil(dlqSub, 1);
  assert.equal(Buffer.from(dead.message.data).toString(), 'poison');
  const attrs = dead.message.attributes;
  assert.equal(attrs.kind, 'bad');
  assert.equal(attrs.CloudPubSubDeadLetterSourceDeliveryCount, '5');
  assert.equal(attrs.CloudPubSubDeadLetterSourceSubscription, sub.name.split('/').pop());
  assert.equal(attrs.CloudPubSubDeadLetterSourceSubscriptionProject, PROJECT);
  assert.ok(attrs.CloudPubSubDeadLetterSourceTopicPublishTime);
  await subscriber.acknowledge({subscription: dlqSub.name, ackIds: [dead.ackId]});
});

test('error codes: NOT_FOUND and ALREADY_EXISTS', async () => {
  const missing = pubsub.topic(name('missing'));
  await assert.rejects(missing.publishMessage({data: Buffer.from('x')}), (err) => {
    assert.equal(err.code, GRPC.NOT_FOUND);
    assert.match(err.message, /Resource not found \(resource=missing-/);
    return true;
  });
  await assert.rejects(publisher.getTopic({topic: missing.name}), (err) => err.code === GRPC.NOT_FOUND);
  await assert.rejects(missing.createSubscription(name('orphan')), (err) => err.code === GRPC.NOT_FOUND);

  const [topic] = await pubsub.createTopic(name('dup'));
  await assert.rejects(pubsub.createTopic(topic.name), (err) => {
    assert.equal(err.code, GRPC.ALREADY_EXISTS);
    assert.match(err.message, /Resource already exists in the project/);
    return true;
  });
  await assert.rejects(subscriber.pull({subscription: `projects/${PROJECT}/subscriptions/${name('none')}`, maxMessages: 1}),
    (err) => err.code === GRPC.NOT_FOUND);
  await assert.rejects(publisher.createTopic({name: `projects/${PROJECT}/topics/goog-reserved`}),
    (err) => err.code === GRPC.INVALID_ARGUMENT);
});

test('delete topic and subscription', async () => {
  const {topic, sub} = await createTopicAndSub();
  await topic.delete();
  const [meta] = await sub.getMetadata();
  assert.equal(meta.topic, '_deleted-topic_');
  await sub.delete();
  const [exists] = await sub.exists();
  assert.equal(exists, false);
});
