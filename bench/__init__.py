"""Benchmarks: each script measures one claim against a baseline run beside it (bench/README.md)."""
