"""Code the benchmarks and the reliability tests share (not a benchmark: run_all skips folders)."""
