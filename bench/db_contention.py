"""Does the event loop ever wait on the database? This release against the previous one.

    .venv/bin/python bench/db_contention.py [--model-dir models] [--baseline fbfd5b7]
                                            [--seconds 8] [--json PATH]

Both releases run the same way, one after the other in this process: ``--baseline`` is
exported with ``git archive`` to a temporary folder (no git state changes) and served by
``ApiServer(repo=...)``; each gets a fresh SQLite file and one uvicorn worker. Three cases:

1. **readers**: 4 clients read a 3,000-rating account (``GET /user/{id}/stats``, which reads
   all of its ratings) in a loop while one more client times ``GET /movies/{id}``.
   Target: ``/movies/{id}`` p99 ≤ 20 ms (the issue measured 285 ms).
2. **outside lock**: another process holds SQLite's write lock (``BEGIN IMMEDIATE``) for
   10 s. Meanwhile one client times reads (``/movies/{id}``, ``/recommend``) and one makes a
   write. Targets: reads < 20 ms (p99); the write answers 503 with ``Retry-After`` once the
   busy timeout (5 s) has passed.
3. **/recommend cold**: 16 keep-alive clients, popularity users (bench/api_latency.py's
   "cold" scenario): req/s and p99, at least the baseline's.

The machine is shared: the load average is printed with the figures; compare the two columns
of one run, not figures of different runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.harness.api_server import (
    UNLIMITED,
    ApiServer,
    KeepAliveClient,
    Request,
    call,
    call_json,
    export_release,
    sign_up,
)
from bench.harness.measure import drive, percentile

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "bench/results/db_contention.json"


BIG_ACCOUNT = 3000
READERS = 4
LOCK_SECONDS = 10.0
COLD_CLIENTS = 16


@dataclass
class Figures:
    release: str
    movies_p50_ms: float = 0.0
    movies_p99_ms: float = 0.0
    reader_requests: int = 0
    locked_reads_p99_ms: float = 0.0
    locked_reads_max_ms: float = 0.0
    locked_reads: int = 0
    locked_write_status: int = 0
    locked_write_retry_after: str | None = None
    locked_write_ms: float = 0.0
    cold_req_per_s: float = 0.0
    cold_p99_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


def big_account(port: int) -> tuple[int, str, list[int]]:
    """A user with BIG_ACCOUNT ratings, written 200 at a time through the API."""
    catalogue: list[int] = []
    offset = 0
    while len(catalogue) < BIG_ACCOUNT + 100:
        page = call_json(port, Request("GET", f"/movies?limit=100&offset={offset}"))
        catalogue += [m["movie_id"] for m in page["items"]]
        offset += 100
        if offset >= page["total"]:
            break
    user_id, token = sign_up(port)
    films = catalogue[:BIG_ACCOUNT]
    for start in range(0, len(films), 200):
        ratings = [
            {"movie_id": m, "rating": 0.5 + (m % 10) / 2} for m in films[start : start + 200]
        ]
        body = json.dumps({"user_id": user_id, "ratings": ratings}).encode()
        status, answer = call(port, Request("POST", "/rate", body, token), timeout=60)
        assert status == 200, answer[:200]
    return user_id, token, catalogue


def loop_until(stop: threading.Event, port: int, make: Callable[[int], Request]) -> list[float]:
    conn = KeepAliveClient(port)
    latencies: list[float] = []
    k = 0
    while not stop.is_set():
        wire = conn.encode(make(k))
        t0 = time.perf_counter()
        conn.exchange(wire)
        latencies.append((time.perf_counter() - t0) * 1000)
        k += 1
    conn.close()
    return latencies


def measure(release: str, repo: Path, model_dir: Path, workdir: Path, seconds: float) -> Figures:
    figures = Figures(release)
    database = workdir / f"{release}.db"
    with ApiServer(model_dir, database, env=UNLIMITED, repo=repo) as server:
        port = server.port
        user_id, token, catalogue = big_account(port)
        films = catalogue[:200]

        def movie(k: int) -> Request:
            return Request("GET", f"/movies/{films[k % len(films)]}")

        # 1. readers of the big account, and one client timing /movies/{id}
        stop = threading.Event()
        counts: list[int] = []

        def reader() -> None:
            counts.append(
                len(loop_until(stop, port, lambda _k: Request(
                    "GET", f"/user/{user_id}/stats", token=token)))
            )  # fmt: skip

        threads = [threading.Thread(target=reader) for _ in range(READERS)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        movie_ms = loop_until(stop, port, movie)
        for thread in threads:
            thread.join()
        figures.movies_p50_ms = percentile(movie_ms, 50)
        figures.movies_p99_ms = percentile(movie_ms, 99)
        figures.reader_requests = sum(counts)

        # 2. an outside process holds SQLite's write lock
        cold_id, cold_token = sign_up(port)
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(database), str(LOCK_SECONDS)],
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        stop = threading.Event()
        write: dict[str, object] = {}

        def writer() -> None:
            body = json.dumps(
                {"user_id": user_id, "ratings": [{"movie_id": films[0], "rating": 3.0}]}
            ).encode()
            conn = KeepAliveClient(port, timeout=30)
            t0 = time.perf_counter()
            wire = conn.encode(Request("POST", "/rate", body, token))
            conn._sock.sendall(wire)  # read the status line and headers ourselves
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += conn._sock.recv(65536)
            write["ms"] = (time.perf_counter() - t0) * 1000
            head = raw.split(b"\r\n\r\n", 1)[0].decode("latin1").split("\r\n")
            write["status"] = int(head[0].split()[1])
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "retry-after":
                    write["retry_after"] = value.strip()
            conn.close()

        def mixed(k: int) -> Request:
            if k % 2:
                return Request("GET", f"/recommend?user_id={cold_id}", token=cold_token)
            return movie(k)

        write_thread = threading.Thread(target=writer)
        write_thread.start()
        timer = threading.Timer(LOCK_SECONDS - 1.0, stop.set)
        timer.start()
        locked_ms = loop_until(stop, port, mixed)
        write_thread.join()
        holder.wait()
        figures.locked_reads = len(locked_ms)
        figures.locked_reads_p99_ms = percentile(locked_ms, 99)
        figures.locked_reads_max_ms = max(locked_ms)
        figures.locked_write_status = int(write["status"])  # type: ignore[arg-type]
        figures.locked_write_retry_after = write.get("retry_after")  # type: ignore[assignment]
        figures.locked_write_ms = float(write["ms"])  # type: ignore[arg-type]

        # 3. /recommend cold at 16 clients
        cold_users = [sign_up(port) for _ in range(32)]

        def cold(i: int) -> Request:
            uid, tok = cold_users[i % len(cold_users)]
            return Request("GET", f"/recommend?user_id={uid}&n=10", token=tok)

        drive(port, cold, COLD_CLIENTS, 2000)  # warm-up
        elapsed, latencies, errors = drive(port, cold, COLD_CLIENTS, 40_000)
        figures.cold_req_per_s = len(latencies) / elapsed
        figures.cold_p99_ms = percentile(latencies, 99)
        if errors:
            figures.notes.append(f"{errors} cold /recommend errors")
    return figures


_HOLD_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models")
    parser.add_argument("--baseline", default="fbfd5b7", help="the release to compare with")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="cinematch-contention-") as tmp:
        old = export_release(args.baseline, Path(tmp) / "baseline")
        for release, repo in ((f"baseline {args.baseline}", old), ("this branch", REPO)):
            load = os.getloadavg()[0]
            # Each release serves a model its own code can read: the baseline its shipped one.
            model_dir = args.model_dir.resolve() if repo == REPO else repo / "models"
            figures = measure(release, repo, model_dir, Path(tmp), args.seconds)
            figures.notes.append(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
            results.append(figures)
            print(json.dumps(asdict(figures)), flush=True)
    print()
    print("| case | " + " | ".join(f.release for f in results) + " |")
    print("|---|" + "---:|" * len(results))
    rows = [
        ("GET /movies/{id} p50 / p99 ms, 4 readers of a 3,000-rating account",
         lambda f: f"{f.movies_p50_ms:.1f} / {f.movies_p99_ms:.1f}"),
        ("reads during a 10 s outside write lock: p99 / max ms",
         lambda f: f"{f.locked_reads_p99_ms:.1f} / {f.locked_reads_max_ms:.0f} ({f.locked_reads})"),
        ("write during the lock: status, Retry-After, ms",
         lambda f: f"{f.locked_write_status}, {f.locked_write_retry_after}, "
         f"{f.locked_write_ms:.0f}"),
        ("/recommend cold, 16 clients: req/s, p99 ms",
         lambda f: f"{f.cold_req_per_s:,.0f}, {f.cold_p99_ms:.1f}"),
    ]  # fmt: skip
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(f) for f in results) + " |")
    base, new = results[0], results[-1]
    speed, p99 = new.cold_req_per_s / base.cold_req_per_s, new.cold_p99_ms / base.cold_p99_ms
    print(
        f"/recommend cold, this branch / baseline: req/s x{speed:.2f} (target >= 1.00), "
        f"p99 x{p99:.2f} (target <= 1.00)"
    )
    for f in results:
        print(f"{f.release}: {'; '.join(f.notes)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(f) for f in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
