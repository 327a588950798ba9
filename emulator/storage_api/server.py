"""gRPC front end of the `bigquerystorage` service: one grpc.server on one port.

Owns what lies between the HTTP/2 connection and an API's handlers, the
counterpart of core/server.py's ServicePort for the REST services:
- an insecure (h2c) grpc.server on a thread pool, with message size limits
  above the API's own (so a 10 MB+ AppendRows gets BigQuery's
  INVALID_ARGUMENT, not a transport error);
- `CallGate.enter()`, which each handler calls first: the auth mode's Bearer
  token from the `authorization` metadata, per-method request counters and
  the fault injector (latency, injected errors as gRPC status codes, drops);
- the same `name`, `port`, `counters`, `faults`, `service`, serve_forever()
  and shutdown() as ServicePort, so __main__ and the /emulator/<service>/
  control endpoints of the HTTP ports treat both alike.

An API registers its handlers with `register(server, gate)` (see
write.py; the Read API does the same) on the one server.
"""

import logging
import threading
import time
from concurrent import futures

import grpc

from ..core.errors import ApiError

log = logging.getLogger("emulator.grpc")

# Injectable HTTP codes (core/faults.py) -> the gRPC status Google's front
# end answers for them. 502 (a proxy's HTML page) has no gRPC form: a gRPC
# client sees an unavailable backend.
GRPC_FAULTS = {
    403: (grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission"),
    409: (grpc.StatusCode.ABORTED, "The operation was aborted."),
    429: (grpc.StatusCode.RESOURCE_EXHAUSTED, "Resource has been exhausted (e.g. check quota)."),
    500: (grpc.StatusCode.INTERNAL, "Internal error encountered."),
    502: (grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable."),
    503: (grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable."),
    504: (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded."),
}

MAX_MESSAGE = 64 << 20
# AppendRows and ReadRows calls hold a worker thread for their whole life. A call
# beyond the pool is refused at once with RESOURCE_EXHAUSTED (as Google refuses
# connections past its concurrency quota) rather than queued behind streams that
# may stay open for hours.
WORKERS = 128


class Drop(Exception):
    """Raised by CallGate.enter() for a dropped call; handlers let it through."""


class CallGate:
    """Auth, counters and faults of one port, applied per call (or per
    message of a stream: each AppendRowsRequest is decided on its own)."""

    def __init__(self, port):
        self.port = port

    def enter(self, context, method):
        """Run before a handler does anything. Returns the fault action the
        handler must apply after its work ("lost": do the work, then break
        the call without an answer) or None; aborts the call itself for an
        auth failure, an injected error or a drop (before any work)."""
        p = self.port
        if p.auth is not None:
            md = dict(context.invocation_metadata())
            try:
                p.auth.check(md.get("authorization"))
            except ApiError as e:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, e.message)
        p.counters.incr_group("requests", method)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s from %s", p.name, method, context.peer())
        latency, action = p.faults.decide(method)
        if latency:
            time.sleep(latency)
        if action is None:
            return None
        if action == "lost":
            return "lost"
        if action == "drop":
            p.counters.incr("faults_dropped")
            break_call(context)
        p.counters.incr("faults_injected")
        code, message = GRPC_FAULTS[action]
        context.abort(code, message)

    def lost(self, context):
        """The work is done; now lose the answer."""
        self.port.counters.incr("faults_lost")
        break_call(context)


def break_call(context):
    """End a call as a broken connection would: no answer, status UNAVAILABLE
    (what a gRPC client reports when the transport goes away mid-call)."""
    context.abort(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer (fault injection)")


class GrpcPort:
    def __init__(self, service, host, port, counters, faults, auth=None):
        self.service = service
        self.auth = auth
        self.counters = counters
        self.faults = faults
        self.name = service.name
        counters.declare("faults_injected", "faults_dropped", "faults_lost")
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="grpc-" + self.name),
            options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                     ("grpc.max_send_message_length", MAX_MESSAGE),
                     ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=WORKERS)
        self.gate = CallGate(self)
        service.register(self.server, self.gate)
        addr = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        bound = self.server.add_insecure_port(addr)
        if bound == 0:
            raise OSError("cannot bind %s" % addr)
        self.port = bound
        self._stopped = threading.Event()

    def serve_forever(self):
        self.server.start()
        self._stopped.wait()

    def shutdown(self):
        # Streams still open get CANCELLED at once, as at a server restart.
        self.server.stop(grace=0.5).wait(5)
        self._stopped.set()
