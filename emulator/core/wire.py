"""proto3 JSON mapping helpers shared by the services.

Timestamps (RFC 3339, UTC, `Z`, 0/3/6/9 fractional digits as the canonical
proto3 serializer prints them), Durations (`"600s"`, `"3.500s"`), and the
lenient integer parsing proto3 JSON allows on input (a JSON number or a decimal
string for int32/int64 fields).
"""

import re
import time

_DURATION_RE = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s$")


def rfc3339_ns(ns):
    """Format nanoseconds since the epoch the way the proto3 JSON printer does:
    no fraction when whole seconds, else 3, 6 or 9 digits."""
    sec, frac = divmod(int(ns), 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac == 0:
        return base + "Z"
    if frac % 1_000_000 == 0:
        return "%s.%03dZ" % (base, frac // 1_000_000)
    if frac % 1_000 == 0:
        return "%s.%06dZ" % (base, frac // 1_000)
    return "%s.%09dZ" % (base, frac)


def rfc3339_ms_offset(ns):
    """`2022-08-12T15:56:29.732+00:00`: the millisecond, explicit-offset form
    Pub/Sub uses inside the CloudPubSubDeadLetterSourceTopicPublishTime
    attribute."""
    sec, frac = divmod(int(ns), 1_000_000_000)
    return "%s.%03d+00:00" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)), frac // 1_000_000)


def parse_duration(value):
    """Parse a proto3 JSON Duration ("600s", "3.5s") to float seconds.
    Raises ValueError when the text is not a Duration."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    m = _DURATION_RE.match(value)
    if not m:
        raise ValueError("bad duration")
    sign, whole, frac = m.groups()
    secs = int(whole) + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)
    return -secs if sign else secs


def format_duration(seconds):
    """Canonical proto3 JSON Duration text for a number of seconds."""
    ns = int(round(seconds * 1e9))
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 1_000_000_000)
    if frac == 0:
        return "%s%ds" % (sign, sec)
    if frac % 1_000_000 == 0:
        return "%s%d.%03ds" % (sign, sec, frac // 1_000_000)
    if frac % 1_000 == 0:
        return "%s%d.%06ds" % (sign, sec, frac // 1_000)
    return "%s%d.%09ds" % (sign, sec, frac)


def parse_int(value):
    """proto3 JSON integer input: a JSON number without fraction, or a string
    holding a decimal integer. Raises ValueError otherwise (bool included,
    since Python's bool is an int but JSON true is not a number)."""
    if isinstance(value, bool):
        raise ValueError("bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError("fraction")
    if isinstance(value, str):
        s = value.strip()
        if re.fullmatch(r"-?\d+", s):
            return int(s)
    raise ValueError("not an integer")
