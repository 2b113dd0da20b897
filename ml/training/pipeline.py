"""Fit the shipped model from ratings: ``fit_artifact``, the one code path of the shipped model,
evaluation, the onboarding simulation and the API tests' tiny model.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data.app import APP_SOURCE
from ml.data.split import validation_split
from ml.models import EASE, IALS, FunkSVD, FunkSVDParams, ImplicitParams, Popularity
from ml.models.ease.sparse import SparseEaseParams
from ml.models.funksvd.train import TrainResult, Validation
from ml.models.matrix import IdMap, RatingMatrix
from ml.models.popularity.model import DEFAULT_PRIOR_PERCENTILE
from ml.serving.artifacts import Artifact, CatalogueEntry, model_version
from ml.serving.ranking import RankingWeights, normalise_rows
from ml.serving.reasons import neighbour_count, neighbour_edges

log = logging.getLogger(__name__)

#: Share of the training ratings held out to early-stop on; 0 by default: one pass of
#: ``FunkSVDParams.n_epochs``. Early stopping never stopped before the last sweep on the
#: shipped sources (best sweep 65 of 65) and its refit doubled the training time.
VALIDATION_FRACTION = 0.0


@contextmanager
def stage(stages: dict[str, dict[str, float]], name: str) -> Iterator[None]:
    """Record a training stage's wall and CPU seconds (this process, every thread) in
    ``stages[name]``, and log them: where ``make train``'s time goes at any size."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    stages[name] = {"wall": round(time.perf_counter() - wall, 2),
                    "cpu": round(time.process_time() - cpu, 2)}
    log.info("stage %s: %.1f s wall, %.1f s CPU", name, stages[name]["wall"],
             stages[name]["cpu"])


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
    item_item_params: SparseEaseParams | None = None, edges: bool = True,
) -> FittedModel:
    """Train on ``ratings`` and package the model with its catalogue and popularity.

    Early stopping on a validation split picks the number of sweeps, then the model is refitted
    on all of ``ratings``; the ranking model (iALS) and item-item term are fitted on the same ids.
    ``edges``: store every film's reason edge, as a served model needs; a model that is only
    measured goes without (its lists get theirs on demand).
    """
    if ratings.empty:
        raise ValueError("no ratings to train on")
    stages: dict[str, dict[str, float]] = {}
    with stage(stages, "rating_matrix"):
        users = IdMap.from_values(ratings["user_id"].to_numpy())
        items = IdMap.from_values(ratings["movie_id"].to_numpy())
        if validation_fraction > 0:
            fit_rows, held_rows = validation_split(ratings, validation_fraction, params.seed)
        else:
            fit_rows, held_rows = ratings, ratings.iloc[:0]
        matrix = rating_matrix(fit_rows, users, items)
    validation = None
    if len(held_rows):
        validation = Validation(
            users.indices(held_rows["user_id"].to_numpy()),
            items.indices(held_rows["movie_id"].to_numpy()),
            held_rows["rating"].to_numpy(np.float64),
        )
    with stage(stages, "funksvd"):
        model = FunkSVD(params, progress=progress).fit(matrix, validation)
        stopped = result = _trained(model)
        # Without a validation split ``matrix`` already holds every rating: no second copy.
        every_rating = matrix if validation is None else rating_matrix(ratings, users, items)
        if validation is not None:
            # The held-out ratings chose the number of sweeps; now use them for training too.
            sweeps = max(stopped.best_epoch, params.burn_in + 1)
            model = FunkSVD(replace(params, n_epochs=sweeps), progress=progress).fit(
                every_rating)
            result = _trained(model)
    implicit_params = implicit_params or ImplicitParams()
    ranking_weights = ranking_weights or RankingWeights()
    with stage(stages, "ials"):
        implicit = IALS(implicit_params).fit(every_rating)
    item_item_params = item_item_params or SparseEaseParams()
    with stage(stages, "item_item"):
        item_item = EASE(item_item_params).fit(every_rating)
    with stage(stages, "popularity_catalogue"):
        all_items = items.indices(ratings["movie_id"].to_numpy())
        popularity = Popularity.from_ratings(
            all_items, ratings["rating"].to_numpy(np.float64), len(items))
        chart = chart_popularity(ratings, items, popularity.global_mean)
        catalogue = catalogue_entries(movies, items)
    k = neighbour_count(len(items))
    film_edges = None
    if edges:
        with stage(stages, "neighbour_edges"):
            film_edges = neighbour_edges(
                normalise_rows(np.asarray(model.item_factors, np.float32)), k)
    manifest = base_manifest(model, asdict(params), popularity, implicit_params, ranking_weights,
                             item_item_params, sources, len(ratings), len(users), len(items),
                             validation_ratings=len(held_rows))
    manifest["ranking"].update(seconds=stages["ials"]["wall"],
                               item_item_seconds=stages["item_item"]["wall"])
    manifest["training"] = {
        "seconds": round(stopped.seconds + (result.seconds if result is not stopped else 0), 2),
        "early_stopping_sweeps": len(stopped.history), "best_sweep": stopped.best_epoch,
        "validation_rmse": min((h.validation_rmse for h in stopped.history
                                if h.validation_rmse is not None), default=None),
        "final_sweeps": len(result.history),
        "stages": stages,
    }
    artifact = Artifact(model, items, catalogue, popularity, manifest, users, implicit, chart,
                        item_item, film_edges, k if film_edges is not None else 0)
    return FittedModel(artifact, result, users)


