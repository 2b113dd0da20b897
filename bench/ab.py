"""A/B of the server's CPU per request: two or more versions of the API, served side by side.

    .venv/bin/python bench/ab.py [--scenario recommend-cold|rate] [--rounds 5] [--clients 16]
                                 [--workers 1] [--database sqlite|postgresql] [--quick]
                                 [NAME=commit:SHA | NAME=DIR ...]

Each version (a commit, exported with ``git archive``, or a folder holding a checkout) is
served by its own ``ApiServer`` on its own database, on its own shipped model, all at once;
then the rounds alternate between them, so a busier minute of the machine hits every
version alike. Per round: req/s, p50/p99 and the server's CPU time per request (``/proc``
utime + stime over the round), which is what decides throughput here, where the clients
share the 2 cores with the server. Prints the medians over the rounds, and each version's
ratio to the first one named (the baseline of the run). Without versions it compares the
baseline release (``fbfd5b7``, before the database moved off the event loop) with this
checkout; ``--quick`` runs 2 rounds of a fifth of the requests. Full runs keep their rows
in ``bench/results/ab.json``, per scenario, database and worker count (a run replaces only
its own rows).

Scenarios: ``recommend-cold`` (users with no ratings, 30,000 requests a round); ``rate``,
bench/api_latency.py's rate scenario (one film per ``POST /rate``, 64 raters, 4,000 requests a
round). Limits on writes and sign-ups are off.
docs/operations.md, "Hosted", quotes its runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.api_latency import rate_requests, recommend_requests
from bench.harness import REPO, RESULTS, arguments, now, write_json
from bench.harness.api_server import (
    UNLIMITED,
    ApiServer,
    Request,
    call_json,
    export_release,
    sign_up,
)
from bench.harness.measure import drive, percentile, process_tree_cpu_seconds
from bench.harness.postgres import PostgresCluster

USERS = {"recommend-cold": 32, "rate": 64}
REQUESTS = {"recommend-cold": 30_000, "rate": 4_000}
RATING_VALUES = (1.0, 2.5, 4.0, 5.0)
#: The baseline release: handlers that waited on the database inside the event loop.
BASELINE = "fbfd5b7"


def server_cpu_s(pid: int) -> float:
    seconds = process_tree_cpu_seconds(pid)
    if seconds is None:
        raise SystemExit("bench/ab.py reads the server's CPU time from /proc (Linux only)")
    return seconds


def requests_for(scenario: str, port: int) -> Callable[[int], Request]:
    """The i-th request of ``scenario``, for users made now through the API."""
    users = [sign_up(port) for _ in range(USERS[scenario])]
    if scenario == "recommend-cold":
        return recommend_requests(users)
    user_id, token = users[0]
    popular = call_json(port, Request("GET", f"/recommend?user_id={user_id}&n=100", token=token))
    return rate_requests(users, [item["movie_id"] for item in popular["recommendations"]],
                         RATING_VALUES)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "2 rounds, a fifth of the requests", "ab")
    parser.add_argument("versions", nargs="*", metavar="NAME=commit:SHA|NAME=DIR",
                        default=[f"previous=commit:{BASELINE}", f"this={REPO}"])
    parser.add_argument("--scenario", choices=sorted(USERS), default="recommend-cold")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per version")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    requests = REQUESTS[args.scenario] // (5 if args.quick else 1)
    rounds = 2 if args.quick else args.rounds
    with contextlib.ExitStack() as on_exit:
        work = Path(on_exit.enter_context(tempfile.TemporaryDirectory(prefix="cinematch-ab-")))
        cluster = (on_exit.enter_context(PostgresCluster()) if args.database == "postgresql"
                   else None)
        runs: list[tuple[str, ApiServer, Callable[[int], Request], dict[str, list[float]]]] = []
        for version in args.versions:
            name, _, source = version.partition("=")
            repo = (export_release(source.removeprefix("commit:"), work / name)
                    if source.startswith("commit:") else Path(source).resolve())
            server = on_exit.enter_context(ApiServer(
                repo / "models", work / f"{name}.db", env=UNLIMITED, repo=repo,
                workers=args.workers, database_url=cluster.create_database() if cluster else None))
            make = requests_for(args.scenario, server.port)
            drive(server.port, make, args.clients, requests // 10)  # warm-up
            runs.append((name, server, make, {"req/s": [], "p50": [], "p99": [], "cpu": []}))
        load_before = os.getloadavg()[0]
        print(f"{args.scenario}, {args.clients} clients, {args.workers} worker(s),"
              f" {args.database}, {rounds} rounds; load average {load_before:.1f} before",
              flush=True)
        for _ in range(rounds):
            for _name, server, make, figures in runs:
                before = server_cpu_s(server.pid)
                seconds, latencies, errors = drive(server.port, make, args.clients, requests)
                if errors:
                    raise SystemExit(f"{errors} requests failed")
                figures["cpu"].append(1e6 * (server_cpu_s(server.pid) - before) / len(latencies))
                figures["req/s"].append(len(latencies) / seconds)
                figures["p50"].append(percentile(latencies, 50))
                figures["p99"].append(percentile(latencies, 99))
        table: list[dict[str, Any]] = [
            {"version": name, **{key: statistics.median(values) for key, values in figures.items()},
             "cpu_min": min(figures["cpu"]), "cpu_max": max(figures["cpu"])}
            for name, _server, _make, figures in runs
        ]
        load_after = os.getloadavg()[0]
    base = table[0]
    print(f"| version | req/s | p50 ms | p99 ms | server CPU µs/request (range) |"
          f" CPU ÷ {base['version']} | req/s ÷ {base['version']} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in table:
        print(f"| {row['version']} | {row['req/s']:,.0f} | {row['p50']:.1f} | "
              f"{row['p99']:.1f} | {row['cpu']:.0f} ({row['cpu_min']:.0f}–{row['cpu_max']:.0f})"
              f" | {row['cpu'] / base['cpu']:.2f} | {row['req/s'] / base['req/s']:.2f} |")
    print(f"load average {load_after:.1f} after")
    if not args.quick:
        keep(args, rounds, table, load_before, load_after)
    return 0


def keep(args: argparse.Namespace, rounds: int, table: list[dict[str, Any]],
         load_before: float, load_after: float) -> None:
    """Write this run's rows into ``args.json``, replacing the rows of the same scenario,
    database and worker count and keeping the others: ``results`` holds one row per run and
    version, ``environment`` when and under what load each run was made."""
    path: Path = args.json or RESULTS / "ab.json"
    document = json.loads(path.read_text()) if path.is_file() else {}
    same = f"{args.scenario}, {args.database}, {args.workers} worker(s),"
    run = f"{same} {args.clients} clients, {rounds} rounds"
    kept = [row for row in document.get("results", []) if not row["run"].startswith(same)]
    environment = {name: figures for name, figures in document.get("environment", {}).items()
                   if not name.startswith(same)}
    sources = dict(version.partition("=")[::2] for version in args.versions)
    base = table[0]
    rows = [{"run": run, "version": row["version"],
             # A commit is named; a folder is the checkout the run was made from.
             "code": source if (source := sources[row["version"]]).startswith("commit:")
             else "checkout",
             "req_per_s": round(row["req/s"], 1), "p50_ms": round(row["p50"], 2),
             "p99_ms": round(row["p99"], 2), "server_cpu_us_per_request": round(row["cpu"]),
             "server_cpu_us_range": f"{row['cpu_min']:.0f}–{row['cpu_max']:.0f}",
             "cpu_ratio_to_first": round(row["cpu"] / base["cpu"], 3),
             "req_per_s_ratio_to_first": round(row["req/s"] / base["req/s"], 3)}
            for row in table]
    environment[run] = {"generated_at": now(), "load_average_1m_before": round(load_before, 1),
                        "load_average_1m_after": round(load_after, 1), "cpus": os.cpu_count()}
    write_json(path, {"results": sorted(kept + rows, key=lambda row: row["run"]),
                      "environment": dict(sorted(environment.items()))})


if __name__ == "__main__":
    raise SystemExit(main())
