"""Measure the rating model and its rankings: ``python -m ml.training.evaluate``.

Modes:
- ``--train TRAIN.csv --test TEST.csv`` (``userId,movieId,rating[,timestamp]``);
- ``--data DIR --test-fraction 0.1 --seed S`` (a seeded random holdout of a release);
- ``--ml100k-folds DIR`` (the official u1–u5 folds; mean and per fold).

Rating accuracy: RMSE and MAE of the global mean, the damped bias baseline and FunkSVD.
Top-N: Recall@10, NDCG@10 and coverage for popularity (Bayesian average, and raw count),
FunkSVD by predicted rating (through ``ml.models.contract.recommend``) and the served ranking
(through ``Recommender``). Positives are test ratings ≥ 4; every film seen in training and not
rated by the user there is ranked; at most ``TOP_N_USERS`` users (a seeded sample).
``held_out_users`` measures a trained model on people it never saw (the promote gate).

JSON keys (stable): ``split`` {name, n_train, n_test, seed, test_fraction}, ``training_seconds``,
``rating`` [{model, rmse, mae}], ``top_n`` [{model, recall_at_10, ndcg_at_10, coverage,
n_users}], and for folds ``folds`` [report…] plus ``mean`` {rating, top_n}.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.blas import single_threaded_blas
from ml.data import read_ratings_file
from ml.data.split import random_split
from ml.models import BiasBaseline, PopularityParams
from ml.models.contract import Model, UserRatings, recommend
from ml.models.funksvd.model import FunkSVDParams
from ml.models.ials.model import ImplicitParams
from ml.rules import PERSONALISATION_THRESHOLD, POSITIVE_RATING
from ml.serving.artifacts import CATALOGUE_COLUMNS
from ml.serving.ranking import RankingWeights
from ml.serving.recommender import Recommender
from ml.training.cli import (
    CliError,
    add_params_arguments,
    cli_errors,
    load_training_data,
    params_from_arguments,
)
from ml.training.metrics import catalogue_coverage, mae, ndcg_at_k, recall_at_k, rmse
from ml.training.pipeline import fit_artifact, rating_matrix, stage

log = logging.getLogger(__name__)

TOP_K = 10
#: Users whose lists are measured at most (a seeded sample above it): every user of ml-1m and
#: ml-latest-small, and at ml-32m size minutes instead of the hour all 200k would take.
TOP_N_USERS = 5000


@dataclass
class EvaluationReport:
    split: dict[str, Any]
    training_seconds: float
    rating: list[dict[str, Any]] = field(default_factory=list)
    top_n: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"split": self.split, "training_seconds": round(self.training_seconds, 2),
                "rating": self.rating, "top_n": self.top_n}


def evaluate(
    train: pd.DataFrame, test: pd.DataFrame, params: FunkSVDParams,
    movies: pd.DataFrame | None = None, split: dict[str, Any] | None = None,
    progress: bool = True, ranking_weights: RankingWeights | None = None,
    implicit_params: ImplicitParams | None = None,
) -> EvaluationReport:
    """Train on ``train`` (FunkSVD and baselines) and measure everything on ``test``; the
    service's ranking with ``implicit_params`` and ``ranking_weights`` (default: theirs)."""
    # Without a movie file every film gets the placeholder entry "Movie <id>".
    catalogue = movies if movies is not None else pd.DataFrame(columns=list(CATALOGUE_COLUMNS))
    fitted = fit_artifact(train, catalogue, params, progress=progress,
                          implicit_params=implicit_params, ranking_weights=ranking_weights,
                          edges=False)
    recommender = Recommender(fitted.artifact)
    items, users = fitted.artifact.items, fitted.users
    funksvd = fitted.artifact.model

    test_u = users.indices(test["user_id"].to_numpy())
    test_i = items.indices(test["movie_id"].to_numpy())
    truth = test["rating"].to_numpy(np.float64)
    baseline = BiasBaseline().fit(rating_matrix(train, users, items))
    rows = [("global_mean", np.full(len(truth), funksvd.global_mean)),
            *((name, model.predict_pairs(test_u, test_i))
              for name, model in (("bias_baseline", baseline), ("funksvd", funksvd)))]
    report = EvaluationReport(
        split=split or {"n_train": len(train), "n_test": len(test)},
        training_seconds=fitted.result.seconds,
        rating=[{"model": name, "rmse": round(rmse(p, truth), 4), "mae": round(mae(p, truth), 4)}
                for name, p in rows],
    )
    # One BLAS thread, as the service ranks (``ml.blas``): each list's products are small, and
    # two threads synchronising per call on shared cores made them several times slower.
    with stage({}, "held_out_lists"), single_threaded_blas():
        report.top_n = _top_n(train, test, recommender, len(items))
    return report


