"""Does the model learn from its own users? A rare taste, rated through the API, retrained in.

    .venv/bin/python bench/learns.py [--data DIR] [--genre G] [--postgres] [--quick] [--json PATH]

The claim (issue #12, point 4): ratings people give in CineMatch reach the model at the next
retrain. A film loved by this service's users but rare in MovieLens enters the lists of a
newcomer with that taste, and nobody else's lists get worse.

1. **Data.** A MovieLens folder in the CSV layout. Default ml-latest-small: 100k ratings and
   a long tail (57% of its 9,724 films have at most 3 ratings), so a rare taste exists, and
   one training takes under a minute here. The partial ml-1m file has 11% of its 3,615 films
   at 5 ratings or fewer and trains five times as many ratings. A seeded 10% of the ratings
   is held out (``ml.split.validation_split``, seed 42: every user and film keeps a training
   rating); the rest is written as a release folder (``movies.csv`` and ``links.csv``
   copied) that every training reads.
2. **The taste**, by a rule, not picked by hand: the films of one genre (``--genre``,
   Documentary by default, a niche in MovieLens) with 2–5 ratings in the training part,
   ``TASTE_FILMS`` of them drawn with the seed. They are known to the catalogue, so a
   retrain may use them.
3. **Before**: ``python -m ml.train --data SPLIT --store STORE --test-fraction 0`` writes a
   version into a model store (``ml.model_store``); it is promoted, and the API
   (``bench/harness``'s ``ApiServer``, a real process on a SQLite file) serves
   ``STORE/current``. The same data trained with another seed is the reference for how much a
   retrain moves the figures by chance.
4. **Simulated app users** sign up (``POST /users``) and rate through ``POST /rate`` in pages
   of five, as the deck does: each loves ``TASTE_PER_USER`` of the taste films (4.5 or 5 ★)
   and is lukewarm (2–3.5 ★) about ``MAINSTREAM_PER_USER`` of the 200 films most rated in
   MovieLens.
5. **Retrain** with the real CLI while the service runs, once per stage as more app users
   join (``Scale.app_users``, cumulative): ``python -m ml.train --data SPLIT --store STORE
   --app-ratings sqlite:///… --test-fraction 0``.
6. **Newcomers with that taste**, held out (they sign up after the last retrain read the
   database, so no version saw them), each rate 5 of the taste films 5 ★ through ``POST
   /rate`` and ask ``GET /recommend`` (top 10) from the first model; each retrained version
   is then promoted in turn and ``POST /admin/reload`` swaps it into the same running
   service, and the same newcomers, with the same stored ratings, ask again. Scored: how many
   of the taste films they did not rate are in their top 10 (hits, Recall@10 = hits /
   min(10, targets), NDCG@10). A user with no ratings asks too: how many taste films reach
   the popularity chart everyone sees before their fifth rating.
7. **Everyone else**: both versions measured on the same held-out MovieLens ratings through
   ``ml.evaluate.heldout_rows`` (FunkSVD RMSE from the trained user vectors; Recall/NDCG@10 of
   popularity, FunkSVD by rating and the served ranking, from each user's training ratings
   folded in through ``Recommender``), side by side with after/before ratios.

``--quick`` simulates fewer people (``QUICK``); with ``--data`` it runs end to end on a tiny
generated release in a test (``tests/learning/test_learns.py``). Full runs write
``bench/results/learns.json``; the figures are in bench/README.md and the README.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy.engine import make_url  # noqa: E402

from bench.harness.api_server import ApiServer, Request, call_json  # noqa: E402
from bench.harness.postgres import PostgresCluster  # noqa: E402
from ml.artifacts import APP_RATINGS_KEY  # noqa: E402
from ml.data import load_dataset  # noqa: E402
from ml.evaluate import heldout_rows  # noqa: E402
from ml.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from ml.model_store import ModelStore  # noqa: E402
from ml.recommender import Recommender  # noqa: E402
from ml.rules import PERSONALISATION_THRESHOLD  # noqa: E402
from ml.split import validation_split  # noqa: E402

log = logging.getLogger("bench.learns")

DEFAULT_DATA = REPO.parent / "shared/data/movielens/ml-latest-small"
DEFAULT_JSON = REPO / "bench/results/learns.json"
TEST_FRACTION, SEED = 0.1, 42
DEFAULT_GENRE = "Documentary"
#: "Rare in MovieLens": a film of the taste has this many ratings in the training part.
RARE_MIN, RARE_MAX = 2, 5
TOP_K = 10
#: Films the newcomer rates: the personalisation threshold, the fewest a personal list needs.
NEWCOMER_GIVEN = PERSONALISATION_THRESHOLD
MAINSTREAM_POOL = 200
PAGE = 5  # ratings per POST /rate, as the deck saves them
ADMIN_TOKEN = "learns-bench-operator-token-0123456789"
#: "Not worse": at most this relative change (or the reseeded reference's, if larger).
TOLERANCE = 0.01
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

    @property
    def newcomers_with_a_hit(self) -> int:
        return sum(1 for h in self.hits if h > 0)


def split_release(source: Path, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame,
                                                        pd.DataFrame]:
    """Hold out ``TEST_FRACTION`` of ``source``'s ratings; write the rest as a release folder
    (CSV layout) that ``ml.train --data`` reads. Returns (train, test, movies)."""
    if not (source / "ratings.csv").is_file() or not (source / "movies.csv").is_file():
        raise SystemExit(f"error: {source}: needs a MovieLens folder in the CSV layout "
                         "(ratings.csv, movies.csv), e.g. ml-latest-small")
    dataset = load_dataset(source)
    # Every user and film keeps a training rating: both versions know every held-out user.
    train, test = validation_split(dataset.ratings, TEST_FRACTION, SEED)
    folder.mkdir(parents=True)
    for name in ("movies.csv", "links.csv"):
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
    train.rename(columns={"user_id": "userId", "movie_id": "movieId"})[
        ["userId", "movieId", "rating", "timestamp"]].to_csv(folder / "ratings.csv", index=False)
    return train, test, dataset.movies


def taste_films(train: pd.DataFrame, movies: pd.DataFrame, genre: str, count: int,
                rng: np.random.Generator) -> list[int]:
    """The rule: ``count`` films of ``genre`` with RARE_MIN–RARE_MAX training ratings, drawn
    with the seed from all such films (sorted by id first, so the draw is reproducible)."""
    rated = train.groupby("movie_id").size()
    in_genre = set(movies.loc[movies["genres"].map(lambda g: genre in g), "movie_id"].tolist())
    pool = sorted(int(m) for m, n in rated.items() if m in in_genre and RARE_MIN <= n <= RARE_MAX)
    if len(pool) < count:
        raise SystemExit(f"error: only {len(pool)} {genre} films have {RARE_MIN}–{RARE_MAX} "
                         f"training ratings; the taste needs {count} (try another --genre)")
    return sorted(int(m) for m in rng.choice(pool, count, replace=False))


def train_version(store: ModelStore, label: str, split: Path, extra: list[str],
                  quick: bool) -> str:
    """One run of the real training CLI into a new version of ``store``; its name."""
    command = [sys.executable, "-m", "ml.train", "--data", str(split), "--store",
               str(store.root), "--test-fraction", "0",
               *(["--n-epochs", "30"] if quick else []), *extra]
    log.info("training %s: %s", label, " ".join(command[1:]))
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ml.train failed ({done.returncode}): {done.stderr[-2000:]}")
    version = Path(done.stdout.strip().splitlines()[-1]).name  # --store prints the folder
    log.info("trained %s (%s) in %.0f s", label, version, time.perf_counter() - started)
    return version


class Person:
    """A signed-up user of the running service."""

    def __init__(self, port: int) -> None:
        self.port = port
        created = call_json(port, Request("POST", "/users"), expect=201)
        self.user_id, self.token = int(created["user_id"]), str(created["token"])

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
    split = work / "split"
    train, test, movies = split_release(data, split)
    taste = taste_films(train, movies, genre, scale.taste_films, rng)
    mainstream = [int(m) for m in
                  train.groupby("movie_id").size().nlargest(MAINSTREAM_POOL).index]
    titles = movies.set_index("movie_id")["title"]
    log.info("taste (%s, %d–%d MovieLens ratings each): %s", genre, RARE_MIN, RARE_MAX,
             "; ".join(str(titles.get(m, m)) for m in taste))

    store = ModelStore(work / "store")
    versions = {"before": train_version(store, "before", split, [], quick)}
    # Seed-to-seed spread: the same MovieLens data trained again with another seed, so a
    # change "after" can be told apart from the sampler's own noise.
    versions["before, reseeded"] = train_version(store, "reseeded", split,
                                                 ["--seed", str(RESEED)], quick)
    store.promote(versions["before"])
    server = ApiServer(store.current_link, work / "app.sqlite3", database_url=database_url,
                       env={"CINEMATCH_ADMIN_TOKEN": ADMIN_TOKEN,
                            "CINEMATCH_SIGNUP_LIMIT_PER_HOUR": "0",
                            "CINEMATCH_WRITE_LIMIT_PER_MINUTE": "0"})
    server.start()
    stored, signed_up, stages = 0, 0, []
    try:
        for count in scale.app_users:
            stored += simulate_app_users(server.port, count - signed_up, taste, mainstream,
                                         scale, rng)
            signed_up = count
            log.info("%d app users have stored %d ratings through POST /rate", count, stored)
            label = f"after {count} app users"
            versions[label] = train_version(store, f"app{count}", split,
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
    everyone = {label: heldout_rows(Recommender.load(store.path_of(versions[label])), train,
                                    test)
                for label in ("before", "before, reseeded", final)}
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": make_url(server.database_url).get_backend_name(),
        "data": {"folder": data.name, "ratings": len(train) + len(test),
                 "test_fraction": TEST_FRACTION, "seed": SEED, "held_out": len(test)},
        "scale": asdict(scale), "genre": genre, "rare_ratings": [RARE_MIN, RARE_MAX],
        "taste": [{"movie_id": m, "title": str(titles.get(m, m))} for m in taste],
        "stages": stages,
        "newcomers": {"given": NEWCOMER_GIVEN, "targets_each": scale.taste_films
                      - NEWCOMER_GIVEN, "through": "HTTP: POST /rate, GET /recommend, "
                      "POST /admin/reload between", "lists": {k: asdict(v) for k, v in
                                                              lists.items()}},
        "cold_chart_taste_films": {label: len(set(top) & set(taste))
                                   for label, (_, top) in charts.items()},
        "everyone_else": everyone, "final": final,
        "verdicts": verdicts(lists["before"], lists[final], everyone, final),
        "seconds": round(time.perf_counter() - started, 1),
        "load": round(os.getloadavg()[0], 2),
    }


def verdicts(before: TasteScore, after: TasteScore, everyone: dict[str, Any],
             final: str) -> list[dict[str, Any]]:
    """The claims, each met or not. "Not worse" allows the larger of ``TOLERANCE`` and the
    reseeded reference's own change (what a retrain on unchanged data moves by)."""
    out = [{"claim": "no held-out newcomer finds a taste film before the app ratings",
            "met": sum(before.hits) == 0},
           {"claim": f"after, Recall@10 of the taste films ≥ {TASTE_RECALL:g}",
            "met": after.recall_at_10 >= TASTE_RECALL, "value": after.recall_at_10}]
    rows = dict(comparison_rows([everyone[v] for v in ("before", "before, reseeded", final)]))
    for key, lower_is_better in (("funksvd rmse", True), ("service_ranking ndcg_at_10", False),
                                 ("popularity ndcg_at_10", False)):
        before_value, reseeded, after_value = rows[key]
        allowed = max(TOLERANCE, abs(reseeded / before_value - 1))
        change = after_value / before_value - 1
        worse = change > allowed if lower_is_better else change < -allowed
        out.append({"claim": f"{key} not worse than {allowed:.1%}", "met": not worse,
                    "change": round(change, 4)})
    return out


