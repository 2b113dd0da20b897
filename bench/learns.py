"""Does the model learn from its own users? A rare taste, rated through the API, retrained in.

    .venv/bin/python bench/learns.py [--data DIR] [--genre G] [--postgres] [--quick] [--json PATH]

Simulated app users rate a niche through ``POST /rate``; the real training CLI retrains with
``--app-ratings``, the promote gate decides, and held-out newcomers with that taste ask
``/recommend`` from each version while nobody else's figures may get worse.
``tests/learning/test_learns.py`` runs ``--quick`` on a generated release. Protocol:
bench/README.md. Results: ``bench/results/learns.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url

from bench.harness import DATA_ROOT, REPO, RESULTS, arguments, load_average, now, write_json
from bench.harness.api_server import UNLIMITED, ApiServer, Request, call_json, sign_up
from bench.harness.postgres import PostgresCluster
from ml.data import load_dataset
from ml.rules import PERSONALISATION_THRESHOLD
from ml.serving.artifacts import APP_RATINGS_KEY, load_holdout
from ml.serving.model_store import ModelStore
from ml.serving.recommender import Recommender
from ml.training.metrics import ndcg_at_k, recall_at_k
from ml.training.promote import TOLERANCE, compare, format_table

log = logging.getLogger("bench.learns")

DEFAULT_DATA = DATA_ROOT / "ml-latest-small"
SEED = 42
#: Share of MovieLens users held out of every training (``ml.training.train --gate-users``): ~120 of
#: ml-latest-small's 610, about what the default 3% holds out of the shipped data's 3,609.
GATE_USERS = 0.2
DEFAULT_GENRE = "Documentary"
#: "Rare in MovieLens": the first model learnt a film of the taste from this many ratings.
RARE_MIN, RARE_MAX = 2, 5
TOP_K = 10
#: Films the newcomer rates: the personalisation threshold, the fewest a personal list needs.
NEWCOMER_GIVEN = PERSONALISATION_THRESHOLD
MAINSTREAM_POOL = 200
PAGE = 5  # ratings per POST /rate, as the deck saves them
ADMIN_TOKEN = "learns-bench-operator-token-0123456789"
TASTE_RECALL = 0.5
RESEED = 7  # the reference training's seed (the CLI's default is FunkSVDParams().seed)


@dataclass(frozen=True)
class Scale:
    taste_films: int
    #: App users who have signed up and rated by each retrain (cumulative): one version each.
    app_users: tuple[int, ...]
    taste_per_user: int
    mainstream_per_user: int
    newcomers: int


FULL = Scale(taste_films=20, app_users=(5, 10, 20, 30), taste_per_user=12,
             mainstream_per_user=8, newcomers=30)
QUICK = Scale(taste_films=12, app_users=(25,), taste_per_user=9, mainstream_per_user=4,
              newcomers=6)


@dataclass(frozen=True)
class TasteScore:
    """The held-out newcomers' lists from one model version."""

    model_version: str
    hits: list[int]  # per newcomer: taste films they did not rate, in their top 10
    recall_at_10: float
    ndcg_at_10: float


def taste_films(served: Recommender, genre: str, count: int,
                rng: np.random.Generator) -> list[int]:
    """The rule: ``count`` films of ``genre`` that the first model learnt from RARE_MIN–
    RARE_MAX ratings, drawn with the seed from all such films (in id order, so the draw is
    reproducible)."""
    pool = sorted(m.movie_id for m in served.movies()
                  if genre in m.genres and RARE_MIN <= m.rating_count <= RARE_MAX)
    if len(pool) < count:
        raise SystemExit(f"error: only {len(pool)} {genre} films have {RARE_MIN}–{RARE_MAX} "
                         f"ratings; the taste needs {count} (try another --genre)")
    return sorted(int(m) for m in rng.choice(pool, count, replace=False))


def module(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in this checkout, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, check=False)


def train_version(store: ModelStore, label: str, data: Path, extra: list[str],
                  quick: bool) -> str:
    """One run of the real training CLI into a new version of ``store``; its name."""
    command = ["ml.training.train", "--data", str(data), "--store", str(store.root),
               "--test-fraction", "0", "--gate-users", str(GATE_USERS),
               *(["--n-epochs", "30"] if quick else []), *extra]
    log.info("training %s: %s", label, " ".join(command))
    started = time.perf_counter()
    done = module(*command)
    if done.returncode != 0:
        raise RuntimeError(f"ml.training.train failed ({done.returncode}): {done.stderr[-2000:]}")
    version = Path(done.stdout.strip().splitlines()[-1]).name  # --store prints the folder
    log.info("trained %s (%s) in %.0f s", label, version, time.perf_counter() - started)
    return version


