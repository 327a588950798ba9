"""The emulator process: signals, ports file, data-dir lock, CLI errors,
in-memory mode."""

import json
import os
import signal
import subprocess
import unittest

try:
    from .helpers import PYTHON, REPO_ROOT, EmulatorError, EmulatorProcess
except ImportError:  # run from inside test/emulator
    from helpers import PYTHON, REPO_ROOT, EmulatorError, EmulatorProcess


def run_cli(*args, timeout=20):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run([PYTHON, "-m", "emulator", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


class CliTests(unittest.TestCase):
    def test_sigterm_and_sigint_exit_zero(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig), EmulatorProcess() as emu:
                with open(emu.ports_file) as f:
                    self.assertEqual(set(json.load(f)), {"pubsub"})
                # a connection is held open (keep-alive) while stopping
                conn = emu.connection()
                conn.request("GET", "/emulator/health")
                conn.getresponse().read()
                self.assertEqual(emu.terminate(sig), 0)
                conn.close()
                self.assertFalse(os.path.exists(emu.ports_file))
                self.assertIn("stopped", emu.log())

    def test_sigterm_during_long_poll(self):
        with EmulatorProcess(extra_args=["--pubsub-pull-wait-ms", "5000"], data_dir=None) as emu:
            emu.call("PUT", "/v1/projects/p/topics/poll")
            emu.call("PUT", "/v1/projects/p/subscriptions/poll", {"topic": "projects/p/topics/poll"})
            conn = emu.connection()
            conn.request("POST", "/v1/projects/p/subscriptions/poll:pull", body=b'{"maxMessages":1}')
            import time
            time.sleep(0.2)
            t0 = time.monotonic()
            self.assertEqual(emu.terminate(), 0)
            self.assertLess(time.monotonic() - t0, 3)
            conn.close()

    def test_pull_held_as_long_as_googles_by_default(self):
        # Pub/Sub and Google's emulator hold an empty pull for about 90 s
        r = run_cli("--services", "pubsub", "--help")
        self.assertIn("default 90000", r.stdout)
        with EmulatorProcess(data_dir=None) as emu:
            emu.call("PUT", "/v1/projects/p/topics/idle")
            emu.call("PUT", "/v1/projects/p/subscriptions/idle", {"topic": "projects/p/topics/idle"})
            conn = emu.connection(timeout=3)
            conn.request("POST", "/v1/projects/p/subscriptions/idle:pull", body=b'{"maxMessages":1}')
            with self.assertRaises(TimeoutError):
                conn.getresponse()
            conn.close()

    def test_data_dir_is_locked(self):
        with EmulatorProcess() as first:
            second = EmulatorProcess(start=False, data_dir=first.data_dir)
            self.addCleanup(second.stop)
            with self.assertRaises(EmulatorError) as cm:
                second.start()
            self.assertIn("in use by another emulator", str(cm.exception))

    def test_in_memory_forgets(self):
        with EmulatorProcess(data_dir=None) as emu:
            self.assertEqual(emu.call("PUT", "/v1/projects/p/topics/memory")[0], 200)
            emu.restart(hard=False)
            self.assertEqual(emu.call("GET", "/v1/projects/p/topics/memory")[0], 404)

    def test_restart_keeps_ports(self):
        with EmulatorProcess() as emu:
            before = dict(emu.ports)
            emu.restart(hard=True)
            self.assertEqual(emu.ports, before)

    def test_bad_arguments(self):
        r = run_cli("--services", "pubsub,nosuch")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown service", r.stderr)
        r = run_cli("--services", "pubsub", "--fault-error-codes", "418")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("error_codes", r.stderr)
        r = run_cli("--services", "pubsub", "--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--pubsub-port", "--data-dir", "--ports-file", "--fault-error-rate", "--fault-seed",
                     "--pubsub-pull-wait-ms", "--pubsub-min-ack-deadline", "--fsync"):
            self.assertIn(flag, r.stdout)

    def test_port_in_use(self):
        with EmulatorProcess(data_dir=None) as emu:
            r = run_cli("--services", "pubsub", "--pubsub-port", str(emu.ports["pubsub"]))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("cannot listen", r.stderr)


if __name__ == "__main__":
    unittest.main()