def _top_n(train: pd.DataFrame, test: pd.DataFrame, recommender: Recommender,
           n_items: int) -> list[dict[str, Any]]:
    """Rank for every test user with a positive: three contract models, then the service's
    own list, each from the user's training ratings folded in through the serving code."""
    items = recommender.items
    popularity = recommender.popularity
    models: dict[str, Model[Any]] = {
        "popularity": popularity,
        "popularity_count": replace(popularity, params=PopularityParams(order="count")),
        "funksvd_predicted_rating": recommender.funksvd,
    }
    positives = test[test["rating"] >= POSITIVE_RATING]
    measured = np.unique(positives["user_id"].to_numpy())
    if len(measured) > TOP_N_USERS:
        measured = np.sort(np.random.default_rng(0).choice(measured, TOP_N_USERS,
                                                           replace=False))
        positives = positives[positives["user_id"].isin(measured)]
    wanted = {int(u): set(g["movie_id"].astype(int)) for u, g in positives.groupby("user_id")}
    seen = {int(u): g for u, g in train[train["user_id"].isin(measured)].groupby("user_id")}
    lists: dict[str, list[list[int]]] = defaultdict(list)
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for user, relevant in wanted.items():
        if user not in seen:
            continue
        history = seen[user]
        ratings = dict(zip(history["movie_id"].astype(int), history["rating"].astype(float),
                           strict=True))
        profile = recommender.profile(ratings)
        rated = UserRatings(profile.rated_indices, profile.rated_values)
        folded = {"funksvd_predicted_rating": profile.vector}  # already folded in: reuse it
        ranked = {name: items.ids[recommend(model, rated, TOP_K, state=folded.get(name))[0]]
                  for name, model in models.items()}
        ranked["service_ranking"] = np.array(
            [r.movie_id for r in recommender.recommend(ratings, TOP_K, profile=profile).items])
        for name, found in ranked.items():
            ids = [int(i) for i in found]
            lists[name].append(ids)
            scores[name].append((recall_at_k(ids, relevant, TOP_K),
                                 ndcg_at_k(ids, relevant, TOP_K)))
    out = []
    for name, values in scores.items():
        arr = np.array(values)
        out.append({"model": name, "recall_at_10": round(float(arr[:, 0].mean()), 4),
                    "ndcg_at_10": round(float(arr[:, 1].mean()), 4),
                    "coverage": round(catalogue_coverage(lists[name], n_items), 4),
                    "n_users": len(values)})
    return out


#: Share of each held-out user's ratings hidden to score RMSE and the ranking on.
HELD_OUT_TEST_SHARE = 0.2


@dataclass(frozen=True)
class HeldOutFigures:
    """What ``held_out_users`` measures; higher NDCG is better, lower RMSE."""

    rmse: float
    ndcg_at_10: float
    newcomer_ndcg_at_10: float
    chart_ndcg_at_10: float
    n_users: int
    n_test_ratings: int
    n_newcomers: int


def held_out_users(recommender: Recommender, ratings: pd.DataFrame, seed: int,
                   newcomer_ratings: int = PERSONALISATION_THRESHOLD) -> HeldOutFigures:
    """Score a model on users it never trained on, each folded in as the service does.

    Each user's ratings are shuffled by a generator seeded with (``seed``, user) and the last
    ``HELD_OUT_TEST_SHARE`` (at least one) hidden: RMSE of the hidden ratings and the served list's
    NDCG@10 on the hidden ratings ≥ 4, both from the rest; newcomer NDCG@10 from the first
    ``newcomer_ratings`` only; chart NDCG@10 of the popular list on all their ratings ≥ 4. Films
    the model does not know are dropped first; users left with ``newcomer_ratings`` ratings or
    fewer are skipped.
    """
    predictions: list[float] = []
    actual: list[float] = []
    ranking: list[float] = []
    newcomer: list[float] = []
    chart: list[float] = []
    popular = [r.movie_id for r in recommender.recommend({}, TOP_K).items]
    n_users = 0
    for user, group in ratings.groupby("user_id", sort=True):
        given = recommender.known_ratings(dict(zip(group["movie_id"].astype(int),
                                                   group["rating"].astype(float), strict=True)))
        if len(given) <= newcomer_ratings:
            continue
        n_users += 1
        movie_ids = np.array(sorted(given), dtype=np.int64)
        order = np.random.default_rng([seed, int(user) % 2**63]).permutation(movie_ids)
        n_test = max(1, round(len(order) * HELD_OUT_TEST_SHARE))
        known = {int(m): given[int(m)] for m in order[:-n_test]}
        hidden = order[-n_test:]
        profile = recommender.profile(known)
        predicted = recommender.funksvd.predict(profile.vector,
                                                recommender.items.indices(hidden))
        predictions.extend(predicted)
        actual.extend(given[int(m)] for m in hidden)
        loved = {int(m) for m in hidden if given[int(m)] >= POSITIVE_RATING}
        if loved:
            found = recommender.recommend(known, TOP_K, profile=profile)
            ranking.append(ndcg_at_k([r.movie_id for r in found.items], loved, TOP_K))
        liked = {int(m) for m in order if given[int(m)] >= POSITIVE_RATING}
        if liked:
            chart.append(ndcg_at_k(popular, liked, TOP_K))
        first = {int(m): given[int(m)] for m in order[:newcomer_ratings]}
        rest = {int(m) for m in order[newcomer_ratings:] if given[int(m)] >= POSITIVE_RATING}
        if rest:
            found = recommender.recommend(first, TOP_K)
            newcomer.append(ndcg_at_k([r.movie_id for r in found.items], rest, TOP_K))
    if not n_users:
        raise ValueError(f"no held-out user has more than {newcomer_ratings} ratings of known "
                         "films")
    return HeldOutFigures(
        rmse=rmse(predictions, actual),
        ndcg_at_10=float(np.mean(ranking)) if ranking else 0.0,
        newcomer_ndcg_at_10=float(np.mean(newcomer)) if newcomer else 0.0,
        chart_ndcg_at_10=float(np.mean(chart)) if chart else 0.0,
        n_users=n_users, n_test_ratings=len(actual), n_newcomers=len(newcomer))


