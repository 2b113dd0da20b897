"""HTTP latency and throughput of the API, side by side with the service it replaces.

    .venv/bin/python -m bench.api_latency [--model-dir models] [--workers 1 2] [--quick]
                                          [--requests 3200] [--json PATH]

Cold, personal, rate and search scenarios at 1, 8 and 16 clients from Python threads, and at
16 connections from wrk when installed. Targets: ≥ 1,000 req/s and p99 ≤ 15 ms at 16 clients.
Protocol: bench/README.md. Results: ``bench/results/api_latency.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import RESULTS, arguments, model_dir_option, no_model, now, verdict, write_json
from bench.harness.api_server import UNLIMITED, ApiServer, Request, call_json, sign_up
from bench.harness.measure import cpu_ms_per_request, drive, percentile, process_tree_cpu_seconds
from bench.harness.wrk import available as wrk_available
from bench.harness.wrk import drive_wrk
from ml.rules import PERSONALISATION_THRESHOLD, RATING_VALUES

# The seed service, measured on this kind of machine (docs: FIELD-NOTES, "The service we replace").
OLD_REQ_PER_S_8_CLIENTS = 22.0
OLD_P99_MS_8_CLIENTS = 887.0
OLD_P50_MS_COLD = 59.0

TARGET_REQ_PER_S = 1000.0
TARGET_P99_MS = 15.0

#: 8 is the load the old service was measured at (the ratios use it); 16 is the target's.
CONCURRENCY = (1, 8, 16)
OLD_CLIENTS = 8
#: At the target's load, wrk (when installed) drives each scenario too, for this long, this
#: many times. Each run opens new connections, and the workers share one listening socket:
#: whichever is awake first accepts a burst of them, so one run may put 8 connections on each
#: worker and the next 15 on one. The verdicts use the run with the median p99.
WRK_SECONDS = 5.0
WRK_RUNS = 3
PYTHON_CLIENT, WRK_CLIENT = "python", "wrk"
N_PERSONAL_USERS = 32
N_COLD_USERS = 32
N_RATE_USERS = 64
SEARCH_QUERIES = ("matr", "star", "the", "amel", "love", "god", "alien", "toy st", "war", "night")


@dataclass(frozen=True)
class Result:
    scenario: str
    workers: int
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_ms: float | None  # server processes' CPU time per request
    #: "python" (``bench.harness.measure.drive``) or "wrk" (``bench.harness.wrk``).
    client: str = PYTHON_CLIENT
    #: wrk reports its own percentiles instead of every latency.
    percentiles_ms: dict[int, float] | None = None

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: int) -> float:
        if self.percentiles_ms is not None:
            return self.percentiles_ms[q]
        return percentile(self.latencies_ms, q)


#: Server settings that make every /recommend fold the user in and rank the catalogue again:
#: the cost of the first list after a rating changes, paid on every request.
NO_CACHE = {"CINEMATCH_LIST_CACHE_MB": "0", "CINEMATCH_PROFILE_CACHE_SIZE": "0"}
NO_CACHE_SCENARIO = "recommend personal, no cache"


@dataclass(frozen=True)
class Fixtures:
    cold: list[tuple[int, str]]
    personal: list[tuple[int, str]]
    raters: list[tuple[int, str]]
    catalogue: list[int]


def prepare(port: int) -> Fixtures:
    """Users through the API itself: cold ones, personal ones (2× the threshold), raters."""
    listed = call_json(port, Request("GET", "/movies?limit=100"))["items"]
    catalogue = [m["movie_id"] for m in listed]
    cold = [sign_up(port) for _ in range(N_COLD_USERS)]
    personal = [sign_up(port) for _ in range(N_PERSONAL_USERS)]
    values = list(RATING_VALUES)
    for k, (user_id, token) in enumerate(personal):
        picks = catalogue[k % 7 :: 7][: 2 * PERSONALISATION_THRESHOLD]
        ratings = [{"movie_id": m, "rating": values[(k + i) % len(values)]}
                   for i, m in enumerate(picks)]
        body = json.dumps({"user_id": user_id, "ratings": ratings}).encode()
        call_json(port, Request("POST", "/rate", body, token))
    raters = [sign_up(port) for _ in range(N_RATE_USERS)]
    return Fixtures(cold, personal, raters, catalogue)


def recommend_requests(users: list[tuple[int, str]]) -> Callable[[int], Request]:
    """The i-th /recommend request: the users in turn, each asking for their top 10."""

    def make(i: int) -> Request:
        user_id, token = users[i % len(users)]
        return Request("GET", f"/recommend?user_id={user_id}&n=10", token=token)

    return make


def rate_requests(raters: list[tuple[int, str]], films: list[int],
                  values: tuple[float, ...] = RATING_VALUES) -> Callable[[int], Request]:
    """The i-th one-film ``POST /rate``: the raters in turn, each rating the films in turn."""

    def make(i: int) -> Request:
        user_id, token = raters[i % len(raters)]
        rating = {"movie_id": films[(i // len(raters)) % len(films)],
                  "rating": values[i % len(values)]}
        body = {"user_id": user_id, "ratings": [rating]}
        return Request("POST", "/rate", json.dumps(body).encode(), token)

    return make


def scenarios(fx: Fixtures) -> dict[str, Callable[[int], Request]]:
    """Scenario name -> the i-th request of that scenario."""

    def search(i: int) -> Request:
        query = SEARCH_QUERIES[i % len(SEARCH_QUERIES)].replace(" ", "%20")
        return Request("GET", f"/movies?query={query}&limit=20")

    return {
        "recommend cold (0 ratings)": recommend_requests(fx.cold),
        f"recommend personal ({2 * PERSONALISATION_THRESHOLD} ratings)":
            recommend_requests(fx.personal),
        "rate (1 film)": rate_requests(fx.raters, fx.catalogue),
        "movies search": search,
    }


def run(model_dir: Path, workers_list: list[int], total: int) -> list[Result]:
    """Every scenario on a fresh database per server. The rate scenario has each rater write
    ~50 times in seconds, and ~130 users sign up from 127.0.0.1: this benchmark measures
    capacity, so the per-user write limit and the per-address sign-up limit are off."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cinematch-bench-") as workdir:
        for workers in workers_list:
            for env in ({}, NO_CACHE):
                database = Path(workdir) / f"bench-w{workers}-{len(env)}.db"
                with ApiServer(model_dir, database, workers=workers,
                               env={**UNLIMITED, **env}) as server:
                    fixtures = prepare(server.port)
                    chosen = ({NO_CACHE_SCENARIO: recommend_requests(fixtures.personal)}
                              if env else scenarios(fixtures))
                    for name, make in chosen.items():
                        results += measure(server.port, server.pid, name, make, workers, total)
    return results


