// Starts a private local emulator for a conformance test file run on its own
// (scripts/test.sh passes the address of a shared one instead).
'use strict';

const {spawn} = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start `python3 -m emulator` with one service (or several: an array) on free
// ports; resolves to {host: '127.0.0.1:PORT' of the first, hosts: {service:
// '127.0.0.1:PORT'}, stop()}.
async function startEmulator(services) {
  const list = Array.isArray(services) ? services : [services];
  const service = list[0];
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `bqstream-conformance-${service}-`));
  const portsFile = path.join(tmpDir, 'ports.json');
  const args = ['-m', 'emulator', '--services', list.join(','), '--ports-file', portsFile];
  for (const s of list) args.push(`--${s}-port`, '0');
  const child = spawn('/usr/bin/python3', args,
    {cwd: REPO, env: {...process.env, PYTHONPATH: REPO}, stdio: ['ignore', 'ignore', 'inherit']});
  const deadline = Date.now() + 20000;
  while (!fs.existsSync(portsFile)) {
    if (child.exitCode !== null) throw new Error(`emulator exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('emulator did not start');
    await sleep(50);
  }
  const ports = JSON.parse(fs.readFileSync(portsFile, 'utf8'));
  const hosts = Object.fromEntries(list.map((s) => [s, `127.0.0.1:${ports[s]}`]));
  return {
    host: hosts[service],
    hosts,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      fs.rmSync(tmpDir, {recursive: true, force: true});
    },
  };
}

module.exports = {startEmulator, sleep};
