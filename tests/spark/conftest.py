"""Spark test fixtures: the planted tastes written as a MovieLens CSV release and an app export.

The planted set (``tests/synthetic.py``) on disk in the layouts the Spark trainer reads: a
release folder (``movies.csv``, ``ratings.csv``) and the folder ``python -m db.app_ratings
export`` writes (``ratings.csv`` + ``receipt.json``), so both readers are exercised end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.serving.artifacts import AppRatings
from tests.synthetic import planted_movies, planted_ratings

#: App users: action fans by the service's own ids (they train as −id).
APP_USERS = range(1, 11)


@pytest.fixture(scope="session")
def planted_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spark-data") / "planted"
    folder.mkdir()
    movies = planted_movies()
    movies.assign(title=[f"{t} ({y})" for t, y in zip(movies["title"], movies["year"],
                                                        strict=True)],
                  genres=["|".join(g) for g in movies["genres"]]) \
        .rename(columns={"movie_id": "movieId"})[["movieId", "title", "genres"]] \
        .to_csv(folder / "movies.csv", index=False)
    planted_ratings().rename(columns={"user_id": "userId", "movie_id": "movieId"}) \
        .to_csv(folder / "ratings.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def app_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten app users who love films 1–5 and loathe romance: enough to move the chart."""
    folder = tmp_path_factory.mktemp("app-export")
    rows = [(u, m, 5.0 if m <= 20 else 1.0, 2_000_000 + u * 100 + m)
            for u in APP_USERS for m in (1, 2, 3, 4, 5, 6, 101, 102)]
    lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},{t}" for u, m, r, t in rows)]
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    receipt = AppRatings(n_ratings=len(rows), n_users=len(APP_USERS), n_users_left_out=0,
                         min_ratings=5, read_at="2026-12-07T00:00:00+00:00", sha256="0" * 64)
    (folder / "receipt.json").write_text(json.dumps(receipt.as_json()))
    return folder
