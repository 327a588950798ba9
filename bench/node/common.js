'use strict';
// Plumbing shared by the Node side of bench/sidebyside.py: arguments, the
// clients pointed at the local emulator the way test/conformance does it, and
// the handshake that lets the Python driver read the emulator's CPU time at the
// exact start and end of the measured part.
//
// Protocol on stdout/stdin, one JSON object per line:
//   node -> {"ready": true, ...}          setup done (payloads read, clients built and warmed up)
//   driver -> go                          start measuring now
//   node -> {"done": true, "seconds": s, "cpu_user_s": u, "cpu_system_s": k, ...}
// The wall time is performance.now() and the CPU time process.cpuUsage() (all
// threads of this process: JS, GC, libuv) around the measured part only.

// Never probe for a GCE metadata server.
process.env.METADATA_SERVER_DETECTION = 'none';

const readline = require('node:readline');
const {performance} = require('node:perf_hooks');

function parseArgs(defaults) {
  const out = {...defaults};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    const key = m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (!(key in out)) throw new Error(`unknown option --${m[1]}`);
    out[key] = typeof out[key] === 'number' ? Number(value) : value;
  }
  return out;
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Announce readiness and resolve when the driver says "go".
function ready(info = {}) {
  send({ready: true, ...info});
  return new Promise((resolve) => {
    const rl = readline.createInterface({input: process.stdin});
    rl.once('line', () => {
      rl.close();
      resolve();
    });
  });
}

// Start a measurement; the returned function gives the figures so far.
function startClock() {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return {seconds: (performance.now() - t0) / 1000, cpu_user_s: c.user / 1e6, cpu_system_s: c.system / 1e6};
  };
}

function done(figures) {
  send({done: true, ...figures});
}

// @google-cloud/pubsub in REST mode against PUBSUB_EMULATOR_HOST, as
// test/conformance/pubsub.test.js builds it: the emulator speaks REST/JSON only.
function pubsubClient(projectId) {
  const {PubSub} = require('@google-cloud/pubsub');
  const {PassThroughClient} = require('google-auth-library');
  return new PubSub({projectId, fallback: 'rest', protocol: 'http', authClient: new PassThroughClient()});
}

// @google-cloud/bigquery on the emulator's endpoint, as test/conformance/bigquery.test.js.
function bigqueryClient(projectId, host) {
  const {BigQuery} = require('@google-cloud/bigquery');
  const {PassThroughClient} = require('google-auth-library');
  return new BigQuery({projectId, apiEndpoint: `http://${host}`, authClient: new PassThroughClient()});
}

function fail(err) {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

module.exports = {parseArgs, ready, startClock, done, pubsubClient, bigqueryClient, fail};
