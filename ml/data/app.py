"""The service's own ratings as one more training source, without ``ml`` importing ``db``.

``fetch_app_ratings`` runs ``python -m db.app_ratings export`` in a child process (the database
URL in its environment) and reads the ``ratings.csv`` and ``receipt.json`` it writes.
``add_app_ratings`` trains app user ``u`` as ``-u``: MovieLens ids are positive, so the two
never collide and an app user keeps the same id from one retrain to the next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from ml.data.formats import RATINGS_COLUMNS, Dataset, read_ratings_file
from ml.serving.artifacts import AppRatings

#: The ``source`` of app ratings in a training set.
APP_SOURCE: Final = "cinematch"
#: A snapshot of a large service takes a while; a wedged database must not hang a night job.
EXPORT_TIMEOUT_S: Final = 3600


class AppRatingsError(RuntimeError):
    """The export failed or is unusable; the message is one line (the child's own error)."""


def app_user_ids(user_ids: np.ndarray) -> np.ndarray:
    """Training ids of app users: ``-u`` (module docstring)."""
    ids = np.asarray(user_ids, dtype=np.int64)
    if len(ids) and int(ids.min()) <= 0:
        raise AppRatingsError("app user ids must be positive to be namespaced")
    return -ids


def fetch_app_ratings(
    database_url: str, known_movies: Iterable[int], min_ratings: int,
) -> tuple[pd.DataFrame, AppRatings]:
    """The service's ratings (ids as stored) and the receipt, via the ``db`` export command."""
    with tempfile.TemporaryDirectory(prefix="cinematch-app-ratings.") as folder:
        out = Path(folder)
        known = out / "known_movies.txt"
        known.write_text("".join(f"{int(m)}\n" for m in known_movies), encoding="utf-8")
        # The child runs in the caller's folder, so a relative sqlite:///data/cinematch.db
        # names the same file for both.
        env = {**os.environ, "DATABASE_URL": database_url}
        command = [sys.executable, "-m", "db.app_ratings", "export", "--out", str(out / "export"),
                   "--min-ratings", str(min_ratings), "--known-movies", str(known)]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=EXPORT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise AppRatingsError(f"reading the app ratings took over {EXPORT_TIMEOUT_S} s"
                                  ) from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            message = lines[-1] if lines else f"exit status {done.returncode}"
            raise AppRatingsError(message.removeprefix("error: "))
        try:
            receipt = AppRatings.from_json(
                json.loads((out / "export" / "receipt.json").read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            raise AppRatingsError(f"the app ratings export has no readable receipt ({error})"
                                  ) from None
        ratings = read_ratings_file(out / "export" / "ratings.csv")
    if len(ratings) != receipt.n_ratings:
        raise AppRatingsError(f"the export holds {len(ratings)} ratings, its receipt says "
                              f"{receipt.n_ratings}")
    return ratings, receipt


def add_app_ratings(dataset: Dataset, app_ratings: pd.DataFrame) -> Dataset:
    """``dataset`` plus the app ratings (users namespaced, films outside its catalogue dropped).

    The catalogue stays the dataset's: the service only lets people rate films it serves, and a
    film no release describes could not be shown anyway. A ``source`` column names each row's
    origin (``APP_SOURCE`` for the service's).
    """
    known = app_ratings["movie_id"].isin(dataset.movies["movie_id"])
    app = app_ratings.loc[known, list(RATINGS_COLUMNS)].copy()
    app["user_id"] = app_user_ids(app["user_id"].to_numpy())
    base = dataset.ratings
    if "source" in base.columns:
        names = [*base["source"].cat.categories, APP_SOURCE]
        base_codes = base["source"].cat.codes.to_numpy()
    else:
        names = [dataset.name, APP_SOURCE]
        base_codes = np.zeros(len(base), dtype=np.int8)
    sources = pd.CategoricalDtype(names)
    base = base.loc[:, list(RATINGS_COLUMNS)]
    base["source"] = pd.Categorical.from_codes(base_codes, dtype=sources)
    app["source"] = pd.Categorical.from_codes(np.full(len(app), len(names) - 1), dtype=sources)
    ratings = pd.concat([base, app], ignore_index=True)
    ratings = ratings.astype({"rating": np.float32})
    return Dataset(f"{dataset.name}+{APP_SOURCE}", ratings, dataset.movies,
                   dataset.movie_id_space)
