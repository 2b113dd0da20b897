"""The cost of SQLite's ``synchronous=FULL`` (the default) against ``NORMAL``, per write.

    .venv/bin/python bench/sqlite_sync.py [--writes 2000] [--rounds 3] [--dir data] [--quick]

The API's own write path in this process, one rating per transaction, the two settings
alternating in rounds. Protocol: bench/README.md.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import REPO, arguments
from db import repository
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction


def per_write_us(folder: Path, synchronous: str, writes: int) -> list[float]:
    engine = create_db_engine(f"sqlite:///{folder / f'{synchronous}.db'}", synchronous=synchronous)
    upgrade(engine)
    sessions = create_session_factory(engine)
    with sessions() as session, write_transaction(session):
        user_id = repository.create_user(session, synchronous.lower().ljust(64, "0"))
    times = []
    for k in range(writes):
        t0 = time.perf_counter()
        with sessions() as session, write_transaction(session):
            repository.upsert_ratings(session, user_id, {1 + k % 500: 0.5 + (k % 10) / 2})
        times.append((time.perf_counter() - t0) * 1e6)
    engine.dispose()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "300 writes")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=REPO / "data")
    args = parser.parse_args(argv)
    writes = 300 if args.quick else args.writes
    args.dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    print(f"load average {os.getloadavg()[0]:.1f}; files in {args.dir}")
    for _ in range(args.rounds):
        for mode in results:
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                results[mode] += per_write_us(Path(folder), mode, writes // args.rounds)
    for mode, times in results.items():
        ordered = sorted(times)
        print(f"synchronous={mode}: median {statistics.median(times):.0f} µs, "
              f"p99 {ordered[int(0.99 * (len(ordered) - 1))]:.0f} µs per write transaction, "
              f"{len(times) / (sum(times) / 1e6):,.0f} writes/s")
    ratio = statistics.median(results["FULL"]) / statistics.median(results["NORMAL"])
    print(f"FULL / NORMAL median: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
