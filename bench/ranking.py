"""Top-10 quality of CineMatch's ranking stage beside popularity and EASE, same split, same run.

    .venv/bin/python bench/ranking.py [--data-root DIR] [--quick] [--tune-implicit]
                                      [--shipped] [--json PATH]

Data: the partial ml-1m file (users 1–2999), ``ml.split.random_split(ratings, 0.1, seed=42)``;
with ``--shipped``, the shipped model's sources merged as ``make train`` merges them (ml-1m +
ml-latest-small) and ``make train``'s holdout (10%, seed 0), so the test figure is the
manifest's "service's ranking". Positives are a user's test ratings ≥ 4; every film in
training that the user did not rate in training is ranked (the ``ml.evaluate`` convention).

1. Validation (tuning): ``ml.split.validation_split`` carves 10% of the *training* part;
   models are fitted to the rest and every variant is measured on the carved ratings. This
   chose the full-history weights of ``ml.ranking.RankingWeights`` (the newcomer ones come
   from ``bench/newcomers.py --tune``); the test set chooses nothing. ``--tune-implicit``
   also refits iALS on the carved part under each ``IMPLICIT_GRID`` change (this chose β).
2. Test: models refitted on the whole training part (``ml.pipeline.fit_artifact``, the code
   ``make train`` runs), every variant measured on the test ratings:
   - ``popularity (count)`` and ``popularity (served)`` (the Bayesian average the app shows);
   - ``FunkSVD by rating`` (the trap) and ``legacy blend`` (z(rating) + z(log count), the
     previous service ranking);
   - ``iALS`` alone and the ``blend`` grid (iALS + w_r·z(rating) + w_p·z(log count));
   - ``cinematch``: the served list (``Recommender.recommend``: shipped blend + franchise cap);
   - ``EASE`` (λ = 500, ``ml.ease``), the reference.
   Diversity: intra-list diversity (mean pairwise 1 − cosine of FunkSVD item factors) and the
   share of lists holding more than two films of one franchise, with and without the cap.
3. Serving: latency of ranking a new user from their ratings (fold-ins + scoring + cap +
   reasons, one BLAS thread) for 5, 15 and 50 ratings; the resident memory of a fresh process
   that loads this model and serves one list; the bytes of the model's arrays per film,
   extrapolated to larger catalogues.

Targets: the served list's NDCG@10 and Recall@10 ≥ EASE's; a new user ranked in ≤ 2 ms.
Results go to ``bench/results/ranking.json`` (full runs, or with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.artifacts import Artifact, CatalogueEntry, save_artifact
from ml.blas import single_threaded_blas
from ml.cli import add_ranking_arguments, load_training_data, ranking_from_arguments
from ml.data import load_dataset
from ml.ease import Ease
from ml.implicit import ImplicitParams, rotate, train_implicit
from ml.matrix import IdMap, RatingMatrix
from ml.metrics import catalogue_coverage, intra_list_diversity, ndcg_at_k, recall_at_k
from ml.model import FactorModel, FunkSVDParams
from ml.pipeline import FittedModel, fit_artifact, rating_matrix
from ml.popularity import Popularity
from ml.ranking import RankingWeights, top_n_indices, zscore
from ml.recommender import Recommender
from ml.rules import POSITIVE_RATING
from ml.split import random_split, validation_split

REPO = Path(__file__).resolve().parents[1]


log = logging.getLogger("bench.ranking")

DEFAULT_DATA_ROOT = REPO.parent / "shared/data/movielens"
DEFAULT_JSON = REPO / "bench/results/ranking.json"
SHIPPED_JSON = REPO / "bench/results/ranking_shipped.json"
TEST_FRACTION, SEED = 0.1, 42
VALIDATION_FRACTION, VALIDATION_SEED = 0.1, 1
TOP_K = 10
BLEND_GRID = ((0.0, 0.0), *((r, p) for r in (0.2, 0.3, 0.4, 0.6)
                            for p in (0.0, 0.1, 0.25, 0.4, 0.5, 0.75)))
#: ``--tune-implicit``: iALS refitted on the validation part with each change (shipped blend).
IMPLICIT_GRID: tuple[dict[str, float], ...] = (
    {"rating_confidence": 0.0}, {"rating_confidence": 0.1}, {"rating_confidence": 0.25},
    {"rating_confidence": 0.35}, {"rating_confidence": 0.5}, {"rating_confidence": 1.0},
    {"unobserved_weight": 0.2}, {"unobserved_weight": 0.45}, {"reg": 0.005}, {"reg": 0.02},
)
LATENCY_SIZES = (5, 15, 50)
SCALED_FILMS = (10_000, 60_000)  # the shipped catalogue is ~9,700 films
TARGET_SERVING_MB = 300.0
TARGET_RANK_US = 2000.0
TARGET_VS_EASE = 1.05  # full histories ≥ 1.05× EASE

Ranking = Callable[[dict[int, float], np.ndarray], list[int]]


@dataclass(frozen=True)
class Row:
    """One ranker measured on one split."""

    ranker: str
    recall_at_10: float
    ndcg_at_10: float
    coverage: float
    intra_list_diversity: float
    over_cap: float  # share of lists with > 2 films of one franchise
    n_users: int


@dataclass(frozen=True)
class Bench:
    """A fitted model, EASE beside it, and the users to measure."""

    fitted: FittedModel
    recommender: Recommender
    ease: Ease
    histories: dict[int, dict[int, float]]  # training ratings per user
    wanted: dict[int, set[int]]  # positives per user


def prepare(train: pd.DataFrame, held: pd.DataFrame, movies: pd.DataFrame,
            max_users: int | None, implicit: ImplicitParams | None = None,
            weights: RankingWeights | None = None) -> Bench:
    started = time.perf_counter()
    with single_threaded_blas():
        fitted = fit_artifact(train, movies, FunkSVDParams(), progress=False,
                              implicit_params=implicit, ranking_weights=weights)
    log.info("fitted FunkSVD + iALS on %d ratings in %.0f s", len(train),
             time.perf_counter() - started)
    artifact = fitted.artifact
    matrix = RatingMatrix.build(
        fitted.users.indices(train["user_id"].to_numpy()),
        artifact.items.indices(train["movie_id"].to_numpy()),
        train["rating"].to_numpy(np.float64), len(fitted.users), len(artifact.items))
    positives = held[held["rating"] >= POSITIVE_RATING]
    wanted = {int(u): set(g["movie_id"].astype(int)) for u, g in positives.groupby("user_id")}
    histories = {int(u): dict(zip(g["movie_id"].astype(int), g["rating"].astype(float),
                                  strict=True))
                 for u, g in train.groupby("user_id")}
    users = sorted(u for u in wanted if u in histories)
    if max_users is not None and len(users) > max_users:
        users = sorted(np.random.default_rng(0).choice(users, max_users, replace=False).tolist())
    return Bench(fitted, Recommender(artifact), Ease.fit(matrix), histories,
                 {u: wanted[u] for u in users})


def rankers(bench: Bench) -> dict[str, Ranking]:
    """Every variant, as (user's training ratings, their item indices) → top-10 movie ids."""
    recommender, items = bench.recommender, bench.recommender.items
    counts = recommender.popularity.counts.astype(np.float64)
    log_count_z = zscore(np.log1p(counts))

    def by_scores(score: Callable[[dict[int, float], np.ndarray], np.ndarray]) -> Ranking:
        def rank(ratings: dict[int, float], rated: np.ndarray) -> list[int]:
            best = top_n_indices(score(ratings, rated), TOP_K, exclude=rated)
            return [int(m) for m in items.ids[best]]
        return rank

    def served(target: Recommender, **options: Any) -> Ranking:
        def rank(ratings: dict[int, float], rated: np.ndarray) -> list[int]:
            return [r.movie_id for r in target.recommend(ratings, TOP_K, **options).items]
        return rank

    def legacy(ratings: dict[int, float], rated: np.ndarray) -> np.ndarray:
        profile = recommender.profile(ratings)
        return zscore(recommender.model.predict_raw(profile.vector)) + log_count_z

    variants: dict[str, Ranking] = {
        "popularity (count)": by_scores(lambda ratings, rated: counts),
        "popularity (served)": served(recommender, ranker="popularity", diversify=False),
        "FunkSVD by rating": served(recommender, ranker="rating", diversify=False),
        "legacy blend": by_scores(legacy),
    }
    for rating, popularity in BLEND_GRID:
        weights = RankingWeights(rating=rating, popularity=popularity)
        variants[blend_name(rating, popularity)] = served(
            Recommender(bench.fitted.artifact, weights=weights), ranker="blend", diversify=False)
    variants["cinematch (no cap)"] = served(recommender, ranker="blend", diversify=False)
    variants["cinematch"] = served(recommender, ranker="blend")
    variants["EASE"] = by_scores(lambda ratings, rated: bench.ease.scores(rated))
    return variants


def blend_name(rating: float, popularity: float) -> str:
    return "iALS" if rating == popularity == 0 else f"blend r={rating:g} p={popularity:g}"


def measure(bench: Bench, tuning: bool = False) -> list[Row]:
    """Every variant (only the candidates and references when ``tuning``)."""
    with single_threaded_blas():
        return [measure_one(bench, name, rank) for name, rank in rankers(bench).items()
                if not (tuning and name.startswith("cinematch"))]


def measure_one(bench: Bench, name: str, rank: Ranking) -> Row:
    """One ranker over every user of ``bench``."""
    recommender = bench.recommender
    ndcg, recall, ild, over, lists = [], [], [], [], []
    for user, relevant in bench.wanted.items():
        ratings = bench.histories[user]
        rated = recommender.items.indices(list(ratings))
        ranked = rank(ratings, rated[rated >= 0])
        lists.append(ranked)
        ndcg.append(ndcg_at_k(ranked, relevant, TOP_K))
        recall.append(recall_at_k(ranked, relevant, TOP_K))
        idx = recommender.items.indices(ranked)
        ild.append(intra_list_diversity(list(idx), recommender.unit_factors))
        biggest = max(Counter(recommender.clusters[idx].tolist()).values(), default=0)
        over.append(biggest > 2)
    row = Row(name, round(float(np.mean(recall)), 4), round(float(np.mean(ndcg)), 4),
              round(catalogue_coverage(lists, recommender.n_movies), 4),
              round(float(np.mean(ild)), 4), round(float(np.mean(over)), 4), len(ndcg))
    log.info("%s: NDCG@10 %.4f", name, row.ndcg_at_10)
    return row


def implicit_variants(bench: Bench, fit: pd.DataFrame, base: ImplicitParams) -> list[Row]:
    """The shipped blend (no cap) with iALS refitted on ``fit`` under each ``IMPLICIT_GRID``
    change, the rest of the model unchanged: how the iALS settings were chosen."""
    artifact = bench.fitted.artifact
    matrix = rating_matrix(fit, bench.fitted.users, artifact.items)
    rows = []
    for change in IMPLICIT_GRID:
        params = replace(base, **change)
        with single_threaded_blas():
            variant = Recommender(replace(artifact, implicit=train_implicit(matrix, params)))

            def rank(ratings: dict[int, float], rated: np.ndarray,
                     target: Recommender = variant) -> list[int]:
                return [r.movie_id for r in target.recommend(
                    ratings, TOP_K, ranker="blend", diversify=False).items]

            label = "iALS " + ", ".join(f"{k}={v:g}" for k, v in change.items())
            rows.append(measure_one(bench, label, rank))
    return rows


def best_blend(rows: list[Row]) -> RankingWeights:
    """The blend with the best NDCG@10 in ``rows`` (ties: the earlier, simpler one)."""
    best: tuple[float, RankingWeights] | None = None
    for rating, popularity in BLEND_GRID:
        ndcg = next(r.ndcg_at_10 for r in rows if r.ranker == blend_name(rating, popularity))
        if best is None or ndcg > best[0]:
            best = (ndcg, RankingWeights(rating=rating, popularity=popularity))
    assert best is not None
    return best[1]


def latency(bench: Bench, runs: int) -> dict[str, float]:
    """Median µs to rank a new user with n ratings on films drawn by popularity."""
    recommender = bench.recommender
    counts = recommender.popularity.counts.astype(np.float64)
    rng = np.random.default_rng(0)
    out = {}
    for n in LATENCY_SIZES:
        idx = rng.choice(len(counts), size=n, replace=False, p=counts / counts.sum())
        ratings = {int(recommender.items.ids[i]): float(rng.choice([2.0, 3.0, 4.0, 5.0]))
                   for i in idx}
        for _ in range(20):
            recommender.recommend(ratings, TOP_K)
        samples = []
        for _ in range(runs):
            started = time.perf_counter_ns()
            recommender.recommend(ratings, TOP_K)
            samples.append((time.perf_counter_ns() - started) / 1000)
        out[f"{n} ratings"] = round(statistics.median(samples), 1)
    return out


def scaled_latency(n_films: int, runs: int) -> float:
    """Median µs to rank a 15-rating newcomer on a random model of ``n_films`` films, shaped
    like the shipped one (FunkSVD rank 64, iALS k = 128): the cost is linear in films."""
    rng = np.random.default_rng(n_films)
    k_rating, k_choice = FunkSVDParams().rank, ImplicitParams().n_factors
    model = FactorModel(
        global_mean=3.6, user_factors=np.zeros((1, k_rating), np.float32),
        user_bias=np.zeros(1, np.float32),
        item_factors=rng.normal(0, 0.1, (n_films, k_rating)).astype(np.float32),
        item_bias=rng.normal(0, 0.3, n_films).astype(np.float32),
        fold_in_reg=np.full(k_rating + 1, 5.0, np.float32))
    implicit = rotate(rng.normal(0, 0.1, (n_films, k_choice)), ImplicitParams())
    genres = ("Drama", "Comedy", "Action", "Romance", "Thriller")
    catalogue = tuple(CatalogueEntry(i + 1, f"Film {i} Story", 1950 + i % 70, (genres[i % 5],),
                                     None, None) for i in range(n_films))
    counts = rng.zipf(1.5, n_films).clip(1, 5000)
    artifact = Artifact(model, IdMap(np.arange(1, n_films + 1)), catalogue,
                        Popularity.from_counts(counts, np.full(n_films, 3.6), 3.6), {},
                        IdMap(np.array([1])), implicit)
    recommender = Recommender(artifact)
    ratings = {int(m): 4.0 for m in rng.choice(n_films, 15, replace=False) + 1}
    for _ in range(20):
        recommender.recommend(ratings, TOP_K)
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        recommender.recommend(ratings, TOP_K)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return round(statistics.median(samples), 1)


def serving_megabytes(bench: Bench) -> float:
    """Peak resident memory of a fresh process that loads this model and serves one list.

    Read from /proc (VmHWM): ``ru_maxrss`` would report the forking parent's peak on Linux.
    """
    script = ("import re, sys; from ml.recommender import Recommender; "
              "r = Recommender.load(sys.argv[1]); r.recommend({}, 10); "
              "r.recommend({int(m): 4.0 for m in r.items.ids[:20]}, 10); "
              "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    with tempfile.TemporaryDirectory() as folder:
        save_artifact(Path(folder) / "models", bench.fitted.artifact)
        out = subprocess.run([sys.executable, "-c", script, str(Path(folder) / "models")],
                             cwd=REPO, capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip()) / 1024, 1)  # kB


def model_bytes(bench: Bench) -> dict[str, float]:
    """Bytes of the arrays a served model holds, per film and in total."""
    artifact = bench.fitted.artifact
    model, implicit = artifact.model, artifact.implicit
    per_film = (model.item_factors.nbytes + model.item_bias.nbytes
                + implicit.item_factors.nbytes) / model.n_items
    unit = 4 * model.rank  # the cached unit factors for cosines
    total = (model.item_factors.nbytes + model.item_bias.nbytes + model.user_factors.nbytes
             + model.user_bias.nbytes + implicit.item_factors.nbytes
             + (unit + 8 + 8 + 8) * model.n_items)  # unit factors, z-scores, years, clusters
    return {"films": model.n_items, "bytes_per_film": round(per_film + unit + 24, 1),
            "array_megabytes": round(total / 2**20, 2)}


def table(title: str, rows: list[Row]) -> list[str]:
    reference = next((r for r in rows if r.ranker == "EASE"), None)
    lines = ["", title,
             f"{'ranker':<24}{'Recall@10':>10}{'NDCG@10':>9}{'÷EASE':>7}{'coverage':>9}"
             f"{'ILD':>7}{'>2/franchise':>13}"]
    for r in rows:
        ratio = f"{r.ndcg_at_10 / reference.ndcg_at_10:>7.2f}" if reference else ""
        lines.append(f"{r.ranker:<24}{r.recall_at_10:>10.4f}{r.ndcg_at_10:>9.4f}{ratio}"
                     f"{r.coverage:>9.4f}{r.intra_list_diversity:>7.4f}{r.over_cap:>13.3f}")
    lines.append(f"({rows[0].n_users} users)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--quick", action="store_true", help="600 users per split")
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped sources and make train's holdout instead (no timings)")
    parser.add_argument("--tune-implicit", action="store_true",
                        help="also refit iALS on validation under each IMPLICIT_GRID change")
    add_ranking_arguments(parser)  # the settings measured (make train passes the same ones)
    parser.add_argument("--json", type=Path, help=f"write results here (default for full runs: "
                                                  f"{DEFAULT_JSON.relative_to(REPO)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = args.data_root / "ml-1m"
    if not folder.is_dir():
        print(f"error: {folder}: no such data folder (pass --data-root)", file=sys.stderr)
        return 2
    if args.shipped:  # make train's sources, merged, and its holdout
        dataset, _ = load_training_data([folder, args.data_root / "ml-latest-small"],
                                        args.data_root / "links/links.csv")
        data, seed = "ml-1m + ml-latest-small (the shipped sources)", FunkSVDParams().seed
    else:
        dataset, data, seed = load_dataset(folder), "ml-1m partial", SEED
    max_users = 600 if args.quick else None
    train, test = random_split(dataset.ratings, TEST_FRACTION, seed)
    fit, held = validation_split(train, VALIDATION_FRACTION, VALIDATION_SEED)

    implicit, shipped = ranking_from_arguments(args)
    carved = prepare(fit, held, dataset.movies, max_users, implicit, shipped)
    validation = measure(carved, tuning=True)
    implicit_rows = implicit_variants(carved, fit, implicit) if args.tune_implicit else []
    del carved
    bench = prepare(train, test, dataset.movies, max_users, implicit, shipped)
    results = measure(bench)
    lines = [f"{data} ({len(dataset.ratings)} ratings), random 90/10 split seed {seed}; "
             f"{os.cpu_count()} CPUs (shared), load {os.getloadavg()[0]:.1f}"]
    lines += table(f"validation ({VALIDATION_FRACTION:.0%} of training, seed "
                   f"{VALIDATION_SEED}): tunes the blend", validation)
    lines += [f"best here: {best_blend(validation)}; shipped: {shipped} (the full-history",
              "weights from here, those at five ratings from bench/newcomers.py --tune)"]
    if implicit_rows:
        lines += table(f"validation, iALS refitted with one change to {implicit} "
                       "(shipped blend, no cap)", [*implicit_rows, *(
                           r for r in validation if r.ranker in ("EASE", "cinematch (no cap)")
                           or r.ranker == blend_name(shipped.rating, shipped.popularity))])
    lines += table(f"test (cinematch = shipped {shipped} + franchise cap)", results)
    served = next(r for r in results if r.ranker == "cinematch")
    uncapped = next(r for r in results if r.ranker == "cinematch (no cap)")
    ease = next(r for r in results if r.ranker == "EASE")
    lines += ["", f"franchise cap: NDCG@10 {uncapped.ndcg_at_10:.4f} → {served.ndcg_at_10:.4f} "
              f"({served.ndcg_at_10 / uncapped.ndcg_at_10 - 1:+.1%}), intra-list diversity "
              f"{uncapped.intra_list_diversity:.4f} → {served.intra_list_diversity:.4f}",
              "", _verdict(f"NDCG@10 ≥ {TARGET_VS_EASE}× EASE ({served.ndcg_at_10:.4f} vs "
                           f"{ease.ndcg_at_10:.4f} = {served.ndcg_at_10 / ease.ndcg_at_10:.4f}×)",
                           served.ndcg_at_10 >= TARGET_VS_EASE * ease.ndcg_at_10)]
    record: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "split": {"data": data, "test_fraction": TEST_FRACTION, "seed": seed,
                  "users": len(bench.wanted)},
        "load_average": round(os.getloadavg()[0], 2),
        "validation": [asdict(r) for r in validation], "shipped_weights": asdict(shipped),
        "validation_implicit": [asdict(r) for r in implicit_rows],
        "implicit_params": asdict(implicit),
        "test": [asdict(r) for r in results]}
    default_json = SHIPPED_JSON if args.shipped else DEFAULT_JSON
    if not args.shipped:
        record |= serving(bench, lines, served, ease, 100 if args.quick else 1000)
    print("\n".join(lines))
    target = args.json or (None if args.quick else default_json)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record, indent=2) + "\n")
    return 0


