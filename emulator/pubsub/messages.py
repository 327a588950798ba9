"""Publish request validation and message rendering: the publish hot path.

A published message is kept as the JSON text of its PubsubMessage object,
rendered once here, and is spliced unchanged into every pull response and the
journal. `data` stays the base64 text the client sent (validated, not
re-encoded) unless it was URL-safe or unpadded, which real Pub/Sub accepts on
input but never emits; those are normalized to standard padded base64.

Limits and texts (recorded from production where marked in
docs/gcp-rest-reference.md): 1..1000 messages; JSON body <= 10,485,760 bytes
("Request payload size exceeds the limit"); protobuf-encoded request <=
10,000,000 bytes ("The value for request_size is too large"); each message has
data or an attribute; <= 100 attributes; key 1..256 bytes, not "goog..."; value
<= 1024 bytes; ordering key <= 1024 bytes and one ordering key per request.
"""

import base64
import binascii
import json

from ..core.errors import ApiError, bad_request_field

MAX_MESSAGES = 1000
MAX_PAYLOAD = 10_485_760
MAX_REQUEST_SIZE = 10_000_000
MAX_ATTRIBUTES = 100
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024
MAX_ORDERING_KEY_BYTES = 1024

_CAMEL_KEYS = frozenset(("data", "attributes", "orderingKey", "messageId", "publishTime"))
# proto3 JSON parsers accept the original proto field names too
_SNAKE = {"ordering_key": "orderingKey", "message_id": "messageId", "publish_time": "publishTime"}

_a2b = binascii.a2b_base64
_B64Error = binascii.Error


def _invalid(msg):
    return ApiError(400, "INVALID_ARGUMENT", msg)


def _vs(n):
    """Size of a protobuf varint."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3 if n < 0x200000 else 4 if n < 0x10000000 else 5


def check_payload_size(nbytes):
    if nbytes > MAX_PAYLOAD:
        raise _invalid("Request payload size exceeds the limit: %d bytes." % MAX_PAYLOAD)


def check_count(n):
    if n == 0:
        raise _invalid("The value for message_count is too small. You passed 0 in the request, "
                       "but the minimum value is 1.")
    if n > MAX_MESSAGES:
        raise _invalid("The value for message_count is too large. You passed %d in the request, "
                       "but the maximum value is %d." % (n, MAX_MESSAGES))


def _lenient_b64(data, i):
    """Standard or URL-safe alphabet, padded or not (what the proto3 JSON
    parser accepts); returns (normalized standard padded text, decoded length)."""
    t = data.replace("-", "+").replace("_", "/")
    t += "=" * (-len(t) % 4)
    try:
        raw = _a2b(t, strict_mode=True)
    except _B64Error:
        shown = data if len(data) <= 64 else data[:64] + "..."
        raise bad_request_field("messages[%d].data" % i,
                                "Invalid value at 'messages[%d].data' (TYPE_BYTES), "
                                "Base64 decoding failed for \"%s\"" % (i, shown)) from None
    return base64.b64encode(raw).decode("ascii"), len(raw)


def _normalize_keys(m, i):
    out = {}
    for k, v in m.items():
        k2 = _SNAKE.get(k, k)
        if k2 not in _CAMEL_KEYS:
            raise _invalid("Invalid JSON payload received. Unknown name \"%s\" at 'messages[%d]': "
                           "Cannot find field." % (k, i))
        out[k2] = v
    return out


def _attributes(attrs, i):
    """Validate a message's attributes; return (json text, protobuf size)."""
    if type(attrs) is not dict:
        raise bad_request_field("messages[%d].attributes" % i,
                                "Invalid value at 'messages[%d].attributes' (Map), "
                                "Cannot bind a list to map for field 'attributes'." % i
                                if isinstance(attrs, list) else
                                "Invalid value at 'messages[%d].attributes' (Map), %s" % (i, json.dumps(attrs)))
    if len(attrs) > MAX_ATTRIBUTES:
        raise _invalid("The value for attribute_count is too large. You passed %d in the request, "
                       "but the maximum value is %d." % (len(attrs), MAX_ATTRIBUTES))
    size = 0
    for j, (k, v) in enumerate(attrs.items()):
        if type(v) is not str:
            raise bad_request_field("messages[%d].attributes[%d].value" % (i, j),
                                    "Invalid value at 'messages[%d].attributes[%d].value' (TYPE_STRING), %s"
                                    % (i, j, json.dumps(v)))
        # a character is at most 4 UTF-8 bytes: only long strings need encoding
        kb = len(k) if len(k) * 4 <= MAX_KEY_BYTES else len(k.encode("utf-8", "surrogatepass"))
        vb = len(v) if len(v) * 4 <= MAX_VALUE_BYTES else len(v.encode("utf-8", "surrogatepass"))
        if kb == 0:
            raise _invalid("Some attribute keys in the request are empty. Attribute keys must be non-empty.")
        if kb > MAX_KEY_BYTES:
            raise _invalid("One of the attributes in the request has a key that is too long. The length is "
                           "%d characters, but the maximum allowed is %d. Refer to "
                           "https://cloud.google.com/pubsub/quotas for more information." % (kb, MAX_KEY_BYTES))
        if vb > MAX_VALUE_BYTES:
            raise _invalid("One of the attributes in the request has a value that is too long. The length is "
                           "%d characters, but the maximum allowed is %d. Refer to "
                           "https://cloud.google.com/pubsub/quotas for more information." % (vb, MAX_VALUE_BYTES))
        if k[:4].lower() == "goog":
            raise _invalid("The attribute key \"%s\" is reserved: attribute keys must not start with \"goog\"." % k)
        entry = 2 + _vs(kb) + kb + (1 + _vs(vb) + vb if vb else 0)
        size += 1 + _vs(entry) + entry
    return json.dumps(attrs, separators=(",", ":")), size


