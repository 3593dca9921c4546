"""Benchmarks for socialcare (not shipped in the package). Run: ``bash scripts/bench.sh``."""
