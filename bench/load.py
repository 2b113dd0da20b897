"""Load test: concurrent visitors against the real server, and proof that no write was lost.

    .venv/bin/python bench/load.py [--clients 32] [--seconds 60] [--workers 1]
                                   [--model-dir models] [--quick] [--json PATH]

Each client thread plays visitor after visitor (sign up, rate, list, search, re-rate, delete)
on ``python -m api.server``; afterwards the database must hold exactly the acknowledged writes.
Exits 1 if anything failed. ``tests/reliability/test_load_short.py`` runs it shorter.
Protocol: bench/README.md. Results: ``bench/results/load.json``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

from bench.harness import RESULTS, arguments, model_dir_option, no_model, now, write_json
from bench.harness.api_server import HOST, ApiServer, Request, call_json, send
from bench.harness.measure import percentile
from bench.harness.nginx import NginxProxy
from bench.harness.postgres import PostgresCluster
from ml.rules import PERSONALISATION_THRESHOLD, RATING_VALUES

SCALE = list(RATING_VALUES)
#: A load balancer's "the replica did not answer" (nginx: 502 Bad Gateway, 504 timeout).
GATEWAY_FAILURES = frozenset({502, 504})
#: Endpoints in the order a visit reaches them (the report's row order).
ENDPOINTS = (
    "POST /users",
    "GET /onboarding/movies",
    "POST /rate",
    "GET /recommend",
    "GET /movies?query=",
    "GET /user/{id}/stats",
    "DELETE /users/{id}/ratings/{movie}",
    "GET /users/{id}/ratings",
)
_TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_-]{43,}")

Key = tuple[int, int]  # (user_id, movie_id)
#: What a visitor picks from: film ids, search words, genres (``discover``).
Site = tuple[list[int], list[str], list[str]]


class Unanswered(Exception):
    """The request got no HTTP answer (timeout, reset): its effect is unknown."""


@dataclass
class ClientLog:
    """What one client thread saw; merged into the report at the end."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    errors_by_endpoint: Counter[str] = field(default_factory=Counter)
    #: Last acknowledged value per (user, movie); None = acknowledged delete.
    acknowledged: dict[Key, float | None] = field(default_factory=dict)
    uncertain: set[Key] = field(default_factory=set)
    users: dict[int, str] = field(default_factory=dict)
    rating_writes: int = 0
    ratings_written: int = 0
    deletes: int = 0
    #: Behind nginx: deletes answered 404 because the proxy replayed them on another replica
    #: after the first attempt had committed (see ``Client.visit``).
    replayed_deletes: int = 0
    stale_reads: int = 0
    visits: int = 0


class VisitOver(Exception):
    """The run's deadline or request budget is reached: stop the visit where it is."""


