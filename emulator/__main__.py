"""Command line entry point: `/usr/bin/python3 -m emulator [options]`.

Starts every requested service on its own port in one process, writes the
`--ports-file` once all of them listen, and on SIGTERM or SIGINT stops the
servers, lets each service flush its state, and exits 0.

Services are named here by module path and imported only when requested, so
the Pub/Sub half runs even if the BigQuery half is absent or broken, and only
the `bigquerystorage` service (gRPC) needs grpcio and protobuf. A service may
bring its own port class (`port_class`: the gRPC one) and may need another
service in the same process (`attach(services)`: the Storage APIs use the
BigQuery service's tables).
"""

import argparse
import errno
import fcntl
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading

from .core import federation, journal
from .core.counters import Counters
from .core.faults import FaultInjector, validate as validate_faults
from .core.errors import ApiError
from .core.oauth import TokenAuthority
from .core.server import ServicePort

SERVICES = {
    "pubsub": ("emulator.pubsub.service:PubSubService", 8085),
    "bigquery": ("emulator.bigquery.service:BigQueryService", 9050),
    # gRPC (h2c): the Storage Write and Read APIs on the bigquery service's tables
    "bigquerystorage": ("emulator.storage_api.service:BigQueryStorageService", 9060),
}

log = logging.getLogger("emulator")


def load_service(name):
    path, _ = SERVICES[name]
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


def _service_list(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in SERVICES]
    if bad or not names:
        raise argparse.ArgumentTypeError("unknown service(s) %s; known: %s" % (",".join(bad), ",".join(SERVICES)))
    return list(dict.fromkeys(names))


def build_parser(service_classes):
    p = argparse.ArgumentParser(
        prog="python3 -m emulator",
        description="Local emulator of the Google Pub/Sub v1 and BigQuery v2 REST APIs and the "
                    "BigQuery Storage v1 gRPC APIs.")
    p.add_argument("--services", type=_service_list, default=list(SERVICES),
                   help="comma-separated services to run (default: %s)" % ",".join(SERVICES))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    for name, (_, port) in SERVICES.items():
        p.add_argument("--%s-port" % name, type=int, default=port,
                       help="%s port (default %d; 0 picks a free port)" % (name, port))
    p.add_argument("--data-dir", help="keep state here (one subdirectory per service); "
                                      "without it state lives in memory only")
    p.add_argument("--ports-file", help="write {\"service\": port, ...} here (atomically) once all "
                                        "services listen; removed again on a clean exit")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                   help="debug logs one line per request (default info)")
    p.add_argument("--auth-public-key", metavar="PEM_FILE",
                   help="auth mode: serve POST /token (jwt-bearer grant, RS256 verified with this "
                        "public key) on every port and require the issued Bearer tokens on API calls")
    f = p.add_argument_group("fault injection (also settable at run time: /emulator/faults)")
    f.add_argument("--fault-error-rate", type=float, default=0.0, metavar="P",
                   help="probability of answering an API request with an injected error")
    f.add_argument("--fault-error-codes", default="503", metavar="CODES",
                   help="comma-separated HTTP codes to inject: 409,429,500,502,503,504 (default 503)")
    f.add_argument("--fault-latency-ms", type=float, default=0.0, metavar="MS",
                   help="delay added before every API request")
    f.add_argument("--fault-drop-rate", type=float, default=0.0, metavar="P",
                   help="probability of closing the connection without a response")
    f.add_argument("--fault-methods", default=None, metavar="NAMES",
                   help="comma-separated API method names the faults apply to (default: all)")
    f.add_argument("--fault-seed", type=int, default=None, help="seed for reproducible fault sequences")
    federation.add_arguments(p)
    journal.add_arguments(p)
    for cls in service_classes:
        cls.add_arguments(p)
    return p


def fault_config_from_args(args):
    try:
        codes = [int(c) for c in args.fault_error_codes.split(",") if c.strip()]
    except ValueError:
        raise SystemExit("emulator: --fault-error-codes must be comma-separated integers")
    cfg = {"error_rate": args.fault_error_rate, "error_codes": codes,
           "latency_ms": args.fault_latency_ms, "drop_rate": args.fault_drop_rate,
           "methods": args.fault_methods}
    try:
        return validate_faults(cfg)
    except ApiError as e:
        raise SystemExit("emulator: " + e.message)


