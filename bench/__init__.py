"""Benchmarks of the SKM service (`python -m bench.ingest`)."""