class Client:
    """One simulated browser: a keep-alive connection and a series of visits."""

    def __init__(self, port: int, site: Site, deadline: float, max_requests: int, seed: int,
                 behind_proxy: bool = False) -> None:
        self.port = port
        self.behind_proxy = behind_proxy
        self.catalogue, self.queries, self.genres = site
        self.deadline = deadline
        self.max_requests = max_requests
        self.rng = random.Random(seed)
        self.log = ClientLog()
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.sent = 0

    # -- transport ---------------------------------------------------------------------

    def request(self, endpoint: str, request: Request, expect: int = 200, *,
                gone_if: int | None = None) -> dict:
        if time.monotonic() >= self.deadline or self.sent >= self.max_requests:
            raise VisitOver
        self.sent += 1
        started = time.perf_counter()
        try:
            status, body = send(self.conn, request)
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            self.log.errors.append(f"{endpoint}: no answer ({type(error).__name__})")
            self.log.errors_by_endpoint[endpoint] += 1
            raise Unanswered from error
        self.log.latencies[endpoint].append((time.perf_counter() - started) * 1000)
        if gone_if is not None and status == gone_if:
            return {"gone": True}
        if status != expect:
            self.log.errors.append(f"{endpoint}: {status} {body[:160]!r}")
            self.log.errors_by_endpoint[endpoint] += 1
            if status in GATEWAY_FAILURES:
                # The proxy lost the replica mid-request: the write may have been committed
                # just before the replica died, so its outcome is unknown, like a reset.
                raise Unanswered
            return {}
        return json.loads(body)

    # -- one visitor -------------------------------------------------------------------

    def run(self) -> ClientLog:
        try:
            while True:
                # An unanswered request is recorded; that visitor's state is unknown, so the
                # next visitor starts.
                with suppress(Unanswered):
                    self.visit()
                self.log.visits += 1
        except VisitOver:
            pass
        finally:
            self.conn.close()
        return self.log

    def visit(self) -> None:
        created = self.request("POST /users", Request("POST", "/users"), expect=201)
        if not created:
            return
        user_id, token = created["user_id"], created["token"]
        self.log.users[user_id] = token
        mine: dict[int, float] = {}

        deck = self.request("GET /onboarding/movies", Request("GET", "/onboarding/movies?n=20"))
        films = [m["movie_id"] for m in deck.get("movies", [])] or self.sample(20)
        first = {m: self.value() for m in films[:PERSONALISATION_THRESHOLD]}
        self.rate(user_id, token, mine, first)
        self.recommend(user_id, token)

        query = quote(self.rng.choice(self.queries))
        search = Request("GET", f"/movies?query={query}&limit=20")
        found = self.request("GET /movies?query=", search)
        found_ids = [m["movie_id"] for m in found.get("items", [])]
        candidates = found_ids + films[PERSONALISATION_THRESHOLD:] + self.sample(10)
        new = [m for m in dict.fromkeys(candidates) if m not in mine][: self.rng.randint(2, 6)]
        again = self.rng.sample(sorted(mine), k=min(len(mine), self.rng.randint(1, 3)))
        batch = {m: self.value() for m in new}
        batch.update({m: self.other_value(mine[m]) for m in again})  # re-rates
        self.rate(user_id, token, mine, batch)
        self.recommend(user_id, token)
        self.request("GET /user/{id}/stats", Request("GET", f"/user/{user_id}/stats", token=token))

        if mine:
            gone = self.rng.choice(sorted(mine))
            path = f"/users/{user_id}/ratings/{gone}"
            try:
                # nginx replays an idempotent request on another replica when the first one
                # dies mid-request; if that one had committed the delete, the replay answers
                # 404 for a film this visitor has rated: the rating is gone, as asked. Only
                # behind the proxy: a lone server answering 404 here has lost a rating.
                deleted = self.request("DELETE /users/{id}/ratings/{movie}",
                                       Request("DELETE", path, token=token),
                                       gone_if=404 if self.behind_proxy else None)
            except Unanswered:
                self.log.uncertain.add((user_id, gone))
                raise
            if deleted:
                self.log.acknowledged[(user_id, gone)] = None
                self.log.deletes += 1
                self.log.replayed_deletes += int("gone" in deleted)
                del mine[gone]

        listed = self.request("GET /users/{id}/ratings",
                              Request("GET", f"/users/{user_id}/ratings?limit=500", token=token))
        if listed and {r["movie_id"]: r["rating"] for r in listed["ratings"]} != mine:
            self.log.stale_reads += 1
        genre = quote(self.rng.choice(self.genres)) if self.genres else ""
        self.recommend(user_id, token, f"&genre={genre}" if genre else "")

    def rate(self, user_id: int, token: str, mine: dict[int, float],
             batch: dict[int, float]) -> None:
        if not batch:
            return
        body = {"user_id": user_id,
                "ratings": [{"movie_id": m, "rating": r} for m, r in batch.items()]}
        request = Request("POST", "/rate", json.dumps(body).encode(), token)
        try:
            answer = self.request("POST /rate", request)
        except Unanswered:
            self.log.uncertain.update((user_id, m) for m in batch)
            raise
        if answer:
            mine.update(batch)
            for movie_id, value in batch.items():
                self.log.acknowledged[(user_id, movie_id)] = value
            self.log.rating_writes += 1
            self.log.ratings_written += len(batch)

    def recommend(self, user_id: int, token: str, extra: str = "") -> None:
        path = f"/recommend?user_id={user_id}&n=10{extra}"
        self.request("GET /recommend", Request("GET", path, token=token))

    def value(self) -> float:
        return self.rng.choice(SCALE)

    def other_value(self, current: float) -> float:
        return self.rng.choice([v for v in SCALE if v != current])

    def sample(self, n: int) -> list[int]:
        return self.rng.sample(self.catalogue, k=min(n, len(self.catalogue)))


