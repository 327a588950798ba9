"""The BigQuery reference suite (scripts/test.sh bq-reference): Google's own
tools as the reference for the BigQuery emulator and bqstream's C client.

- test_bq_cli.py: Google's `bq` CLI (from the google-cloud-cli package)
  drives the emulator: datasets, tables, inserts, queries, jobs; outcomes
  checked exactly.
- test_c_client.py: bqstream's admin functions, a pipeline, FDW scans and
  INSERTs against the emulator through a recording proxy.
- test_emulator_answers.py: every kind of answer the emulator gives.
- test_validator.py: the validator itself.

All traffic goes through recorder.RecordingProxy and is checked by
discovery.Discovery against BigQuery's discovery document (shipped with the
bq CLI): request bodies and query parameters against each method's request
schema, answers against its response schema. Without Google's tools the
suite fails saying it did NOT run. Python standard library only.

    python3 -m unittest discover -s test/bq_reference -t .   # extension installed, pg_config in PATH
"""
