"""The service's own ratings, read for retraining as one consistent snapshot.

One read-only transaction (PostgreSQL ``REPEATABLE READ READ ONLY``; SQLite in WAL mode) sees
the ratings at one instant without stalling the service; rows stream in primary-key order, so
the hash of what was read is stable. ``python -m db.app_ratings export --out DIR`` writes
``DIR/ratings.csv`` (MovieLens layout) and ``DIR/receipt.json``: ``ml`` never imports ``db``,
so ``python -m ml.training.train --app-ratings`` runs this command and reads its files. The
URL comes from ``DATABASE_URL`` (or ``--database-url``), keeping a password out of ``ps``.
Errors are one ``error:`` line, exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from db.models import Rating
from db.settings import DatabaseSettings
from ml.rules import PERSONALISATION_THRESHOLD
from ml.serving.artifacts import AppRatings

#: Rows fetched per round trip while streaming.
_CHUNK = 50_000
_EPOCH = pd.Timestamp(0, tz="UTC")


#: File names of an export (``export``).
RATINGS_FILE = "ratings.csv"
RECEIPT_FILE = "receipt.json"


class AppRatingsError(RuntimeError):
    """The ratings cannot be read (bad URL, unreachable database, no schema); one line."""


def read_app_ratings(
    database_url: str, *, min_ratings: int, known_movies: set[int] | None = None
) -> tuple[pd.DataFrame, AppRatings]:
    """Every stored rating of users with at least ``min_ratings`` of them, and a receipt.

    ``known_movies`` (the catalogue's ids) drops films the model cannot know; the threshold
    is counted after that, over the ratings that will really be trained on. The frame has the
    MovieLens columns ``user_id, movie_id, rating, timestamp`` (user ids as stored; the caller
    namespaces them apart from MovieLens users).
    """
    engine = _reader_engine(database_url)
    try:
        frame, read_at = _snapshot(engine)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise AppRatingsError(f"{_shown(database_url)}: cannot read the ratings ({reason})"
                              ) from None
    finally:
        engine.dispose()
    if known_movies is not None:
        frame = frame[frame["movie_id"].isin(np.fromiter(known_movies, np.int64))]
    counts = frame.groupby("user_id")["movie_id"].transform("size")
    kept = frame[counts >= min_ratings].reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(kept[["user_id", "movie_id"]].to_numpy(np.int64).tobytes())
    digest.update(kept["rating"].to_numpy(np.float32).tobytes())
    receipt = AppRatings(
        n_ratings=len(kept),
        n_users=int(kept["user_id"].nunique()),
        n_users_left_out=int(frame["user_id"].nunique() - kept["user_id"].nunique()),
        min_ratings=min_ratings,
        read_at=read_at,
        sha256=digest.hexdigest(),
    )
    return kept, receipt


def export(database_url: str, out: Path, *, min_ratings: int,
           known_movies: set[int] | None = None) -> AppRatings:
    """Write the snapshot to ``out/ratings.csv`` and its receipt to ``out/receipt.json``."""
    frame, receipt = read_app_ratings(database_url, min_ratings=min_ratings,
                                      known_movies=known_movies)
    out.mkdir(parents=True, exist_ok=True)
    frame.rename(columns={"user_id": "userId", "movie_id": "movieId"}).to_csv(
        out / RATINGS_FILE, index=False, float_format="%g")
    (out / RECEIPT_FILE).write_text(json.dumps(receipt.as_json(), indent=2) + "\n")
    return receipt


def _reader_engine(database_url: str) -> Any:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise AppRatingsError(f"{_shown(database_url)}: not a database URL "
                              "(e.g. sqlite:///data/cinematch.db, postgresql://…)") from None
    # A plain engine would create a missing SQLite file: reading must never make a database.
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and (not url.database or not Path(url.database).is_file()):
        raise AppRatingsError(f"{_shown(database_url)}: no such SQLite database file")
    try:
        return create_engine(url, hide_parameters=True)
    except (ArgumentError, ImportError) as error:
        raise AppRatingsError(f"{_shown(database_url)}: unusable database URL ({error})"
                              ) from None


def _shown(database_url: str) -> str:
    """The URL as safe to print: its password masked."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(database_url[:80])


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


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m db.app_ratings export --out DIR``: the snapshot as files (module docstring)."""
    parser = _OneLineParser(prog="python -m db.app_ratings",
                            description="Export the service's ratings for a retrain.")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("export", help="write ratings.csv and receipt.json")
    command.add_argument("--out", type=Path, required=True, help="folder to write into")
    command.add_argument("--database-url", default=None,
                         help="default: $DATABASE_URL (keeps a password out of `ps`)")
    command.add_argument("--min-ratings", type=int, default=PERSONALISATION_THRESHOLD,
                         help="leave out users with fewer ratings on known films "
                              f"(default {PERSONALISATION_THRESHOLD}, ml.rules)")
    command.add_argument("--known-movies", type=Path,
                         help="a file of the catalogue's movie ids, one per line; other films "
                              "are left out")
    args = parser.parse_args(argv)
    url = args.database_url or DatabaseSettings().database_url
    try:
        known = None
        if args.known_movies is not None:
            text = args.known_movies.read_text(encoding="utf-8")
            known = {int(line) for line in text.split() if line}
        receipt = export(url, args.out, min_ratings=args.min_ratings, known_movies=known)
    except (AppRatingsError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{receipt.n_ratings} ratings of {receipt.n_users} users read at {receipt.read_at} "
          f"({receipt.n_users_left_out} users below {receipt.min_ratings} ratings left out)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
