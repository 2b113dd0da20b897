"""Code the benchmarks and the reliability tests share (not a benchmark: run_all skips folders)."""

from pathlib import Path

#: The MovieLens releases beside the repository (``../shared/data/movielens``).
DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens"


def verdict(ok: bool) -> str:
    """How every benchmark reports a target."""
    return "met" if ok else "NOT met"
