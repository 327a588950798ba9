"""bqstream's local emulator of the Google Pub/Sub v1 and BigQuery v2 REST APIs.

Python 3 standard library only. Run it from the repository root with
`/usr/bin/python3 -m emulator --help`; emulator/README.md describes flags,
control endpoints and known differences from the real services.

Layout: `core/` (HTTP server, errors, fault injection, counters, journal),
`pubsub/` and `bigquery/` (one service each), `__main__.py` (the CLI).
"""

__version__ = "0.1.0"
