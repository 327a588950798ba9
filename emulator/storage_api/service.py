"""The `bigquerystorage` service: BigQuery's Storage Write and Read APIs over gRPC.

Owns the service object __main__ starts (name, options, state, close) and
the list of APIs served on its one gRPC port (server.py). It keeps no table
storage of its own: it runs in the same process as the `bigquery` service
and reads and writes that service's tables (attach()), so rows appended
through the Write API are what tabledata.list and jobs.query see, and a read
session reads the tables the REST API made. Its own state (write streams and
the rows waiting in them) lives in the BigQuery service's SQLite database,
persisted with it under --data-dir.
"""

import importlib

from .server import GrpcPort

# One module per API, each with register(server, service) -> its API object.
APIS = ["emulator.storage_api.write", "emulator.storage_api.read"]


class BigQueryStorageService:
    name = "bigquerystorage"
    port_class = GrpcPort

    @staticmethod
    def add_arguments(parser):
        pass

    def __init__(self, args, data_dir, counters):
        self.args = args
        self.counters = counters
        self.gate = None
        self.apis = {}
        self.bigquery = None

    def attach(self, services):
        """Called by __main__ with every started service by name, before any port listens."""
        bq = services.get("bigquery")
        if bq is None:
            raise SystemExit("emulator: the bigquerystorage service needs the bigquery service "
                             "(add it to --services)")
        self.bigquery = bq
        for api in self.apis.values():
            if hasattr(api, "attach"):
                api.attach(bq)

    def register(self, server, gate):
        self.gate = gate
        for path in APIS:
            module = importlib.import_module(path)
            self.apis[path.rsplit(".", 1)[1]] = module.register(server, self)
        if self.bigquery is not None:
            for api in self.apis.values():
                if hasattr(api, "attach"):
                    api.attach(self.bigquery)

    def state_summary(self):
        w = self.apis.get("write")
        return {"write_streams": len(w.streams) if w else 0}

    def close(self):
        pass