def prepare(messages):
    """Validate the `messages` list of a publish request.

    Returns (prefixes, ordering_key, request_size): for each message the start
    of its rendered JSON up to and including `"messageId":"`, which the broker
    completes with the ID and the suffix from `suffix()`; the request's
    ordering key ("" when none); the protobuf-encoded size of the messages.
    """
    if type(messages) is not list:
        raise bad_request_field("messages", "Invalid value at 'messages' (type.googleapis.com/"
                                "google.pubsub.v1.PubsubMessage), %s" % json.dumps(messages)[:100])
    check_count(len(messages))
    prefixes = []
    append = prefixes.append
    total = 0
    okey = None
    for i, m in enumerate(messages):
        if type(m) is not dict:
            raise bad_request_field("messages[%d]" % i, "Invalid value at 'messages[%d]' "
                                    "(type.googleapis.com/google.pubsub.v1.PubsubMessage), %s"
                                    % (i, json.dumps(m)[:100]))
        if not m.keys() <= _CAMEL_KEYS:
            m = _normalize_keys(m, i)
        data = m.get("data")
        if data:
            if type(data) is not str:
                raise bad_request_field("messages[%d].data" % i, "Invalid value at 'messages[%d].data' "
                                        "(TYPE_BYTES), %s" % (i, json.dumps(data)[:100]))
            try:
                dlen = len(_a2b(data, strict_mode=True))
            except _B64Error:
                data, dlen = _lenient_b64(data, i)
            # strict base64 text needs no JSON escaping: splice it directly
            head = '{"data":"' + data + '",'
            size = 1 + _vs(dlen) + dlen if dlen else 0
        else:
            if data is not None and data != "":
                raise bad_request_field("messages[%d].data" % i, "Invalid value at 'messages[%d].data' "
                                        "(TYPE_BYTES), %s" % (i, json.dumps(data)[:100]))
            dlen = 0
            head = "{"
            size = 0
        attrs = m.get("attributes")
        if attrs:
            ajson, asize = _attributes(attrs, i)
            head += '"attributes":' + ajson + ","
            size += asize
        elif dlen == 0:
            raise _invalid("One or more messages in the publish request is empty. Each message must "
                           "contain either non-empty data, or at least one attribute.")
        elif attrs is not None and type(attrs) is not dict:
            _attributes(attrs, i)  # raises the type error
        k = m.get("orderingKey") or ""
        if k != okey:
            if okey is not None:
                raise _invalid("In a single publish request, all messages must have no ordering key "
                               "or they must all have the same ordering key.")
            if type(k) is not str:
                raise bad_request_field("messages[%d].ordering_key" % i,
                                        "Invalid value at 'messages[%d].ordering_key' (TYPE_STRING), %s"
                                        % (i, json.dumps(k)))
            if len(k.encode("utf-8", "surrogatepass")) > MAX_ORDERING_KEY_BYTES:
                raise _invalid("The ordering key in the request is too long. The maximum allowed length is "
                               "%d bytes." % MAX_ORDERING_KEY_BYTES)
            okey = k
        if k:
            size += 1 + _vs(len(k)) + len(k)
        total += 1 + _vs(size) + size
        append(head + '"messageId":"')
    return prefixes, okey or "", total


def check_request_size(topic_full, messages_size):
    size = messages_size + 1 + _vs(len(topic_full)) + len(topic_full)
    if size > MAX_REQUEST_SIZE:
        raise _invalid("The value for request_size is too large. You passed %d in the request, "
                       "but the maximum value is %d." % (size, MAX_REQUEST_SIZE))


def suffix(publish_time, ordering_key):
    """The rendered tail shared by every message of one publish request."""
    if ordering_key:
        return '","publishTime":"%s","orderingKey":%s}' % (publish_time, json.dumps(ordering_key))
    return '","publishTime":"%s"}' % publish_time


def render(d):
    """Render a PubsubMessage dict (e.g. read back from the journal) in the
    same compact form the publish path produces."""
    return json.dumps(d, separators=(",", ":"))
