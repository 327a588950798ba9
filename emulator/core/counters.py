"""Thread-safe counters reported at GET /emulator/counters.

Each service gets one `Counters`. The core fills the `requests` group (per API
method name) and the `responses` group (per HTTP status, as a string key);
services add flat counters with `incr(name, n)`. `declare()` makes a counter
show up as 0 before its first increment, so test code can read it without
guarding against a missing key; a reset zeroes counters rather than dropping
them for the same reason.
"""

import threading


class Counters:
    GROUPS = ("requests", "responses")

    def __init__(self):
        self._lock = threading.Lock()
        self._flat = {}
        self._groups = {g: {} for g in self.GROUPS}

    def declare(self, *names):
        with self._lock:
            for name in names:
                self._flat.setdefault(name, 0)

    def incr(self, name, n=1):
        with self._lock:
            self._flat[name] = self._flat.get(name, 0) + n

    def incr_group(self, group, key, n=1):
        key = str(key)
        with self._lock:
            g = self._groups[group]
            g[key] = g.get(key, 0) + n

    def get(self, name):
        with self._lock:
            return self._flat.get(name, 0)

    def snapshot(self):
        with self._lock:
            out = {g: dict(v) for g, v in self._groups.items()}
            out.update(self._flat)
            return out

    def reset(self):
        with self._lock:
            for name in self._flat:
                self._flat[name] = 0
            for g in self._groups:
                self._groups[g] = {}
