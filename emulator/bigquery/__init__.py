"""BigQuery half of the local GCP emulator.

Owns the BigQuery v2 REST surface (``service.py``), the GoogleSQL subset
translated to SQLite (``sql/``), table storage and persistence
(``storage.py``), value coercion and encoding (``types.py``) and query jobs
(``jobs.py``). The emulator core loads ``emulator.bigquery.service.BigQueryService``.
"""