# -- the run -------------------------------------------------------------------------------


@dataclass
class EndpointStats:
    endpoint: str
    requests: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class LoadReport:
    clients: int
    seconds: float
    workers: int
    requests: int
    p50_ms: float
    p99_ms: float
    errors: list[str]
    endpoints: list[EndpointStats]
    users: int
    visits: int
    rating_writes: int
    ratings_written: int
    deletes: int
    replayed_deletes: int
    acknowledged_keys: int
    lost_writes: list[str]
    unexpected_rows: list[str]
    uncertain: int
    stale_reads: int
    tokens_in_log: int
    integrity: str
    write_limit: str
    replicas: int = 1
    #: Seconds from SIGKILL to the restarted replica answering /health (None: no kill).
    restart_s: float | None = None

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.lost_writes
            and not self.unexpected_rows
            and self.stale_reads == 0
            and self.tokens_in_log == 0
            and self.integrity == "ok"
        )


#: Every visitor signs up from 127.0.0.1: the per-address sign-up limit is off for the load
#: (tests/api/test_hosted.py proves that limit); the per-user write limit stays at its default.
LOAD_ENV = {"CINEMATCH_SIGNUP_LIMIT_PER_HOUR": "0"}


def run_load(model_dir: Path, *, clients: int, seconds: float, workdir: Path, workers: int = 1,
             max_requests: int = 200_000, seed: int = 0, database_url: str | None = None,
             replicas: int = 1, kill_at: float | None = None) -> LoadReport:
    """Serve ``model_dir`` from a fresh database, load it, verify the database.

    The database is a SQLite file in ``workdir`` unless ``database_url`` names another (an
    empty PostgreSQL database). ``replicas > 1`` starts that many API processes on it behind
    nginx (``deploy/nginx.conf``, ``bench.harness.nginx``); ``kill_at`` seconds into the run,
    replica 1 is SIGKILLed and started again on the same port.
    """
    database_url = database_url or f"sqlite:///{workdir / 'load.db'}"
    env = {**LOAD_ENV, "CINEMATCH_TRUSTED_PROXIES": HOST}
    servers = [ApiServer(model_dir, workdir / f"api-{i}.db", workers=workers, access_log=True,
                         log_level="info", database_url=database_url, env=env)
               for i in range(replicas)]
    proxy: NginxProxy | None = None
    restarts: list[float] = []
    try:
        for server in servers:
            server.start()
        if replicas > 1:
            proxy = NginxProxy([server.port for server in servers], env=env).start()
        port = proxy.port if proxy else servers[0].port
        site = discover(port)
        deadline = time.monotonic() + seconds
        logs: list[ClientLog] = [ClientLog() for _ in range(clients)]

        def play(index: int) -> None:
            client = Client(port, site, deadline, max_requests, seed + index,
                            behind_proxy=replicas > 1)
            logs[index] = client.run()

        def kill_and_restart() -> None:
            assert kill_at is not None
            time.sleep(kill_at)
            servers[0].kill()
            down = time.perf_counter()
            servers[0].start()
            restarts.append(time.perf_counter() - down)

        threads = [threading.Thread(target=play, args=(i,)) for i in range(clients)]
        if kill_at is not None:
            threads.append(threading.Thread(target=kill_and_restart))
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()
    server_log = "\n".join(server.log_text() for server in servers)
    result = report(logs, database_url, server_log, clients, elapsed, workers)
    result.replicas = replicas
    result.restart_s = restarts[0] if restarts else None
    return result


def discover(port: int) -> Site:
    """Film ids, search words taken from real titles, and genres, asked of the API itself."""
    catalogue: list[int] = []
    words: list[str] = []
    for offset in range(0, 500, 100):
        page = call_json(port, Request("GET", f"/movies?limit=100&offset={offset}"))
        for movie in page["items"]:
            catalogue.append(movie["movie_id"])
            first = re.split(r"[\s,:(]+", movie["title"].strip())[0]
            if len(first) >= 3:
                words.append(first[: random.Random(movie["movie_id"]).randint(3, len(first))])
        if offset + 100 >= page["total"]:
            break
    genres = call_json(port, Request("GET", "/genres"))["genres"]
    return catalogue, sorted(set(words)) or ["a"], genres


