"""Newcomer onboarding, simulated: effort and top-10 quality at 5, 10 and 15 ratings.

    .venv/bin/python bench/onboarding.py [--quick] [--data-root DIR]

The benchmark is ``python -m ml.training.simulate_onboarding`` (see its docstring for the protocol);
this script runs it from ``make bench`` so its table sits beside the other benchmarks'. ``--quick``
simulates 100 held-out newcomers instead of 300.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml import simulate_onboarding

REPO = Path(__file__).resolve().parents[1]


DEFAULT_DATA_ROOT = REPO.parent / "shared/data/movielens"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--quick", action="store_true", help="100 newcomers")
    args = parser.parse_args(argv)
    return simulate_onboarding.main(["--data", str(args.data_root / "ml-1m"),
                                     *(["--quick"] if args.quick else [])])


if __name__ == "__main__":
    raise SystemExit(main())