def evaluate_split(ratings: pd.DataFrame, movies: pd.DataFrame | None, params: FunkSVDParams,
                   test_fraction: float, seed: int, name: str = "holdout",
                   progress: bool = True, ranking_weights: RankingWeights | None = None,
                   implicit_params: ImplicitParams | None = None) -> EvaluationReport:
    train, test = random_split(ratings, test_fraction, seed)
    split = {"name": name, "n_train": len(train), "n_test": len(test), "seed": seed,
             "test_fraction": test_fraction}
    return evaluate(train, test, params, movies, split, progress, ranking_weights,
                    implicit_params)


def evaluate_ml100k_folds(folder: Path, params: FunkSVDParams,
                          progress: bool = True) -> dict[str, Any]:
    """The official u1–u5 folds: each fold's report, then the means."""
    reports = []
    for fold in range(1, 6):
        base, test = folder / f"u{fold}.base", folder / f"u{fold}.test"
        train_df, test_df = read_100k_split(base), read_100k_split(test)
        split = {"name": f"ml-100k u{fold}", "n_train": len(train_df), "n_test": len(test_df)}
        report = evaluate(train_df, test_df, params, None, split, progress)
        log.info("u%d: %s", fold, report.rating[-1])
        reports.append(report.as_json())
    return {"folds": reports, "mean": _mean_of(reports)}


def read_100k_split(path: Path) -> pd.DataFrame:
    """One ml-100k ``uN.base``/``uN.test`` file, through the one ratings reader."""
    if not path.is_file():
        raise CliError(f"{path}: missing ml-100k fold file")
    return read_ratings_file(path)


def _mean_of(reports: list[dict[str, Any]]) -> dict[str, Any]:
    def average(section: str) -> list[dict[str, Any]]:
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in reports:
            for row in r[section]:
                rows[row["model"]].append(row)
        return [{"model": m, **{k: round(float(np.mean([x[k] for x in v])), 4)
                                for k in v[0] if k != "model"}} for m, v in rows.items()]
    return {"rating": average("rating"), "top_n": average("top_n"),
            "training_seconds": round(float(np.mean([r["training_seconds"] for r in reports])), 2)}


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of a report (or of the fold means)."""
    lines = ["model                      RMSE     MAE"]
    lines += [f"{r['model']:<24} {r['rmse']:>7.4f} {r['mae']:>7.4f}" for r in report["rating"]]
    lines.append("")
    lines.append("ranker                     Recall@10 NDCG@10 coverage")
    lines += [f"{r['model']:<26} {r['recall_at_10']:>9.4f} {r['ndcg_at_10']:>7.4f} "
              f"{r['coverage']:>8.4f}" for r in report["top_n"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", type=Path, help="training ratings CSV (with --test)")
    mode.add_argument("--data", action="append", type=Path, help="a MovieLens folder")
    mode.add_argument("--ml100k-folds", type=Path, help="an ml-100k folder with u1–u5 folds")
    parser.add_argument("--test", type=Path, help="test ratings CSV (with --train)")
    parser.add_argument("--links", type=Path)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_params_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        params = params_from_arguments(args)
        progress = not args.quiet
        if args.train is not None:
            if args.test is None:
                raise CliError("--train needs --test")
            report = evaluate(read_ratings_file(args.train), read_ratings_file(args.test), params,
                              split={"name": "files", "train": str(args.train),
                                     "test": str(args.test)}, progress=progress).as_json()
            table = format_report(report)
        elif args.ml100k_folds is not None:
            report = evaluate_ml100k_folds(args.ml100k_folds, params, progress)
            table = "mean of u1–u5\n" + format_report(report["mean"])
        else:
            dataset, _ = load_training_data(args.data, args.links)
            report = evaluate_split(dataset.ratings, dataset.movies, params, args.test_fraction,
                                    args.seed, dataset.name, progress).as_json()
            table = format_report(report)
        print(table)
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