def base_manifest(model: FunkSVD, params: dict[str, Any], popularity: Popularity,
                  implicit_params: ImplicitParams, weights: RankingWeights,
                  item_item_params: SparseEaseParams | None, sources: list[dict[str, Any]] | None,
                  n_ratings: int, n_users: int, n_movies: int,
                  validation_ratings: int = 0) -> dict[str, Any]:
    """The manifest every trainer writes (the one-box and the Spark one); ``item_item_params``
    None: the model has no item-item term."""
    ranking: dict[str, Any] = {"implicit": asdict(implicit_params), "weights": asdict(weights)}
    if item_item_params is not None:
        ranking["item_item"] = asdict(item_item_params)
    return {
        "model_version": model_version(model),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "params": params,
        "popularity": {"prior_percentile": DEFAULT_PRIOR_PERCENTILE,
                       "prior_count": popularity.prior_count},
        "ranking": ranking,
        "data": {"sources": sources or [], "n_ratings": n_ratings, "n_users": n_users,
                 "n_movies": n_movies, "validation_ratings": validation_ratings},
        "metrics": {},
    }


def _trained(model: FunkSVD) -> TrainResult:
    assert model.result is not None  # set by fit
    return model.result


def chart_popularity(ratings: pd.DataFrame, items: IdMap,
                     global_mean: float) -> Popularity | None:
    """The chart's popularity from the MovieLens sources only, when the service's own ratings are
    among ``ratings`` (else None), so a few like-minded app users cannot move everyone's chart.
    """
    if "source" not in ratings.columns:
        return None
    from_app = (ratings["source"] == APP_SOURCE).to_numpy()
    if not from_app.any():
        return None
    movielens = ratings[~from_app]
    counted = Popularity.from_ratings(items.indices(movielens["movie_id"].to_numpy()),
                                      movielens["rating"].to_numpy(np.float64), len(items))
    return Popularity.from_counts(counted.counts, counted.means, global_mean)


def catalogue_entries(movies: pd.DataFrame, items: IdMap) -> tuple[CatalogueEntry, ...]:
    """One catalogue row per model item, in item order (rated films missing from the movie
    file get a placeholder title rather than vanishing).

    Columns are read once as lists (a ``.loc`` per film took 60 s at 87k films)."""
    rows = movies.drop_duplicates("movie_id").set_index("movie_id").reindex(items.ids)
    known = rows["title"].notna().tolist()
    titles, genres = rows["title"].tolist(), rows["genres"].tolist()
    years, tmdb_ids = _optional_ints(rows["year"]), _optional_ints(rows["tmdb_id"])
    imdb_ids = [None if value is None or pd.isna(value) else str(value)
                for value in rows["imdb_id"].tolist()]
    entries = []
    for k, movie_id in enumerate(items.ids.tolist()):
        if known[k]:
            entries.append(CatalogueEntry(movie_id, str(titles[k]), years[k], tuple(genres[k]),
                                          tmdb_ids[k], imdb_ids[k]))
        else:
            entries.append(CatalogueEntry(movie_id, f"Movie {movie_id}", None, (), None, None))
    return tuple(entries)


def _optional_ints(column: pd.Series) -> list[int | None]:
    """A nullable column as Python ints, None where missing."""
    return [None if pd.isna(value) else int(value) for value in column.tolist()]


def rating_matrix(rows: pd.DataFrame, users: IdMap, items: IdMap) -> RatingMatrix:
    """The ratings of ``rows`` on the dense indices of ``users`` and ``items`` (mapped once)."""
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