def report(logs: list[ClientLog], database: str, server_log: str, clients: int, elapsed: float,
           workers: int) -> LoadReport:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors_by_endpoint: Counter[str] = Counter()
    acknowledged: dict[Key, float | None] = {}
    uncertain: set[Key] = set()
    tokens: set[str] = set()
    for log in logs:
        for endpoint, values in log.latencies.items():
            latencies[endpoint].extend(values)
        errors_by_endpoint.update(log.errors_by_endpoint)
        acknowledged.update(log.acknowledged)  # each user belongs to one client: no overlap
        uncertain |= log.uncertain
        tokens.update(log.users.values())
    errors = [error for log in logs for error in log.errors]
    lost, unexpected, integrity = verify(database, acknowledged, uncertain)

    def total(counter: str) -> int:
        return sum(getattr(log, counter) for log in logs)

    every = [ms for values in latencies.values() for ms in values]
    endpoints = [EndpointStats(endpoint, len(latencies[endpoint]),
                               len(latencies[endpoint]) / elapsed,
                               percentile(latencies[endpoint], 50),
                               percentile(latencies[endpoint], 99), errors_by_endpoint[endpoint])
                 for endpoint in ENDPOINTS]
    write_limit = os.environ.get("CINEMATCH_WRITE_LIMIT_PER_MINUTE", "default (60/min, burst 30)")
    return LoadReport(
        clients=clients, seconds=elapsed, workers=workers, requests=len(every),
        p50_ms=percentile(every, 50), p99_ms=percentile(every, 99), errors=errors,
        endpoints=endpoints, users=len(tokens), visits=total("visits"),
        rating_writes=total("rating_writes"), ratings_written=total("ratings_written"),
        deletes=total("deletes"), replayed_deletes=total("replayed_deletes"),
        acknowledged_keys=len(acknowledged), lost_writes=lost, unexpected_rows=unexpected,
        uncertain=len(uncertain), stale_reads=total("stale_reads"),
        tokens_in_log=tokens_in(server_log, tokens), integrity=integrity,
        write_limit=write_limit,
    )


def verify(database_url: str, acknowledged: dict[Key, float | None],
           uncertain: set[Key]) -> tuple[list[str], list[str], str]:
    """Compare the database with the acknowledged writes: (lost, unexpected, integrity).

    Read straight from the database (SQLite's integrity check too; PostgreSQL checks its own
    pages, so its "integrity" is "ok" once the rows are read)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT user_id, movie_id, rating FROM ratings"))
            stored: dict[Key, float] = {(user, movie): rating for user, movie, rating in rows}
            integrity = "ok"
            if connection.dialect.name == "sqlite":
                checked = connection.exec_driver_sql("PRAGMA integrity_check")
                integrity = "; ".join(row[0] for row in checked)
    finally:
        engine.dispose()
    lost: list[str] = []
    for key, value in acknowledged.items():
        if key in uncertain:
            continue
        if value is None and key in stored:
            lost.append(f"user {key[0]} film {key[1]}: deleted (acknowledged) but still stored")
        elif value is not None and key not in stored:
            lost.append(f"user {key[0]} film {key[1]}: rated {value} (acknowledged), missing")
        elif value is not None and stored[key] != value:
            lost.append(f"user {key[0]} film {key[1]}: rated {value} (acknowledged), {stored[key]}")
    unexpected = [f"user {key[0]} film {key[1]}: stored {value}, never acknowledged"
                  for key, value in stored.items()
                  if key not in acknowledged and key not in uncertain]
    return lost, unexpected, integrity


def tokens_in(log_text: str, tokens: set[str]) -> int:
    """How many issued tokens appear anywhere in the server's log."""
    found = set()
    for run in _TOKEN_SHAPED.findall(log_text):
        for start in range(len(run) - 42):
            if run[start : start + 43] in tokens:
                found.add(run[start : start + 43])
    return len(found)