def manifest_of(store: ModelStore, version: str) -> dict[str, Any]:
    return json.loads((store.path_of(version) / "manifest.json").read_text())


def report(result: dict[str, Any]) -> str:
    new = result["newcomers"]
    n = len(new["lists"]["before"]["hits"])
    data = result["data"]
    lines = [
        f"{data['folder']}: {data['ratings']:,} ratings, {data['held_out']:,} held out (seed "
        f"{data['seed']}); taste: {len(result['taste'])} {result['genre']} films with "
        f"{RARE_MIN}–{RARE_MAX} MovieLens ratings each",
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
    final = result["final"]
    lines += ["", f"everyone else: the same MovieLens held-out ratings, before vs {final} "
              "(reseeded: the before data trained with another seed, the sampler's spread)",
              f"{'measure':<40}{'before':>9}{'reseeded':>9}{'after':>9}{'after/before':>13}"
              f"{'reseeded/before':>16}"]
    for key, (before, reseeded, after) in comparison_rows(
            [result["everyone_else"][v] for v in ("before", "before, reseeded", final)]):
        lines.append(f"{key:<40}{before:>9.4f}{reseeded:>9.4f}{after:>9.4f}"
                     f"{after / before:>13.3f}{reseeded / before:>16.3f}")
    lines += ["", "taste films in the popularity chart (the top 10 of someone with no ratings): "
              + ", ".join(f"{k} {v}" for k, v in result["cold_chart_taste_films"].items()),
              "", "claims:"]
    lines += [f"  {v['claim']}: {'met' if v['met'] else 'NOT met'}"
              + (f" ({v['change']:+.2%})" if "change" in v else "") for v in result["verdicts"]]
    lines.append(f"({result['seconds']:.0f} s; load average {result['load']:.2f})")
    return "\n".join(lines)


def comparison_rows(reports: list[dict[str, Any]]) -> list[tuple[str, tuple[float, ...]]]:
    """(measure, one value per report) for RMSE/MAE and each ranker's Recall/NDCG@10."""
    rows = []
    for section, metrics in (("rating", ("rmse", "mae")),
                             ("top_n", ("recall_at_10", "ndcg_at_10"))):
        for same in zip(*(r[section] for r in reports), strict=True):
            for metric in metrics:
                rows.append((f"{same[0]['model']} {metric}", tuple(r[metric] for r in same)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a MovieLens folder in the CSV layout (default ml-latest-small)")
    parser.add_argument("--genre", default=DEFAULT_GENRE, help="the rare taste's genre")
    parser.add_argument("--quick", action="store_true",
                        help="fewer simulated people and sweeps (for tests)")
    parser.add_argument("--postgres", action="store_true",
                        help="the service stores ratings in a throwaway PostgreSQL cluster "
                             "(bench/harness/postgres.py) instead of a SQLite file")
    parser.add_argument("--json", type=Path, help=f"write results here (default for full "
                                                  f"runs: {DEFAULT_JSON.relative_to(REPO)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cinematch-learns-")))
        database_url = (stack.enter_context(PostgresCluster(fsync=False)).create_database()
                        if args.postgres else None)
        result = run(args.data, args.genre, QUICK if args.quick else FULL, args.quick, folder,
                     database_url)
    print(report(result))
    target = args.json or (None if args.quick else DEFAULT_JSON)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