def write_ports_file(path, ports):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ports.", dir=d)
    with os.fdopen(fd, "w") as f:
        json.dump(ports, f)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def lock_data_dir(data_dir):
    """Two emulators on one data dir would interleave journals; refuse."""
    os.makedirs(data_dir, exist_ok=True)
    fd = os.open(os.path.join(data_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise SystemExit("emulator: data dir %s is in use by another emulator" % data_dir)
        raise
    return fd


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # First pass: which services? Their classes add their own options.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--services", type=_service_list, default=list(SERVICES))
    pre_args, _ = pre.parse_known_args(argv)
    wants_help = "-h" in argv or "--help" in argv
    classes = []
    for name in pre_args.services:
        try:
            classes.append(load_service(name))
        except Exception as e:  # noqa: BLE001 - report any import failure plainly
            if wants_help:
                print("note: service %s unavailable (%s: %s)" % (name, type(e).__name__, e), file=sys.stderr)
                continue
            raise SystemExit("emulator: cannot load service %s (%s): %s: %s"
                             % (name, SERVICES[name][0], type(e).__name__, e))
    args = build_parser(classes).parse_args(argv)

    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    fault_cfg = fault_config_from_args(args)

    # Block the stop signals before any thread starts, so every thread
    # inherits the mask and the main thread alone receives them via sigwait.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    try:
        auth = TokenAuthority(args.auth_public_key, args.auth_refresh_token) if args.auth_public_key else None
    except (OSError, ValueError) as e:
        raise SystemExit("emulator: cannot use --auth-public-key: %s" % e)
    keyless = (args.auth_subject_token or args.auth_audience or args.auth_impersonable
               or args.auth_refresh_token)
    if keyless and auth is None:
        raise SystemExit("emulator: --auth-subject-token, --auth-audience, --auth-impersonable and "
                         "--auth-refresh-token need auth mode (--auth-public-key)")
    if auth is not None:
        auth.federation = federation.Federation(auth, args.auth_subject_token, args.auth_audience,
                                                args.auth_impersonable)

    lock_fd = lock_data_dir(args.data_dir) if args.data_dir else None
    ports, services, counters_of = [], [], {}
    try:
        for cls in classes:
            counters = Counters()
            sdir = os.path.join(args.data_dir, cls.name) if args.data_dir else None
            try:
                service = cls(args, sdir, counters)
            except (OSError, journal.JournalCorrupt) as e:
                raise SystemExit("emulator: cannot load %s state: %s" % (cls.name, e))
            services.append(service)
            counters_of[service.name] = counters
        by_name = {s.name: s for s in services}
        for service in services:
            if hasattr(service, "attach"):
                service.attach(by_name)
        for service in services:
            faults = FaultInjector(seed=args.fault_seed, initial=fault_cfg)
            port = getattr(args, "%s_port" % service.name)
            port_class = getattr(service, "port_class", ServicePort)
            try:
                ports.append(port_class(service, args.host, port, counters_of[service.name], faults, auth))
            except OSError as e:
                raise SystemExit("emulator: %s cannot listen on %s:%d: %s" % (service.name, args.host, port, e))
        # every HTTP port answers /emulator/<service>/... for the others (the
        # gRPC port has no HTTP side for its counters, faults and state)
        for sp in ports:
            if hasattr(sp, "peers"):
                sp.peers.update({other.name: other for other in ports if other is not sp})
    except SystemExit:
        for s in services:
            s.close()
        raise

    threads = []
    for sp in ports:
        t = threading.Thread(target=sp.serve_forever, name="serve-" + sp.name, daemon=True)
        t.start()
        threads.append(t)
    port_map = {sp.name: sp.port for sp in ports}
    if args.ports_file:
        write_ports_file(args.ports_file, port_map)
    log.info("ready: %s (data dir: %s, pid %d)",
             ", ".join("%s on %s:%d" % (sp.name, args.host, sp.port) for sp in ports),
             args.data_dir or "none, in memory", os.getpid())

    sig = signal.sigwait(stop_signals)
    log.info("received %s, shutting down", signal.Signals(sig).name)
    for sp in ports:
        sp.shutdown()
    for s in services:
        try:
            s.close()
        except Exception:  # noqa: BLE001 - keep closing the others
            log.exception("error closing service %s", s.name)
    if args.ports_file:
        try:
            os.unlink(args.ports_file)
        except FileNotFoundError:
            pass
    if lock_fd is not None:
        os.close(lock_fd)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