def markdown(result: LoadReport) -> str:
    lines = [
        f"{result.clients} clients × {result.seconds:.0f} s, {result.workers} uvicorn "
        f"worker(s): **{result.requests:,} requests, {result.req_per_s:,.0f} req/s**, "
        f"{len(result.errors)} errors.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| `{e.endpoint}` | {e.requests:,} | {e.req_per_s:,.1f} | {e.p50_ms:.1f} "
              f"| {e.p99_ms:.1f} | {e.errors} |" for e in result.endpoints]
    lines += [
        f"| **all** | **{result.requests:,}** | **{result.req_per_s:,.0f}** | "
        f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | **{len(result.errors)}** |",
        "",
        f"- {result.users:,} users created; {result.rating_writes:,} acknowledged `POST /rate` "
        f"({result.ratings_written:,} ratings, re-rates included) and {result.deletes:,} "
        f"acknowledged deletes ({result.replayed_deletes} of them answered 404 by a replica "
        "that got the proxy's replay after the first attempt committed); "
        f"{result.acknowledged_keys:,} (user, film) outcomes checked against the database.",
        f"- **Lost writes: {len(result.lost_writes)}**; rows never acknowledged: "
        f"{len(result.unexpected_rows)}; unanswered writes: {result.uncertain}; "
        f"stale reads of one's own ratings: {result.stale_reads}; "
        f"integrity check: {result.integrity}.",
        f"- Issued tokens found in the server's JSON log: {result.tokens_in_log}. "
        f"Write limit: {result.write_limit}.",
    ]
    if result.replicas > 1:
        killed = ("." if result.restart_s is None else
                  f"; replica 1 SIGKILLed mid-run, healthy again {result.restart_s:.1f} s later.")
        lines.append(f"- {result.replicas} API processes behind nginx{killed}")
    return "\n".join(lines)


#: ``LoadReport`` fields under another name in ``bench/results/load.json``, and those it leaves out.
JSON_NAMES = {"acknowledged_keys": "acknowledged_outcomes", "uncertain": "unanswered_writes",
              "integrity": "integrity_check"}
NOT_IN_JSON = ("errors", "lost_writes", "unexpected_rows", "write_limit", "replicas", "restart_s")


def to_json(result: LoadReport, model_dir: Path, load_average: float) -> dict[str, Any]:
    """The run as ``bench/results/load.json`` keeps it: counts of the problems, their first 20."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    figures = {JSON_NAMES.get(key, key): value for key, value in asdict(result).items()
               if key not in NOT_IN_JSON}
    return _rounded({
        "generated_at": now(),
        "environment": {"cpus": os.cpu_count(), "load_average_1m_at_start": load_average},
        "model_version": manifest.get("model_version"),
        **figures,
        "req_per_s": result.req_per_s,
        "errors": len(result.errors),
        "error_samples": result.errors[:20],
        "lost_writes": len(result.lost_writes),
        "unexpected_rows": len(result.unexpected_rows),
    })


def _rounded(value: Any) -> Any:
    """Floats to 2 decimals, in dicts and lists too."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "8 clients for 10 s", "load")
    model_dir_option(parser)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-requests", type=int, default=200_000, help="per client")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite",
        help="postgresql: a throwaway cluster (bench/harness/postgres.py), fsync on",
    )  # fmt: skip
    parser.add_argument("--replicas", type=int, default=1, help=">1: behind nginx")
    parser.add_argument(
        "--kill-at", type=float, default=None, help="SIGKILL + restart replica 1 at this second"
    )
    args = parser.parse_args(argv)
    clients, seconds = (8, 10.0) if args.quick else (args.clients, args.seconds)
    if no_model(args.model_dir):
        return 2
    load_average = os.getloadavg()[0]
    print(f"model {args.model_dir}; {clients} clients for {seconds:g} s against "
          f"{args.workers} worker(s); {os.cpu_count()} CPUs shared by server and clients; "
          f"load average {load_average:.1f} before the run", flush=True)
    with ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="cinematch-load-"))
        database_url = None
        if args.database == "postgresql":
            database_url = stack.enter_context(PostgresCluster()).create_database()
        result = run_load(args.model_dir.resolve(), clients=clients, seconds=seconds,
                          workdir=Path(workdir), workers=args.workers,
                          max_requests=args.max_requests, seed=args.seed,
                          database_url=database_url, replicas=args.replicas,
                          kill_at=args.kill_at)
    print(f"database: {args.database}; load average after the run {os.getloadavg()[0]:.1f}")
    print(markdown(result))
    for problem in (result.errors + result.lost_writes + result.unexpected_rows)[:20]:
        print(f"  ! {problem}")
    if not args.quick:
        document = to_json(result, args.model_dir, load_average)
        write_json(args.json or RESULTS / "load.json", document)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