def serving(bench: Bench, lines: list[str], served: Row, ease: Row, runs: int) -> dict[str, Any]:
    """Latency and memory of serving this model (appended to ``lines``), for the JSON."""
    timings = latency(bench, runs)
    timings |= {f"15 ratings, {n:,} random films": scaled_latency(n, runs)
                for n in SCALED_FILMS}
    memory = model_bytes(bench)
    memory["serving_rss_megabytes"] = serving_megabytes(bench)
    lines += ["", "new-user ranking (Recommender.recommend, top 10), median µs: "
              + ", ".join(f"{k}: {v:.0f}" for k, v in timings.items()),
              f"serving process: {memory['serving_rss_megabytes']} MB resident (peak) for "
              f"{memory['films']} films; model arrays {memory['array_megabytes']} MB "
              f"({memory['bytes_per_film']:.0f} B per film → "
              f"{memory['bytes_per_film'] * 60_000 / 2**20:.0f} MB at 60,000 films)",
              "", "targets:",
              _verdict("NDCG@10 ≥ EASE", served.ndcg_at_10 >= ease.ndcg_at_10),
              _verdict("Recall@10 ≥ EASE", served.recall_at_10 >= ease.recall_at_10),
              _verdict(f"new user ranked in ≤ {TARGET_RANK_US:.0f} µs (this model and 10,000 "
                       "films)", max(v for k, v in timings.items() if "60,000" not in k)
                       <= TARGET_RANK_US),
              _verdict(f"serving process ≤ {TARGET_SERVING_MB:.0f} MB resident",
                       memory["serving_rss_megabytes"] <= TARGET_SERVING_MB)]
    return {"latency_us": timings, "memory": memory}


def _verdict(label: str, ok: bool) -> str:
    return f"  {label}: {'met' if ok else 'NOT met'}"


if __name__ == "__main__":
    raise SystemExit(main())
