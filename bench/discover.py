"""The discover control's trade: NDCG@10 against novelty, on bench/ranking.py's ml-1m split.

    .venv/bin/python bench/discover.py [--data-root DIR] [--quick] [--json PATH]

The served list at several ``discover`` settings beside popularity and EASE, for full
histories and 5-rating users; the weight is chosen on validation carved from training.
Target: median rating-count ratio ≤ 0.25 at ``discover = 1``. Protocol: bench/README.md.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import DATA_ROOT, RESULTS, arguments, missing_data, now, verdict, write_json
from ml.blas import single_threaded_blas
from ml.data import load_dataset
from ml.data.split import random_split, validation_split
from ml.models.contract import UserRatings
from ml.models.ease import EASE
from ml.models.funksvd.model import FunkSVDParams
from ml.rules import POSITIVE_RATING
from ml.serving.discover import DISCOVER_POOL, DISCOVER_WEIGHT
from ml.serving.ranking import top_n_indices
from ml.serving.recommender import Recommender
from ml.training.metrics import ndcg_at_k, recall_at_k
from ml.training.pipeline import FittedModel, fit_artifact, rating_matrix

log = logging.getLogger("bench.discover")

TEST_FRACTION, SEED = 0.1, 42
VALIDATION_FRACTION, VALIDATION_SEED = 0.1, 1
TOP_K = 10


@dataclass(frozen=True)
class Bench:
    """A fitted model, EASE beside it, and the users to measure."""

    fitted: FittedModel
    recommender: Recommender
    ease: EASE
    histories: dict[int, dict[int, float]]  # training ratings per user
    wanted: dict[int, set[int]]  # positives per user


def prepare(train: pd.DataFrame, held: pd.DataFrame, movies: pd.DataFrame,
            max_users: int | None) -> Bench:
    """Fit the model (``fit_artifact``) and EASE on ``train``; positives from ``held``."""
    with single_threaded_blas():
        fitted = fit_artifact(train, movies, FunkSVDParams(), progress=False)
    artifact = fitted.artifact
    matrix = rating_matrix(train, fitted.users, artifact.items)
    positives = held[held["rating"] >= POSITIVE_RATING]
    wanted = {int(u): set(g["movie_id"].astype(int)) for u, g in positives.groupby("user_id")}
    histories = {int(u): dict(zip(g["movie_id"].astype(int), g["rating"].astype(float),
                                  strict=True))
                 for u, g in train.groupby("user_id")}
    users = sorted(u for u in wanted if u in histories)
    if max_users is not None and len(users) > max_users:
        users = sorted(np.random.default_rng(0).choice(users, max_users, replace=False).tolist())
    return Bench(fitted, Recommender(artifact), EASE().fit(matrix), histories,
                 {u: wanted[u] for u in users})

SETTINGS = (0.0, 0.25, 0.5, 0.75, 1.0)
HEAD = 500  # "the most rated": novelty is the share of a list outside them
TARGET_RATIO = 0.25
NEWCOMER_RATINGS = 5
WEIGHT_GRID = (1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Point:
    """The served list at one ``discover`` setting (or a reference ranker)."""

    ranker: str
    discover: float | None
    ndcg_at_10: float
    recall_at_10: float
    novelty: float
    median_count: float
    median_count_ratio: float | None  # per user, list median / familiar list median; median
    n_users: int


def curve(bench, histories: dict[int, dict[int, float]], label: str,
          settings: tuple[float, ...] = SETTINGS,
          recommender: Recommender | None = None) -> list[Point]:
    """Every setting and the two references, on ``histories`` (training ratings per user)."""
    recommender = recommender or bench.recommender
    counts = recommender.popularity.counts
    head = set(np.argsort(-counts, kind="stable")[:HEAD].tolist())
    items = recommender.items
    lists: dict[str, dict[int, list[int]]] = {}
    with single_threaded_blas():
        for user, ratings in histories.items():
            profile = recommender.profile(ratings)
            for discover in settings:
                ranked = recommender.recommend(ratings, TOP_K, profile=profile,
                                               discover=discover).items
                lists.setdefault(f"cinematch d={discover:g}", {})[user] = [
                    r.movie_id for r in ranked]
            rated = items.indices(list(ratings))
            rated = rated[rated >= 0]
            ease = bench.ease.scores(UserRatings.of(rated, np.ones(len(rated))))
            for name, score in (("popularity (count)", counts.astype(np.float64)),
                                ("EASE", ease)):
                best = top_n_indices(score, TOP_K, exclude=rated)
                lists.setdefault(name, {})[user] = [int(m) for m in items.ids[best]]
    familiar = lists["cinematch d=0"]
    points = []
    for name, by_user in lists.items():
        ndcg, recall, novel, medians, ratios = [], [], [], [], []
        for user, ranked in by_user.items():
            relevant = bench.wanted[user]
            ndcg.append(ndcg_at_k(ranked, relevant, TOP_K))
            recall.append(recall_at_k(ranked, relevant, TOP_K))
            idx = items.indices(ranked)
            novel.append(float(np.mean([i not in head for i in idx.tolist()])))
            median = float(np.median(counts[idx]))
            medians.append(median)
            base = float(np.median(counts[items.indices(familiar[user])]))
            ratios.append(median / base if base > 0 else 1.0)
        discover = float(name.split("d=")[1]) if "d=" in name else None
        points.append(Point(name, discover, round(float(np.mean(ndcg)), 4),
                            round(float(np.mean(recall)), 4), round(float(np.mean(novel)), 4),
                            float(np.median(medians)),
                            round(float(np.median(ratios)), 4) if discover is not None else None,
                            len(ndcg)))
        log.info("%s %s: NDCG@10 %.4f novelty %.3f", label, name, points[-1].ndcg_at_10,
                 points[-1].novelty)
    return points


def newcomers_of(full: dict[int, dict[int, float]]) -> dict[int, dict[int, float]]:
    """The same users known by ``NEWCOMER_RATINGS`` random ratings of their history."""
    rng = np.random.default_rng(SEED)
    newcomers = {}
    for user, history in full.items():
        picked = rng.choice(sorted(history), NEWCOMER_RATINGS, replace=False)
        newcomers[user] = {int(m): history[int(m)] for m in picked}
    return newcomers


def table(title: str, points: list[Point]) -> list[str]:
    lines = ["", title, f"{'ranker':<22} {'NDCG@10':>8} {'Recall@10':>9} {'novelty':>8} "
             f"{'median count':>12} {'ratio':>6}"]
    for p in points:
        ratio = "" if p.median_count_ratio is None else f"{p.median_count_ratio:.3f}"
        lines.append(f"{p.ranker:<22} {p.ndcg_at_10:>8.4f} {p.recall_at_10:>9.4f} "
                     f"{p.novelty:>8.3f} {p.median_count:>12.0f} {ratio:>6}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "600 users", "discover")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if missing_data(args.data_root, "ml-1m"):
        return 2
    dataset = load_dataset(args.data_root / "ml-1m")
    max_users = 600 if args.quick else None
    train, test = random_split(dataset.ratings, TEST_FRACTION, SEED)
    fit, held = validation_split(train, VALIDATION_FRACTION, VALIDATION_SEED)
    tuning = prepare(fit, held, dataset.movies, max_users)
    lines = ["", f"validation ({VALIDATION_FRACTION:.0%} of training, seed {VALIDATION_SEED}): "
             "median count ratio at discover = 1 (full histories / 5 ratings), NDCG@10"]
    tuned = []
    for weight in WEIGHT_GRID:
        target = Recommender(tuning.fitted.artifact, discover_weight=weight)
        full = {u: tuning.histories[u] for u in tuning.wanted}
        both = [next(p for p in curve(tuning, histories, f"w={weight:g}", (0.0, 1.0), target)
                     if p.discover == 1.0)
                for histories in (full, newcomers_of(full))]
        ok = all((p.median_count_ratio or 1.0) <= TARGET_RATIO for p in both)
        tuned.append((weight, ok))
        lines.append(f"  weight {weight:g}: ratio {both[0].median_count_ratio:.3f} / "
                     f"{both[1].median_count_ratio:.3f}, NDCG@10 {both[0].ndcg_at_10:.4f} / "
                     f"{both[1].ndcg_at_10:.4f}{'  meets' if ok else ''}")
    chosen = next((w for w, ok in tuned if ok), None)
    lines.append(f"  smallest weight that meets ≤ {TARGET_RATIO}: {chosen}; shipped: "
                 f"{DISCOVER_WEIGHT:g}")
    weight = chosen if chosen is not None else DISCOVER_WEIGHT
    bench = prepare(train, test, dataset.movies, max_users)
    served = Recommender(bench.fitted.artifact, discover_weight=weight)
    full = {u: bench.histories[u] for u in bench.wanted}
    newcomers = newcomers_of(full)
    full_points = curve(bench, full, "full histories", recommender=served)
    new_points = curve(bench, newcomers, "5 ratings", recommender=served)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"ml-1m partial, random 90/10 split seed {SEED}; discover pool {DISCOVER_POOL}, "
             f"test curve at weight {weight:g} (validation's choice); "
             f"novelty = share outside the {HEAD} most rated; "
             f"{os.cpu_count()} CPUs; {load}", *lines]
    lines += table(f"full training histories ({len(full)} users)", full_points)
    lines += table(f"{NEWCOMER_RATINGS} random ratings per user (same users)", new_points)
    lines += ["", "target: median count ratio at discover = 1 ≤ 0.25"]
    for label, points in (("full histories", full_points), ("5 ratings", new_points)):
        at_one = next(p for p in points if p.discover == 1.0)
        ok = (at_one.median_count_ratio or 1.0) <= TARGET_RATIO
        lines.append(f"  {label}: {at_one.median_count_ratio:.3f} — {verdict(ok)}")
    print("\n".join(lines))
    write_json(args.json or (None if args.quick else RESULTS / "discover.json"), {
        "generated_at": now(), "load": load,
        "split": {"data": "ml-1m partial", "test_fraction": TEST_FRACTION, "seed": SEED},
        "discover": {"pool": DISCOVER_POOL, "weight": weight, "head": HEAD},
        "validation_weights": [{"weight": w, "meets_target": ok} for w, ok in tuned],
        "full_histories": [asdict(p) for p in full_points],
        "five_ratings": [asdict(p) for p in new_points],
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
