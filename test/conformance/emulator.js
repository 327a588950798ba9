// Starts a private local emulator for a conformance test file run on its own
// (scripts/test.sh passes the address of a shared one instead).
'use strict';

const {spawn} = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start `python3 -m emulator` with one service on a free port; resolves to
// {host: '127.0.0.1:PORT', stop()}.
async function startEmulator(service) {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `bqstream-conformance-${service}-`));
  const portsFile = path.join(tmpDir, 'ports.json');
  const child = spawn('/usr/bin/python3', ['-m', 'emulator', '--services', service, `--${service}-port`, '0',
    '--ports-file', portsFile], {cwd: REPO, env: {...process.env, PYTHONPATH: REPO}, stdio: ['ignore', 'ignore', 'inherit']});
  const deadline = Date.now() + 20000;
  while (!fs.existsSync(portsFile)) {
    if (child.exitCode !== null) throw new Error(`emulator exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('emulator did not start');
    await sleep(50);
  }
  const port = JSON.parse(fs.readFileSync(portsFile, 'utf8'))[service];
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      fs.rmSync(tmpDir, {recursive: true, force: true});
    },
  };
}

module.exports = {startEmulator, sleep};
