"""Pub/Sub resource names and the error texts tied to them.

ID rules (google/pubsub/v1/pubsub.proto): start with a letter, only
`[A-Za-z0-9-_.~+%]`, 3 to 255 characters, not starting with "goog".
Error texts are the leaf-ID forms production answers with:
"Resource not found (resource=orders)." and
"Resource already exists in the project (resource=orders)."
"""

import re

from ..core.errors import ApiError

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$")
_TOPIC_RE = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
DELETED_TOPIC = "_deleted-topic_"


def valid_id(rid):
    return bool(_ID_RE.match(rid)) and not rid.lower().startswith("goog")


def invalid_name(name):
    return ApiError(400, "INVALID_ARGUMENT",
                    "Invalid resource name given (name=%s). Refer to "
                    "https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names "
                    "for more information." % name)


def not_found(leaf):
    return ApiError(404, "NOT_FOUND", "Resource not found (resource=%s)." % leaf)


def already_exists(leaf):
    return ApiError(409, "ALREADY_EXISTS", "Resource already exists in the project (resource=%s)." % leaf)


def topic_name(project, tid):
    return "projects/%s/topics/%s" % (project, tid)


def subscription_name(project, sid):
    return "projects/%s/subscriptions/%s" % (project, sid)


def check(kind, project, rid):
    """Validate the IDs of a path and return the full resource name."""
    full = "projects/%s/%s/%s" % (project, kind, rid)
    if not project or not valid_id(rid):
        raise invalid_name(full)
    return full


def parse_topic(name):
    """A `projects/p/topics/t` reference inside a body (subscription.topic,
    deadLetterPolicy.deadLetterTopic). Returns (project, topic_id)."""
    m = _TOPIC_RE.match(name) if isinstance(name, str) else None
    if not m or not valid_id(m.group(2)):
        raise invalid_name(name if isinstance(name, str) else "")
    return m.group(1), m.group(2)


def leaf(full):
    return full.rsplit("/", 1)[-1]
