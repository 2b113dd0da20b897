"""Train the shipped model: ``python -m ml.train --data DIR [--data DIR ...] --out models``.

The same ``fit_artifact`` builds the shipped model, the models evaluation measures, and the tiny
model the API tests load, so all three are one code path.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.artifacts import Artifact, CatalogueEntry, save_artifact
from ml.implicit import ImplicitParams, train_implicit
from ml.matrix import IdMap, RatingMatrix
from ml.model import FactorModel, FunkSVDParams
from ml.popularity import DEFAULT_PRIOR_PERCENTILE, Popularity
from ml.ranking import RankingWeights
from ml.split import validation_split
from ml.trainer import TrainResult, Validation, train_funksvd

log = logging.getLogger(__name__)

#: Share of the training ratings held out to early-stop on.
VALIDATION_FRACTION = 0.05


@dataclass(frozen=True)
class FittedModel:
    artifact: Artifact
    result: TrainResult
    users: IdMap


def fit_artifact(
    ratings: pd.DataFrame, movies: pd.DataFrame, params: FunkSVDParams,
    sources: list[dict[str, Any]] | None = None, progress: bool = True,
    validation_fraction: float = VALIDATION_FRACTION,
    implicit_params: ImplicitParams | None = None, ranking_weights: RankingWeights | None = None,
) -> FittedModel:
    """Train on ``ratings`` and package the model with its catalogue and popularity.

    Early stopping on a validation split of ``ratings`` picks the number of sweeps; the model is
    then refitted on all of ``ratings`` for that many sweeps. Training users keep their
    posterior-mean vectors (refolding them costs ~0.003 RMSE); newcomers are folded in, which
    tests hold to nearly the same top-10 as the trained vectors. The ranking model (iALS, with
    hyper-parameters and blend weights tuned on validation once, see bench/ranking.py) is then
    fitted to all of ``ratings`` on the same ids.
    """
    if ratings.empty:
        raise ValueError("no ratings to train on")
    users = IdMap.from_values(ratings["user_id"].to_numpy())
    items = IdMap.from_values(ratings["movie_id"].to_numpy())
    if validation_fraction > 0:
        fit_rows, held_rows = validation_split(ratings, validation_fraction, params.seed)
    else:
        fit_rows, held_rows = ratings, ratings.iloc[:0]
    matrix = _matrix(fit_rows, users, items)
    validation = None
    if len(held_rows):
        validation = Validation(
            users.indices(held_rows["user_id"].to_numpy()),
            items.indices(held_rows["movie_id"].to_numpy()),
            held_rows["rating"].to_numpy(np.float64),
        )
    stopped = train_funksvd(matrix, params, validation, progress=progress)
    result = stopped
    if validation is not None:
        # The held-out ratings chose the number of sweeps; now use them for training too.
        sweeps = max(stopped.best_epoch, params.burn_in + 1)
        result = train_funksvd(_matrix(ratings, users, items), replace(params, n_epochs=sweeps),
                               None, progress=progress)
    model = result.model
    implicit_params = implicit_params or ImplicitParams()
    ranking_weights = ranking_weights or RankingWeights()
    implicit_started = time.perf_counter()
    # Without a validation split ``matrix`` already holds every rating: no second copy.
    implicit = train_implicit(matrix if validation is None else _matrix(ratings, users, items),
                              implicit_params)
    implicit_seconds = time.perf_counter() - implicit_started
    all_items = items.indices(ratings["movie_id"].to_numpy())
    popularity = Popularity.from_ratings(
        all_items, ratings["rating"].to_numpy(np.float64), len(items))
    catalogue = catalogue_entries(movies, items)
    manifest = {
        "model_version": model_version(model),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "params": asdict(params),
        "popularity": {"prior_percentile": DEFAULT_PRIOR_PERCENTILE,
                       "prior_count": popularity.prior_count},
        "ranking": {"implicit": asdict(implicit_params), "weights": asdict(ranking_weights),
                    "seconds": round(implicit_seconds, 2)},
        "data": {
            "sources": sources or [],
            "n_ratings": len(ratings), "n_users": len(users), "n_movies": len(items),
            "validation_ratings": len(held_rows),
        },
        "training": {
            "seconds": round(stopped.seconds + (result.seconds if result is not stopped else 0), 2),
            "early_stopping_sweeps": len(stopped.history), "best_sweep": stopped.best_epoch,
            "validation_rmse": min((h.validation_rmse for h in stopped.history
                                    if h.validation_rmse is not None), default=None),
            "final_sweeps": len(result.history),
        },
        "metrics": {},
    }
    artifact = Artifact(model, items, catalogue, popularity, manifest, users, implicit)
    return FittedModel(artifact, result, users)


def catalogue_entries(movies: pd.DataFrame, items: IdMap) -> tuple[CatalogueEntry, ...]:
    """One catalogue row per model item, in item order (rated films missing from the movie
    file get a placeholder title rather than vanishing)."""
    by_id = movies.set_index("movie_id")
    entries = []
    for movie_id in items.ids:
        if movie_id in by_id.index:
            row = by_id.loc[movie_id]
            entries.append(CatalogueEntry(
                movie_id=int(movie_id), title=str(row["title"]),
                year=None if pd.isna(row["year"]) else int(row["year"]),
                genres=tuple(row["genres"]),
                tmdb_id=None if pd.isna(row["tmdb_id"]) else int(row["tmdb_id"]),
                imdb_id=None if row["imdb_id"] is None or pd.isna(row["imdb_id"])
                else str(row["imdb_id"]),
            ))
        else:
            entries.append(CatalogueEntry(int(movie_id), f"Movie {movie_id}", None, (), None,
                                          None))
    return tuple(entries)


def model_version(model: FactorModel) -> str:
    digest = hashlib.sha256()
    for array in (model.item_factors, model.item_bias, model.user_factors):
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"funksvd-{digest.hexdigest()[:10]}"


def _matrix(rows: pd.DataFrame, users: IdMap, items: IdMap) -> RatingMatrix:
    return RatingMatrix.build(
        users.indices(rows["user_id"].to_numpy()), items.indices(rows["movie_id"].to_numpy()),
        rows["rating"].to_numpy(np.float64), len(users), len(items),
    )


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """Hyper-parameter flags shared by the train and evaluate CLIs."""
    defaults = FunkSVDParams()
    parser.add_argument("--method", choices=["gibbs", "als"], default=defaults.method)
    parser.add_argument("--n-factors", type=int, default=defaults.n_factors)
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--n-epochs", type=int, default=defaults.n_epochs)
    parser.add_argument("--burn-in", type=int, default=defaults.burn_in)
    parser.add_argument("--reg", type=float, default=defaults.reg)
    parser.add_argument("--seed", type=int, default=defaults.seed)


def params_from_arguments(args: argparse.Namespace) -> FunkSVDParams:
    return FunkSVDParams(method=args.method, n_factors=args.n_factors, rank=args.rank,
                         n_epochs=args.n_epochs, burn_in=args.burn_in, reg=args.reg,
                         seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    from ml.cli import cli_errors, load_training_data  # avoid a cycle: cli imports this module
    from ml.evaluate import evaluate_split

    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__)
    parser.add_argument("--data", action="append", required=True, type=Path,
                        help="a MovieLens folder; repeat to merge releases (newest last)")
    parser.add_argument("--links", type=Path, help="an extra links.csv (movieId→tmdbId)")
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share held out to measure the shipped metrics (0 to skip)")
    parser.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION,
                        help="share held out to early-stop on, then trained again on all "
                             "(0: one pass of --n-epochs; the full releases never stop early)")
    add_params_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        params = params_from_arguments(args)
        dataset, sources = load_training_data(args.data, args.links)
        metrics: dict[str, Any] = {}
        if args.test_fraction > 0:
            log.info("measuring on a %.0f%% holdout…", args.test_fraction * 100)
            metrics = evaluate_split(dataset.ratings, dataset.movies, params, args.test_fraction,
                                     args.seed).as_json()
        log.info("training on %d ratings…", len(dataset.ratings))
        started = time.perf_counter()
        fitted = fit_artifact(dataset.ratings, dataset.movies, params, sources,
                              validation_fraction=args.validation_fraction)
        fitted.artifact.manifest["metrics"] = metrics
        save_artifact(args.out, fitted.artifact)
        log.info("saved %s (%s) in %.1f s", args.out, fitted.artifact.manifest["model_version"],
                 time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
