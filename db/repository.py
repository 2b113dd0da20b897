"""Repository functions: every query the API runs, each one statement where possible.

Functions take a ``Session`` and never commit; the caller owns the transaction (see
``db.session.write_transaction``), which is what lets one request's ratings land atomically.

The reads on every request (token hash, a user's ratings) are built once at import and run as
Core statements on the session's connection: building a statement and going through the ORM
result machinery costs more than the SQLite query itself, several times over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from db.models import Rating, SignalKind, User, UserSignal, utcnow


@dataclass(frozen=True, slots=True)
class StoredRating:
    """A rating as read back for display (not an ORM row, so nothing lazy leaks out)."""

    movie_id: int
    rating: float
    created_at: datetime
    updated_at: datetime


_TOKEN_HASH = select(User.token_hash).where(User.id == bindparam("user_id"))
_USER_RATINGS = (
    select(Rating.movie_id, Rating.rating)
    .where(Rating.user_id == bindparam("user_id"))
    .order_by(Rating.movie_id)
)
_COUNT_USER_RATINGS = (
    select(func.count()).select_from(Rating).where(Rating.user_id == bindparam("user_id"))
)


def _upsert_rating(insert: Callable[[type[Rating]], Any]) -> Executable:
    """``INSERT ... ON CONFLICT (user_id, movie_id) DO UPDATE`` keeping ``created_at``."""
    stmt = insert(Rating)
    return stmt.on_conflict_do_update(
        index_elements=[Rating.user_id, Rating.movie_id],
        set_={"rating": stmt.excluded.rating, "updated_at": stmt.excluded.updated_at},
    )


#: Dialects with ``INSERT ... ON CONFLICT DO UPDATE``; others take the select-then-update path.
_UPSERTS: dict[str, Executable] = {
    "sqlite": _upsert_rating(sqlite_insert),
    "postgresql": _upsert_rating(postgresql_insert),
}


def create_user(session: Session, token_hash: str) -> int:
    """Insert a user holding ``token_hash`` and return the new id (flushed, not committed)."""
    user = User(token_hash=token_hash, created_at=utcnow())
    session.add(user)
    session.flush()
    return user.id


def user_token_hash(session: Session, user_id: int) -> str | None:
    """The stored token hash of ``user_id``, or None when there is no such user."""
    return session.connection().execute(_TOKEN_HASH, {"user_id": user_id}).scalar_one_or_none()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def count_ratings(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Rating)) or 0


def count_user_ratings(session: Session, user_id: int) -> int:
    return session.connection().execute(_COUNT_USER_RATINGS, {"user_id": user_id}).scalar_one()


def user_ratings(session: Session, user_id: int) -> dict[int, float]:
    """``{movie_id: rating}`` for one user: a single range scan of the primary key.

    Ordered by movie id so that equal rating sets always produce equal dicts (and equal
    fingerprints for the profile cache).
    """
    rows = session.connection().execute(_USER_RATINGS, {"user_id": user_id})
    return {movie_id: rating for movie_id, rating in rows}


def user_ratings_newest_first(session: Session, user_id: int) -> list[StoredRating]:
    """All of a user's ratings, most recently (re-)rated first; ties broken by movie id."""
    stmt = (
        select(Rating.movie_id, Rating.rating, Rating.created_at, Rating.updated_at)
        .where(Rating.user_id == user_id)
        .order_by(Rating.updated_at.desc(), Rating.movie_id)
    )
    return [StoredRating(*row) for row in session.execute(stmt)]


def upsert_ratings(
    session: Session, user_id: int, ratings: Mapping[int, float], now: datetime | None = None
) -> None:
    """Insert or update ``ratings`` for ``user_id``: new rows get ``created_at = now``,
    existing rows keep their ``created_at`` and get the new value and ``updated_at = now``.

    SQLite and PostgreSQL do it in one ``INSERT ... ON CONFLICT DO UPDATE``; other databases
    fall back to select-then-update inside the caller's transaction.
    """
    if not ratings:
        return
    now = now or utcnow()
    rows = [
        {
            "user_id": user_id,
            "movie_id": movie_id,
            "rating": rating,
            "created_at": now,
            "updated_at": now,
        }
        for movie_id, rating in ratings.items()
    ]
    connection = session.connection()
    upsert = _UPSERTS.get(connection.dialect.name)
    if upsert is not None:
        connection.execute(upsert, rows)
        return
    existing = {
        row.movie_id: row
        for row in session.scalars(
            select(Rating).where(Rating.user_id == user_id, Rating.movie_id.in_(list(ratings)))
        )
    }
    for row in rows:
        current = existing.get(row["movie_id"])
        if current is None:
            session.add(Rating(**row))
        else:
            current.rating = row["rating"]
            current.updated_at = now
    session.flush()


def delete_rating(session: Session, user_id: int, movie_id: int) -> bool:
    """Delete one rating; False when the user had not rated that film."""
    result = session.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )
    return bool(result.rowcount)


# --- signals: hidden, watchlist, skipped ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredSignal:
    movie_id: int
    created_at: datetime


def add_signal(
    session: Session, user_id: int, kind: SignalKind, movie_id: int, now: datetime | None = None
) -> bool:
    """Record ``kind`` for the film; False (and nothing changed) when it was already there.

    Select-then-insert inside the caller's write transaction: writes take turns
    (``db.write_gate``), so no other writer can slip in between.
    """
    exists = session.execute(
        select(UserSignal.movie_id).where(
            UserSignal.user_id == user_id, UserSignal.kind == kind, UserSignal.movie_id == movie_id
        )
    ).first()
    if exists is not None:
        return False
    session.add(UserSignal(user_id=user_id, kind=kind, movie_id=movie_id,
                           created_at=now or utcnow()))
    session.flush()
    return True


def remove_signal(session: Session, user_id: int, kind: SignalKind, movie_id: int) -> bool:
    """Take the signal back; False when there was none."""
    result = session.execute(
        delete(UserSignal).where(
            UserSignal.user_id == user_id, UserSignal.kind == kind, UserSignal.movie_id == movie_id
        )
    )
    return bool(result.rowcount)


def user_signals(session: Session, user_id: int, kind: SignalKind) -> list[StoredSignal]:
    """The user's films of one kind, most recently added first; ties broken by movie id."""
    stmt = (
        select(UserSignal.movie_id, UserSignal.created_at)
        .where(UserSignal.user_id == user_id, UserSignal.kind == kind)
        .order_by(UserSignal.created_at.desc(), UserSignal.movie_id)
    )
    return [StoredSignal(*row) for row in session.execute(stmt)]