class Person:
    """A signed-up user of the running service."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.user_id, self.token = sign_up(port)

    def rate(self, ratings: dict[int, float]) -> None:
        items = [{"movie_id": m, "rating": r} for m, r in ratings.items()]
        for start in range(0, len(items), PAGE):
            body = json.dumps({"user_id": self.user_id, "ratings": items[start:start + PAGE]})
            call_json(self.port, Request("POST", "/rate", body.encode(), self.token))

    def top_10(self) -> tuple[str, list[int]]:
        answer = call_json(self.port, Request(
            "GET", f"/recommend?user_id={self.user_id}&n={TOP_K}", token=self.token))
        return answer["model_version"], [int(r["movie_id"]) for r in answer["recommendations"]]


def half_stars(rng: np.random.Generator, low: float, high: float, n: int) -> list[float]:
    return [float(x) for x in rng.choice(np.arange(low, high + 0.25, 0.5), n)]


def simulate_app_users(port: int, count: int, taste: list[int], mainstream: list[int],
                       scale: Scale, rng: np.random.Generator) -> int:
    """Sign ``count`` people up and rate as ``scale`` says; the number of ratings stored."""
    stored = 0
    for _ in range(count):
        loved = rng.choice(taste, scale.taste_per_user, replace=False)
        lukewarm = rng.choice(mainstream, scale.mainstream_per_user, replace=False)
        ratings = dict(zip((int(m) for m in loved),
                           half_stars(rng, 4.5, 5.0, len(loved)), strict=True))
        ratings |= dict(zip((int(m) for m in lukewarm),
                            half_stars(rng, 2.0, 3.5, len(lukewarm)), strict=True))
        order = rng.permutation(list(ratings))  # rated in a shuffled order, page by page
        Person(port).rate({int(m): ratings[int(m)] for m in order})
        stored += len(ratings)
    return stored


def score(lists: list[tuple[str, list[int]]], targets: list[set[int]]) -> TasteScore:
    versions = {version for version, _ in lists}
    if len(versions) != 1:
        raise RuntimeError(f"lists came from several model versions: {sorted(versions)}")
    hits = [len(set(top) & wanted) for (_, top), wanted in zip(lists, targets, strict=True)]
    return TasteScore(
        model_version=versions.pop(), hits=hits,
        recall_at_10=round(float(np.mean([recall_at_k(top, wanted, TOP_K) for (_, top), wanted
                                          in zip(lists, targets, strict=True)])), 4),
        ndcg_at_10=round(float(np.mean([ndcg_at_k(top, wanted, TOP_K) for (_, top), wanted
                                        in zip(lists, targets, strict=True)])), 4))


def run(data: Path, genre: str, scale: Scale, quick: bool, work: Path,
        database_url: str | None = None) -> dict[str, Any]:
    """The whole measurement in ``work``; the service stores its ratings in a SQLite file
    there, or at ``database_url`` (PostgreSQL)."""
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    dataset = load_dataset(data)
    store = ModelStore(work / "store")
    versions = {"before": train_version(store, "before", data, [], quick)}
    # Seed-to-seed spread: the same MovieLens data trained again with another seed, so a
    # change "after" can be told apart from the sampler's own noise.
    versions["before, reseeded"] = train_version(store, "reseeded", data,
                                                 ["--seed", str(RESEED)], quick)
    store.promote(versions["before"])
    served = Recommender.load(store.path_of(versions["before"]))
    taste = taste_films(served, genre, scale.taste_films, rng)
    by_count = sorted(served.movies(), key=lambda m: (-m.rating_count, m.movie_id))
    mainstream = [m.movie_id for m in by_count[:MAINSTREAM_POOL]]
    titles = {m.movie_id: m.title for m in served.movies()}
    log.info("taste (%s, %d–%d MovieLens ratings each): %s", genre, RARE_MIN, RARE_MAX,
             "; ".join(titles[m] for m in taste))
    server = ApiServer(store.current_link, work / "app.sqlite3", database_url=database_url,
                       env={**UNLIMITED, "CINEMATCH_ADMIN_TOKEN": ADMIN_TOKEN})
    server.start()
    stored, signed_up, stages = 0, 0, []
    try:
        for count in scale.app_users:
            stored += simulate_app_users(server.port, count - signed_up, taste, mainstream,
                                         scale, rng)
            signed_up = count
            log.info("%d app users have stored %d ratings through POST /rate", count, stored)
            label = f"after {count} app users"
            versions[label] = train_version(store, f"app{count}", data,
                                            ["--app-ratings", server.database_url], quick)
            stages.append({"label": label, "app_users": count, "app_ratings_stored": stored,
                           "receipt": manifest_of(store, versions[label])[APP_RATINGS_KEY]})
        newcomers, targets = [], []
        for _ in range(scale.newcomers):
            given = [int(m) for m in rng.choice(taste, NEWCOMER_GIVEN, replace=False)]
            person = Person(server.port)
            person.rate(dict.fromkeys(given, 5.0))
            newcomers.append(person)
            targets.append(set(taste) - set(given))
        # Someone who has rated nothing gets the popularity chart: does the taste enter it?
        cold = Person(server.port)
        lists: dict[str, TasteScore] = {"before": score([p.top_10() for p in newcomers],
                                                        targets)}
        charts = {"before": cold.top_10()}
        for stage in stages:
            store.promote(versions[stage["label"]])
            reloaded = call_json(server.port,
                                 Request("POST", "/admin/reload", token=ADMIN_TOKEN))
            log.info("reloaded %s → %s", reloaded["previous_model_version"],
                     reloaded["model_version"])
            lists[stage["label"]] = score([p.top_10() for p in newcomers], targets)
            charts[stage["label"]] = cold.top_10()
    finally:
        server.stop()

    final = stages[-1]["label"]
    everyone = everyone_else(store, versions, final)
    # The real gate decides on the last version against the first, as an operator runs it.
    store.promote(versions["before"])
    gate = module("ml.training.promote", str(store.path_of(versions[final])), "--keep",
                  str(len(versions)))
    log.info("python -m ml.training.promote: exit %d\n%s", gate.returncode, gate.stdout)
    return {
        "generated_at": now(),
        "database": make_url(server.database_url).get_backend_name(),
        "data": {"folder": data.name, "ratings": len(dataset.ratings),
                 "users": int(dataset.ratings["user_id"].nunique()), "seed": SEED,
                 "gate_users": GATE_USERS},
        "scale": asdict(scale), "genre": genre, "rare_ratings": [RARE_MIN, RARE_MAX],
        "taste": [{"movie_id": m, "title": titles[m]} for m in taste],
        "stages": stages,
        "newcomers": {"given": NEWCOMER_GIVEN, "targets_each": scale.taste_films
                      - NEWCOMER_GIVEN, "through": "HTTP: POST /rate, GET /recommend, "
                      "POST /admin/reload between", "lists": {k: asdict(v) for k, v in
                                                              lists.items()}},
        "cold_chart_taste_films": {label: len(set(top) & set(taste))
                                   for label, (_, top) in charts.items()},
        "everyone_else": everyone, "final": final, "tolerance": TOLERANCE,
        "gate": {"exit_status": gate.returncode, "promoted": gate.returncode == 0,
                 "stdout": gate.stdout},
        "verdicts": verdicts(lists["before"], lists[final], everyone, final,
                             gate.returncode == 0),
        "seconds": round(time.perf_counter() - started, 1),
        "load": load_average(),
    }


def everyone_else(store: ModelStore, versions: dict[str, str],
                  final: str) -> dict[str, Any]:
    """The gate's comparison of ``final`` and of the reseeded reference with "before", on the
    held-out MovieLens users (its rows include the popular chart's NDCG@10)."""
    before = Recommender.load(store.path_of(versions["before"]))
    holdout = load_holdout(store.path_of(versions[final]))
    held = pd.DataFrame(holdout.arrays())
    out: dict[str, Any] = {"held_out_users": int(held["user_id"].nunique())}
    for label in ("before, reseeded", final):
        other = Recommender.load(store.path_of(versions[label]))
        comparison = compare(before, other, held, holdout.salt, TOLERANCE)
        out[label] = {"comparison": asdict(comparison), "passed": comparison.passed,
                      "table": format_table(comparison, TOLERANCE)}
    out["popularity_chart_ndcg_at_10"] = {
        "before": round(out[final]["comparison"]["current"]["chart_ndcg_at_10"], 4),
        **{label: round(out[label]["comparison"]["candidate"]["chart_ndcg_at_10"], 4)
           for label in ("before, reseeded", final)}}
    return out


def verdicts(before: TasteScore, after: TasteScore, everyone: dict[str, Any], final: str,
             promoted: bool) -> list[dict[str, Any]]:
    """The claims, each met or not."""
    charts = everyone["popularity_chart_ndcg_at_10"]
    chart_change = charts[final] / charts["before"] - 1 if charts["before"] else 0.0
    return [
        {"claim": "no held-out newcomer finds a taste film before the app ratings",
         "met": sum(before.hits) == 0},
        {"claim": f"after, Recall@10 of the taste films ≥ {TASTE_RECALL:g}",
         "met": after.recall_at_10 >= TASTE_RECALL},
        {"claim": f"everyone else: no gate figure worse by more than {TOLERANCE:.0%}",
         "met": everyone[final]["passed"]},
        {"claim": "the gate (python -m ml.training.promote) promotes the retrained version",
         "met": promoted},
        {"claim": f"the popularity chart's NDCG@10 not worse by more than {TOLERANCE:.0%} "
                  f"({chart_change:+.1%})", "met": chart_change >= -TOLERANCE},
    ]


def manifest_of(store: ModelStore, version: str) -> dict[str, Any]:
    return json.loads((store.path_of(version) / "manifest.json").read_text())


def report(result: dict[str, Any]) -> str:
    new = result["newcomers"]
    n = len(new["lists"]["before"]["hits"])
    data, everyone, final = result["data"], result["everyone_else"], result["final"]
    lines = [
        f"{data['folder']}: {data['ratings']:,} ratings of {data['users']:,} users, "
        f"{data['gate_users']:.0%} of them held out of every training; taste: "
        f"{len(result['taste'])} {result['genre']} films with {RARE_MIN}–{RARE_MAX} ratings "
        "each",
        "",
        f"the service stores its ratings in {result['database']}; {n} held-out newcomers "
        f"rate {new['given']} of the taste films 5★ through the API; "
        f"{new['targets_each']} taste films to find in their top {TOP_K}",
        f"{'model':<24}{'version':<20}{'app ratings':>12}{'hits':>6}{'with a hit':>12}"
        f"{'Recall@10':>11}{'NDCG@10':>9}",
    ]
    read = {s["label"]: (s["receipt"] or {}).get("n_ratings", "?") for s in result["stages"]}
    for label, s in new["lists"].items():
        lines.append(f"{label:<24}{s['model_version']:<20}{read.get(label, 0):>12}"
                     f"{sum(s['hits']):>6}{sum(1 for h in s['hits'] if h):>8}/{n:<3}"
                     f"{s['recall_at_10']:>11.4f}{s['ndcg_at_10']:>9.4f}")
    charts = everyone["popularity_chart_ndcg_at_10"]
    lines += [
        "", "taste films in the popularity chart (the top 10 of someone with no ratings): "
        + ", ".join(f"{k} {v}" for k, v in result["cold_chart_taste_films"].items()),
        "", f"everyone else ({everyone['held_out_users']} held-out MovieLens users), the "
        f"gate's comparison: served = before, candidate = {final}",
        everyone[final]["table"],
        "", "the same for the before data trained again with another seed (the noise):",
        everyone["before, reseeded"]["table"],
        "", "popularity chart NDCG@10 on the same people: "
        + ", ".join(f"{k} {v:.4f}" for k, v in charts.items()),
        "", f"python -m ml.training.promote (last version, served = before): exit "
        f"{result['gate']['exit_status']} "
        f"({'promoted' if result['gate']['promoted'] else 'refused'})",
        "", "claims:"]
    lines += [f"  {v['claim']}: {'met' if v['met'] else 'NOT met'}" for v in result["verdicts"]]
    lines.append(f"({result['seconds']:.0f} s; load average {result['load']:.2f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "fewer simulated people and sweeps (for tests)", "learns")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a MovieLens release folder (default ml-latest-small)")
    parser.add_argument("--genre", default=DEFAULT_GENRE, help="the rare taste's genre")
    parser.add_argument("--postgres", action="store_true",
                        help="the service stores ratings in a throwaway PostgreSQL cluster "
                             "(bench/harness/postgres.py) instead of a SQLite file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cinematch-learns-")))
        database_url = (stack.enter_context(PostgresCluster(fsync=False)).create_database()
                        if args.postgres else None)
        result = run(args.data, args.genre, QUICK if args.quick else FULL, args.quick, folder,
                     database_url)
    print(report(result))
    write_json(args.json or (None if args.quick else RESULTS / "learns.json"), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
