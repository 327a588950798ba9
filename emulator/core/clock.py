"""The emulator's clock: real time plus an offset tests can move forward.

Everything whose behaviour depends on elapsed time reads this clock instead of
the `time` module: Pub/Sub leases and redelivery, insertId de-duplication
windows, the expiry of uncommitted Storage Write API data. POST
/emulator/clock {"advance_s": 660} (any HTTP port) moves it forward, so a test
can show "redelivered after more than 10 minutes" without waiting 10 minutes.
The clock never goes back: a lease or window that has run out stays run out.
The offset lives in memory only; a restarted emulator starts at real time.
"""

import threading
import time as _time

from .errors import ApiError

_lock = threading.Lock()
_offset_s = 0.0


def time():
    return _time.time() + _offset_s


def time_ns():
    return _time.time_ns() + int(_offset_s * 1e9)


def monotonic():
    return _time.monotonic() + _offset_s


def offset():
    return _offset_s


def advance(seconds):
    global _offset_s
    with _lock:
        _offset_s += seconds
        return _offset_s


def control(method, body):
    """GET /emulator/clock, POST /emulator/clock {"advance_s": S}."""
    if method == "POST":
        s = body.get("advance_s")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0 or s != s:
            raise ApiError(400, "INVALID_ARGUMENT",
                           "advance_s must be a non-negative number of seconds")
        advance(float(s))
    return {"offset_s": _offset_s, "now": time()}