def measure(port: int, pid: int, name: str, make: Callable[[int], Request], workers: int,
            total: int) -> list[Result]:
    """One scenario at each concurrency level, after a warm-up (caches, pools, code paths);
    then, when wrk is installed, at the target's concurrency from wrk."""
    drive(port, make, 4, 200)
    results = []
    for clients in CONCURRENCY:
        cpu_before = process_tree_cpu_seconds(pid)
        seconds, latencies, errors = drive(port, make, clients, total)
        cpu_ms = cpu_ms_per_request(pid, cpu_before, len(latencies))
        result = Result(name, workers, clients, len(latencies), errors, seconds, latencies, cpu_ms)
        results.append(result)
        print(row(result), flush=True)
    for _ in range(WRK_RUNS if wrk_available() else 0):
        clients = max(CONCURRENCY)
        cpu_before = process_tree_cpu_seconds(pid)
        run = drive_wrk(port, make, clients, WRK_SECONDS)
        cpu_ms = cpu_ms_per_request(pid, cpu_before, run.requests)
        result = Result(name, workers, clients, run.requests, run.errors, run.seconds, [], cpu_ms,
                        client=WRK_CLIENT, percentiles_ms=run.percentiles_ms)
        results.append(result)
        print(row(result), flush=True)
    return results


def median_runs(rows: list[Result]) -> list[Result]:
    """One row per scenario, worker count and concurrency: the run with the median p99."""
    groups: dict[tuple[str, int, int], list[Result]] = {}
    for r in rows:
        groups.setdefault((r.scenario, r.workers, r.clients), []).append(r)
    return [
        sorted(runs, key=lambda r: r.percentile(99))[(len(runs) - 1) // 2]
        for runs in groups.values()
    ]


HEADER = (
    f"{'scenario':<30} {'client':>6} {'workers':>7} {'clients':>7} {'requests':>8} {'req/s':>8} "
    f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'srv cpu ms/req':>14}"
)


def row(r: Result) -> str:
    return (
        f"{r.scenario:<30} {r.client:>6} {r.workers:>7} {r.clients:>7} {r.requests:>8} "
        f"{r.req_per_s:>8.0f} {r.percentile(50):>7.2f} {r.percentile(95):>7.2f} "
        f"{r.percentile(99):>7.2f} {r.errors:>6} "
        f"{'n/a' if r.server_cpu_ms is None else f'{r.server_cpu_ms:.2f}':>14}"
    )


