"""Run every benchmark in ``bench/`` in turn, each in its own process: ``make bench``.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

Every ``bench/*.py`` except this file is a benchmark script; NAME (e.g. ``rating_accuracy``)
runs only those. ``--quick`` is passed on to each script. The scripts of ``BY_HAND`` need
inputs or a long setup this runner cannot give them: they run only when named, and otherwise
are listed as skipped with the reason. A failing benchmark does not stop the others; the exit
status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
#: Benchmarks run only when named (bench/README.md has each one's command).
BY_HAND = {
    "serving_87k": "needs --model and --eval: a model trained on the synthetic 32M set",
    "spark_quality": "trains on Spark for several minutes (7 min here); no --quick mode",
    "spark_scale": "trains on Spark at 1M-8.6M ratings, over an hour here; no --quick mode",
}


def benchmarks() -> list[Path]:
    return sorted(p for p in BENCH_DIR.glob("*.py") if p.name != Path(__file__).name)


def main(argv: list[str] | None = None) -> int:
    available = {p.stem: p for p in benchmarks()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(available)})",
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; have {', '.join(available)}")
    chosen = ([available[n] for n in args.names] if args.names
              else [p for name, p in available.items() if name not in BY_HAND])
    if not args.names:
        for name, reason in BY_HAND.items():
            print(f"skipped {name} (run it by name): {reason}")

    outcomes: list[tuple[str, int, float]] = []
    for number, script in enumerate(chosen, start=1):
        relative = script.relative_to(REPO)
        quick = "(--quick) " if args.quick else ""
        print(f"\n=== [{number}/{len(chosen)}] {relative} {quick}===", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        status = subprocess.run(command, cwd=REPO, check=False).returncode
        seconds = time.perf_counter() - started
        outcomes.append((str(relative), status, seconds))
        print(f"=== {relative}: {'ok' if status == 0 else f'FAILED (exit {status})'} "
              f"in {seconds:.0f} s ===", flush=True)

    print("\nSummary")
    for name, status, seconds in outcomes:
        print(f"  {name:<28} {'ok' if status == 0 else f'exit {status}':>8} {seconds:>6.0f} s")
    print(f"  {'total':<28} {'':>8} {sum(s for _, _, s in outcomes):>6.0f} s")
    return 0 if all(status == 0 for _, status, _ in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
