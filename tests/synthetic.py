"""Small generated MovieLens-shaped data with planted tastes, for tests that must not need
the real (non-redistributable) ratings.

Two kinds of people: action fans (action 4.5–5, romance 1–2) and romance fans (the reverse);
everyone is lukewarm about comedies. A model that learned anything ranks the genres apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.models.funksvd.model import FunkSVDParams
from ml.serving.artifacts import save_artifact
from ml.serving.ranking import RankingWeights
from ml.training.pipeline import fit_artifact

GENRES = ("Action", "Romance", "Comedy")
MOVIES_PER_GENRE = 20
TINY_PARAMS = FunkSVDParams(n_factors=4, rank=8, n_epochs=30, burn_in=6, seed=1)
#: The planted model ranks without the popularity prior. Here popularity is blind to taste by
#: construction (every genre has the same popular-to-obscure curve), and the prior's weights,
#: tuned on MovieLens newcomers, would make a 60-film list the planted chart whatever the
#: ratings. The prior's own contract is tested with explicit weights
#: (tests/ml/test_newcomer_ranking.py) and on the shipped model.
TINY_WEIGHTS = RankingWeights(popularity=0.0, popularity_at_threshold=0.0)


def planted_movies() -> pd.DataFrame:
    rows = []
    for g, genre in enumerate(GENRES):
        for k in range(MOVIES_PER_GENRE):
            movie_id = g * 100 + k + 1  # 1–20 action, 101–120 romance, 201–220 comedy
            rows.append({
                "movie_id": movie_id, "title": f"{genre} Film {k + 1}", "year": 1980 + k,
                "genres": (genre,), "tmdb_id": 1000 + movie_id, "imdb_id": f"{movie_id:07d}",
            })
    frame = pd.DataFrame(rows)
    frame["year"] = frame["year"].astype("Int64")
    frame["tmdb_id"] = frame["tmdb_id"].astype("Int64")
    return frame


def planted_ratings(n_users: int = 200, per_user: int = 30, seed: int = 0) -> pd.DataFrame:
    """Action fans are users 1..n/2, romance fans the rest; popular films are rated more."""
    rng = np.random.default_rng(seed)
    movies = planted_movies()
    ids = movies["movie_id"].to_numpy()
    genre = np.repeat(np.arange(len(GENRES)), MOVIES_PER_GENRE)
    # Lower-numbered films within a genre are more popular, so popularity has an order.
    weight = np.tile(1.0 / np.arange(1, MOVIES_PER_GENRE + 1) ** 0.5, len(GENRES))
    rows = []
    for user in range(1, n_users + 1):
        fan_of = 0 if user <= n_users // 2 else 1
        chosen = rng.choice(len(ids), size=per_user, replace=False, p=weight / weight.sum())
        for j in chosen:
            if genre[j] == fan_of:
                rating = rng.choice([4.5, 5.0])
            elif genre[j] == 2:
                rating = rng.choice([2.5, 3.0, 3.5])
            else:
                rating = rng.choice([1.0, 1.5, 2.0])
            rows.append((user, int(ids[j]), float(rating), 1_000_000 + len(rows)))
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return frame.astype({"rating": np.float32})


def write_tiny_model(directory: Path) -> Path:
    """Train the planted model and save it as a real model directory."""
    # Early-stopped on 5%, as the planted model has always been trained: its comedies carry
    # no taste (everyone rates them 2.5–3.5), so their factor directions, which the "like X"
    # tests read, depend on how long FunkSVD runs.
    fitted = fit_artifact(planted_ratings(), planted_movies(), TINY_PARAMS, progress=False,
                          ranking_weights=TINY_WEIGHTS, validation_fraction=0.05)
    fitted.artifact.manifest["metrics"] = {
        "rating": [{"model": "funksvd", "rmse": 0.5, "mae": 0.4}],
        "top_n": [{"model": "popularity", "recall_at_10": 0.1, "ndcg_at_10": 0.1,
                   "coverage": 0.2, "n_users": 10}],
    }
    return save_artifact(directory, fitted.artifact)