def summary(results: list[Result]) -> None:
    python = [r for r in results if r.client == PYTHON_CLIENT]
    recommend = [r for r in python if r.scenario.startswith("recommend")]
    cold_p50 = min(
        r.percentile(50)
        for r in recommend
        if r.clients == 1 and r.scenario.startswith("recommend cold")
    )
    best_workers = _best_workers(python)
    print()
    print("The service we replace (measured): /recommend 22 req/s and p99 887 ms at 8 clients;"
          " cold p50 59 ms.")
    print(f"Best worker setting for /recommend at {max(CONCURRENCY)} clients: {best_workers}")
    print(f"Against the old service at its own {OLD_CLIENTS} clients, {best_workers} worker(s):")
    for r in recommend:
        if r.clients != OLD_CLIENTS or r.workers != best_workers:
            continue
        speedup = r.req_per_s / OLD_REQ_PER_S_8_CLIENTS
        p99 = r.percentile(99)
        print(f"  {r.scenario:<32} {r.req_per_s:>7.0f} req/s = {speedup:>5.0f}x old;"
              f"  p99 {p99:.2f} ms = {OLD_P99_MS_8_CLIENTS / p99:.0f}x lower")
    print(f"  cold /recommend p50 at 1 client: {cold_p50:.2f} ms = "
          f"{OLD_P50_MS_COLD / cold_p50:.0f}x lower than {OLD_P50_MS_COLD:.0f} ms")
    for client in (PYTHON_CLIENT, WRK_CLIENT):
        rows = median_runs([r for r in results if r.client == client])
        if rows:
            _targets(client, rows)


def _best_workers(rows: list[Result]) -> int:
    """The worker count with the most cold and personal /recommend req/s at the target's load."""
    served = [
        r for r in rows
        if r.scenario.startswith("recommend") and r.scenario != NO_CACHE_SCENARIO
        and r.clients == max(CONCURRENCY)
    ]  # fmt: skip
    return max(
        {r.workers for r in served},
        key=lambda w: statistics.fmean(r.req_per_s for r in served if r.workers == w),
    )


def _targets(client: str, rows: list[Result]) -> None:
    """The targets' verdicts on one client's rows at the target's load."""
    best_workers = _best_workers(rows)
    busy = [r for r in rows if r.scenario.startswith("recommend") and r.clients == max(CONCURRENCY)]
    best = [r for r in busy if r.scenario != NO_CACHE_SCENARIO and r.workers == best_workers]
    uncached = max((r for r in busy if r.scenario == NO_CACHE_SCENARIO), key=lambda r: r.req_per_s)
    print(f"Load from {client}, {best_workers} worker(s):")
    print(f"  every list recomputed ({NO_CACHE_SCENARIO}, best with {uncached.workers} workers):"
          f" {uncached.req_per_s:.0f} req/s, p99 {uncached.percentile(99):.2f} ms")
    for label, chosen in (("served lists", best), ("every list recomputed", [uncached])):
        throughput_ok = all(r.req_per_s >= TARGET_REQ_PER_S for r in chosen)
        latency_ok = all(r.percentile(99) <= TARGET_P99_MS for r in chosen)
        print(f"  target >= {TARGET_REQ_PER_S:.0f} req/s ({label}):"
              f" {verdict(throughput_ok)};"
              f" p99 <= {TARGET_P99_MS:.0f} ms at {max(CONCURRENCY)} clients:"
              f" {verdict(latency_ok)}")


def to_json(model_dir: Path, results: list[Result], load: float) -> dict[str, object]:
    """The run as ``bench/results/api_latency.json`` keeps it (full runs only)."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    rows = [{"scenario": r.scenario, "client": r.client, "workers": r.workers,
             "clients": r.clients, "requests": r.requests, "errors": r.errors,
             "req_per_s": round(r.req_per_s, 1),
             **{f"p{q}_ms": round(r.percentile(q), 3) for q in (50, 95, 99)},
             "server_cpu_ms_per_request":
                 None if r.server_cpu_ms is None else round(r.server_cpu_ms, 3)}
            for r in results]
    return {
        "generated_at": now(),
        "environment": {"cpus": os.cpu_count(), "load_average_1m_at_start": load,
                        "python": platform.python_version()},
        "model_version": manifest.get("model_version"),
        "baseline": {"req_per_s_8_clients": OLD_REQ_PER_S_8_CLIENTS,
                     "p99_ms_8_clients": OLD_P99_MS_8_CLIENTS, "p50_ms_cold": OLD_P50_MS_COLD},
        "results": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "400 requests per scenario", "api_latency")
    model_dir_option(parser)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--requests",
        type=int,
        default=3200,
        help="requests per scenario and concurrency level (bounded run time)",
    )
    args = parser.parse_args(argv)
    total = 400 if args.quick else args.requests
    if no_model(args.model_dir):
        return 2
    load = os.getloadavg()[0]
    print(f"model {args.model_dir}; {os.cpu_count()} CPUs shared by server and client; "
          f"load average {load:.1f} before the run")
    print(HEADER)
    results = run(args.model_dir.resolve(), args.workers, total)
    summary(results)
    if not args.quick:
        document = to_json(args.model_dir, results, load)
        write_json(args.json or RESULTS / "api_latency.json", document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
