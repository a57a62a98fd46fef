"""Benchmark scripts (`make bench`, `make bench-ops`, `make bench-history`): kept out of the product package.

Run from the repository root with the venv: `python -m benchmarks.<name>`.
"""
