"""The service's own ratings, read for retraining as one consistent snapshot.

Why one read-only transaction: the training must see the ratings as they were at one instant
(no user half-updated), and must never stall the live service. On PostgreSQL that is a
``REPEATABLE READ READ ONLY`` transaction (MVCC: writers are never blocked); on SQLite in WAL
mode a read transaction sees the last commit before it started and writers go on appending to
the WAL. Rows are streamed in primary-key order, so the hash of what was read is stable.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from db.models import Rating

#: Rows fetched per round trip while streaming.
_CHUNK = 50_000
_EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class AppRatingsRead:
    """What was read: the count, the users, when, and a hash of every (user, film, rating)."""

    n_ratings: int
    n_users: int
    n_users_left_out: int
    min_ratings: int
    read_at: str
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def read_app_ratings(
    database_url: str, *, min_ratings: int, known_movies: set[int] | None = None
) -> tuple[pd.DataFrame, AppRatingsRead]:
    """Every stored rating of users with at least ``min_ratings`` of them, and a receipt.

    ``known_movies`` (the catalogue's ids) drops films the model cannot know; the threshold
    is counted after that, over the ratings that will really be trained on. The frame has the
    MovieLens columns ``user_id, movie_id, rating, timestamp`` (user ids as stored; the caller
    namespaces them apart from MovieLens users).
    """
    engine = create_engine(database_url, hide_parameters=True)
    try:
        frame, read_at = _snapshot(engine)
    finally:
        engine.dispose()
    if known_movies is not None:
        frame = frame[frame["movie_id"].isin(np.fromiter(known_movies, np.int64))]
    counts = frame.groupby("user_id")["movie_id"].transform("size")
    kept = frame[counts >= min_ratings].reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(kept[["user_id", "movie_id"]].to_numpy(np.int64).tobytes())
    digest.update(kept["rating"].to_numpy(np.float32).tobytes())
    receipt = AppRatingsRead(
        n_ratings=len(kept),
        n_users=int(kept["user_id"].nunique()),
        n_users_left_out=int(frame["user_id"].nunique() - kept["user_id"].nunique()),
        min_ratings=min_ratings,
        read_at=read_at,
        sha256=digest.hexdigest(),
    )
    return kept, receipt


def _snapshot(engine: Any) -> tuple[pd.DataFrame, str]:
    backend = make_url(str(engine.url)).get_backend_name()
    options: dict[str, Any] = {"stream_results": True}
    if backend == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    query = select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.updated_at).order_by(
        Rating.user_id, Rating.movie_id
    )
    parts: list[pd.DataFrame] = []
    with engine.connect().execution_options(**options) as connection, connection.begin():
        read_at = datetime.now(UTC).isoformat(timespec="seconds")
        result = connection.execute(query)
        while rows := result.fetchmany(_CHUNK):
            parts.append(pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "rated_at"]))
    if not parts:
        empty = {"user_id": "int64", "movie_id": "int64", "rating": "float32", "timestamp": "int64"}
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in empty.items()}), read_at
    frame = pd.concat(parts, ignore_index=True)
    rated_at = pd.to_datetime(frame.pop("rated_at"), utc=True)
    frame["timestamp"] = ((rated_at - _EPOCH) // pd.Timedelta(seconds=1)).astype("int64")
    return frame.astype({"user_id": "int64", "movie_id": "int64", "rating": "float32"}), read_at
