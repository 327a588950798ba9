"""Tests of the local Pub/Sub + BigQuery emulator (unittest; run from the
repository root with `/usr/bin/python3 -m unittest discover -s test/emulator -t .`)."""
