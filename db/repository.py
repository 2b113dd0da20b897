"""Every query the API runs, each one statement where possible.

Functions take a ``Session`` and never commit: the caller owns the transaction
(``db.session.write_transaction``). The reads on every request are built once at import and run
as Core statements, which costs less than building them and the ORM's result machinery.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Float,
    Integer,
    Result,
    String,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Executable

from db.models import (
    EXCLUDING_SIGNALS,
    Base,
    Credential,
    RateLimit,
    Rating,
    SignalKind,
    Token,
    User,
    UserSignal,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class StoredRating:
    """A rating as read back for display (not an ORM row, so nothing lazy leaks out)."""

    movie_id: int
    rating: float
    created_at: datetime
    updated_at: datetime


#: The live token with the given hash and its owner: what every per-user route checks first.
_IS_LIVE_TOKEN = (Token.token_hash == bindparam("token_hash"), Token.revoked_at.is_(None))
_LIVE_TOKEN = select(Token.id, Token.user_id).where(*_IS_LIVE_TOKEN)
_USER_RATINGS = (
    select(Rating.movie_id, Rating.rating)
    .where(Rating.user_id == bindparam("user_id"))
    .order_by(Rating.movie_id)
)
#: The films that keep out of a user's lists: hidden or skipped. Compared one by one: an ``IN``
#: list is rendered again at every execution (~90 µs of CPU on /recommend's read).
_EXCLUDING = (
    UserSignal.user_id == bindparam("user_id"),
    or_(*(UserSignal.kind == kind for kind in EXCLUDING_SIGNALS)),
)
_NO_RATING, _NO_OWNER = sql_cast(null(), Float), sql_cast(null(), Integer)
#: /recommend's read as one statement, rows (id, rating, kind, owner): the live token with the
#: presented hash (kind "token": its id and owner), the user's ratings (kind NULL) and their
#: excluding signals (kind "hidden" or "skipped"), in id order.
_TOKEN_RATINGS_AND_EXCLUDED = union_all(
    select(Token.id, _NO_RATING, literal("token", String(16)), Token.user_id).where(
        *_IS_LIVE_TOKEN
    ),
    _USER_RATINGS.order_by(None).add_columns(sql_cast(null(), String(16)), _NO_OWNER),
    select(UserSignal.movie_id, _NO_RATING, UserSignal.kind, _NO_OWNER).where(*_EXCLUDING),
).order_by(literal_column("1"))
_COUNT_USER_RATINGS = (
    select(func.count()).select_from(Rating).where(Rating.user_id == bindparam("user_id"))
)


def _rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a ``CursorResult``)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _upsert_rating(insert: Callable[[type[Rating]], Any], *, if_newer: bool = False) -> Any:
    """``INSERT ... ON CONFLICT (user_id, movie_id) DO UPDATE`` keeping ``created_at``, and
    never setting ``updated_at`` before it (a date sent for a film rated since then would
    otherwise wind the rating's last change back, and let an older import overwrite it).

    ``if_newer`` (an import): the row changes only when the incoming date is newer, decided
    inside the statement under the row's lock (concurrent imports cannot interleave a read and
    a write); the ids of the rows inserted or changed are returned."""
    stmt = insert(Rating)
    updated_at = case((stmt.excluded.updated_at > Rating.created_at, stmt.excluded.updated_at),
                      else_=Rating.created_at)
    return stmt.on_conflict_do_update(
        index_elements=[Rating.user_id, Rating.movie_id],
        set_={"rating": stmt.excluded.rating, "updated_at": updated_at},
        where=stmt.excluded.updated_at > Rating.updated_at if if_newer else None,
    )


def _insert_if_absent(insert: Callable[[type[Rating]], Any]) -> Executable:
    """An undated imported rating: written only where the film has no rating yet."""
    return insert(Rating).on_conflict_do_nothing(
        index_elements=[Rating.user_id, Rating.movie_id]
    ).returning(Rating.movie_id)


#: The databases CineMatch runs on; both have ``INSERT ... ON CONFLICT``.
_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def _per_dialect(build: Callable[[Callable[[Any], Any]], Executable]) -> dict[str, Executable]:
    """One statement per supported database, built once at import."""
    return {name: build(insert) for name, insert in _INSERTS.items()}


_UPSERT = _per_dialect(_upsert_rating)
_UPSERT_IF_NEWER = _per_dialect(
    lambda insert: _upsert_rating(insert, if_newer=True).returning(Rating.movie_id)
)
_INSERT_IF_ABSENT = _per_dialect(_insert_if_absent)


def create_user(session: Session, token_hash: str) -> int:
    """Insert a user holding ``token_hash`` and return the new id (flushed, not committed)."""
    now = utcnow()
    user = User(created_at=now)
    session.add(user)
    session.flush()
    add_token(session, user.id, token_hash, now)
    return user.id


def add_token(session: Session, user_id: int, token_hash: str, now: datetime | None = None) -> int:
    """Give ``user_id`` one more token (a sign-in on another device); returns its id."""
    now = now or utcnow()
    token = Token(user_id=user_id, token_hash=token_hash, created_at=now, last_used_at=now)
    session.add(token)
    session.flush()
    return token.id


def live_token(session: Session, token_hash: str) -> tuple[int, int] | None:
    """(token id, user id) of the unrevoked token with ``token_hash``, or None."""
    row = session.connection().execute(_LIVE_TOKEN, {"token_hash": token_hash}).first()
    return None if row is None else (row[0], row[1])


def revoke_token(session: Session, token_id: int) -> None:
    session.execute(update(Token).where(Token.id == token_id).values(revoked_at=utcnow()))


def revoke_other_tokens(session: Session, user_id: int, keep_token_id: int) -> None:
    """Sign the user out everywhere but the device holding ``keep_token_id``."""
    session.execute(update(Token).where(
        Token.user_id == user_id, Token.id != keep_token_id, Token.revoked_at.is_(None),
    ).values(revoked_at=utcnow()))


def touch_token(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that the token was just used."""
    session.execute(
        update(Token).where(Token.id == token_id).values(last_used_at=now or utcnow())
    )


def credentials_of(session: Session, username_key: str) -> tuple[int, str] | None:
    """(user id, password hash) for a lower-cased username, or None."""
    row = session.execute(
        select(Credential.user_id, Credential.password_hash).where(
            Credential.username_key == username_key
        )
    ).first()
    return None if row is None else (row[0], row[1])


def username_of(session: Session, user_id: int) -> str | None:
    return session.scalar(select(Credential.username).where(Credential.user_id == user_id))


def username_key_of(session: Session, user_id: int) -> str | None:
    return session.scalar(select(Credential.username_key).where(Credential.user_id == user_id))


def username_taken(session: Session, username_key: str, user_id: int) -> bool:
    """Whether another user already signs in with this (lower-cased) username."""
    found = credentials_of(session, username_key)
    return found is not None and found[0] != user_id


def set_credentials(
    session: Session, user_id: int, username: str, username_key: str, password_hash: str
) -> None:
    """Create or replace the user's username and password hash."""
    now = utcnow()
    current = session.get(Credential, user_id) or Credential(user_id=user_id, created_at=now)
    current.username, current.username_key = username, username_key
    current.password_hash, current.updated_at = password_hash, now
    session.add(current)
    session.flush()


def delete_user(session: Session, user_id: int) -> bool:
    """Delete the user and every row of theirs (of every table with a ``user_id``, children
    first, whether or not the database enforces ``ON DELETE CASCADE``); False if none."""
    for table in reversed(Base.metadata.sorted_tables):
        column = table.c.get("user_id")
        if column is not None:
            session.execute(delete(table).where(column == user_id))
    return bool(_rows_changed(session.execute(delete(User).where(User.id == user_id))))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def count_ratings(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Rating)) or 0


def count_user_ratings(session: Session, user_id: int) -> int:
    return session.connection().execute(_COUNT_USER_RATINGS, {"user_id": user_id}).scalar_one()


def user_ratings(session: Session, user_id: int) -> dict[int, float]:
    """``{movie_id: rating}`` for one user (one range scan of the primary key), in movie id
    order: equal rating sets give equal dicts, and equal fingerprints in the profile cache."""
    rows = session.connection().execute(_USER_RATINGS, {"user_id": user_id})
    return {movie_id: rating for movie_id, rating in rows}


def token_ratings_and_excluded(
    connection: Connection, token_hash: str, user_id: int
) -> tuple[tuple[int, int] | None, dict[int, float], Excluded]:
    """``live_token``, ``user_ratings`` and ``excluded`` in one statement on a Core connection:
    /recommend needs all three, and one execution is ~80 µs of CPU less than two."""
    token: tuple[int, int] | None = None
    ratings: dict[int, float] = {}
    hidden: list[int] = []
    skipped: list[int] = []
    rows = connection.execute(
        _TOKEN_RATINGS_AND_EXCLUDED, {"token_hash": token_hash, "user_id": user_id}
    )
    for row_id, rating, kind, owner in rows:
        if kind is None:
            ratings[row_id] = rating
        elif kind == "token":
            token = (row_id, owner)
        else:
            (hidden if kind == "hidden" else skipped).append(row_id)
    return token, ratings, Excluded(hidden=tuple(hidden), skipped=tuple(skipped))


def user_ratings_newest_first(
    session: Session, user_id: int, *, limit: int | None = None, offset: int = 0
) -> list[StoredRating]:
    """A user's ratings, most recently (re-)rated first, ties broken by movie id (a total
    order, so pages never overlap or skip); ``limit`` rows from ``offset``, or all."""
    stmt = (
        select(Rating.movie_id, Rating.rating, Rating.created_at, Rating.updated_at)
        .where(Rating.user_id == user_id)
        .order_by(Rating.updated_at.desc(), Rating.movie_id)
        .limit(limit)
        .offset(offset)
    )
    return [StoredRating(*row) for row in session.execute(stmt)]


def upsert_ratings(
    session: Session, user_id: int, ratings: Mapping[int, float], now: datetime | None = None
) -> None:
    """Insert or update ``ratings`` in one statement: existing rows keep their ``created_at``."""
    now = now or utcnow()
    restore_ratings(session, user_id, [(m, r, now, now) for m, r in ratings.items()])


def restore_ratings(
    session: Session, user_id: int, ratings: Sequence[tuple[int, float, datetime, datetime]]
) -> None:
    """Upsert ``(movie_id, rating, created_at, updated_at)`` rows: a rating put back as it
    was (Undo) keeps both its dates; an existing row keeps its ``created_at``. The films leave
    the watchlist (``leave_watchlist``)."""
    if not ratings:
        return
    rows = [
        {"user_id": user_id, "movie_id": m, "rating": r, "created_at": first, "updated_at": last}
        for m, r, first, last in ratings
    ]
    connection = session.connection()
    connection.execute(_UPSERT[connection.dialect.name], rows)
    leave_watchlist(session, user_id, [m for m, *_ in ratings])


def leave_watchlist(session: Session, user_id: int, movie_ids: Sequence[int]) -> None:
    """A film rated has been seen: it is no longer one the user wants to watch."""
    session.execute(delete(UserSignal).where(
        UserSignal.user_id == user_id, UserSignal.kind == "watchlist",
        UserSignal.movie_id.in_(movie_ids)))


def import_ratings(
    session: Session,
    user_id: int,
    dated: Sequence[tuple[int, float, datetime]],
    undated: Sequence[tuple[int, float, datetime]],
) -> int:
    """Write an import where it is newer; how many ratings were inserted or changed. ``dated``
    (movie, rating, the file's date) replace a stored rating only when newer; ``undated`` ones
    (stamped now) are only added where the film has none. Every film of the file is rated
    afterwards, so each leaves the watchlist."""
    written = 0
    connection = session.connection()
    for rows, statements in ((dated, _UPSERT_IF_NEWER), (undated, _INSERT_IF_ABSENT)):
        if rows:
            params = [
                {"user_id": user_id, "movie_id": m, "rating": r, "created_at": at,
                 "updated_at": at}
                for m, r, at in rows
            ]
            written += len(connection.execute(statements[connection.dialect.name], params).all())
    leave_watchlist(session, user_id, [m for m, _, _ in (*dated, *undated)])
    return written


def user_rating_times(session: Session, user_id: int) -> dict[int, datetime]:
    """``{movie_id: updated_at}``: what an import compares its rows with."""
    stmt = select(Rating.movie_id, Rating.updated_at).where(Rating.user_id == user_id)
    return {movie_id: at for movie_id, at in session.execute(stmt)}


def delete_rating(session: Session, user_id: int, movie_id: int) -> bool:
    """Delete one rating; False when the user had not rated that film."""
    result = session.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )
    return bool(_rows_changed(result))


# --- signals: hidden, watchlist, skipped ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Excluded:
    """Films never to show one user again, by why (ids in order)."""

    hidden: tuple[int, ...]
    skipped: tuple[int, ...]

    @property
    def all(self) -> tuple[int, ...]:
        return tuple(sorted({*self.hidden, *self.skipped}))


def excluded(session: Session, user_id: int) -> Excluded:
    """The films the user hid or skipped."""
    stmt = select(UserSignal.kind, UserSignal.movie_id).where(*_EXCLUDING)
    rows = session.connection().execute(stmt.order_by(UserSignal.movie_id), {"user_id": user_id})
    kinds = list(rows)
    return Excluded(
        hidden=tuple(m for kind, m in kinds if kind == "hidden"),
        skipped=tuple(m for kind, m in kinds if kind == "skipped"),
    )


@dataclass(frozen=True, slots=True)
class StoredSignal:
    movie_id: int
    created_at: datetime


def add_signal(
    session: Session, user_id: int, kind: SignalKind, movie_id: int, now: datetime | None = None
) -> bool:
    """Record ``kind`` for the film; False (and nothing changed) when it was already there.
    The caller's write transaction holds the write lock between the select and the insert."""
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
    return bool(_rows_changed(result))


def user_signals(session: Session, user_id: int, kind: SignalKind) -> list[StoredSignal]:
    """The user's films of one kind, most recently added first; ties broken by movie id."""
    stmt = (
        select(UserSignal.movie_id, UserSignal.created_at)
        .where(UserSignal.user_id == user_id, UserSignal.kind == kind)
        .order_by(UserSignal.created_at.desc(), UserSignal.movie_id)
    )
    return [StoredSignal(*row) for row in session.execute(stmt)]
#: The lists an export carries besides ratings.
EXPORTED_LISTS = ("watchlist", "hidden")


def user_list_entries(session: Session, user_id: int) -> list[tuple[str, int, datetime]]:
    """(list, movie_id, added_at) of the user's watchlist and hidden films, oldest first."""
    stmt = (
        select(UserSignal.kind, UserSignal.movie_id, UserSignal.created_at)
        .where(UserSignal.user_id == user_id, UserSignal.kind.in_(EXPORTED_LISTS))
        .order_by(UserSignal.created_at, UserSignal.movie_id)
    )
    return [(kind, movie_id, at) for kind, movie_id, at in session.execute(stmt)]


# -- rate limits and the health probe: the rate_limits table ------------------------------


def _take_rate_token(insert: Callable[[type[RateLimit]], Any]) -> Executable:
    """GCRA in one statement: move the key's ``tat`` on by ``interval`` if the subject is
    within its burst allowance (``tolerance``), else leave it and return no row."""
    now: BindParameter[float] = bindparam("now")
    interval: BindParameter[float] = bindparam("interval")
    tolerance: BindParameter[float] = bindparam("tolerance")
    stmt = insert(RateLimit).values(key=bindparam("key"), tat=now + interval)
    base = case((RateLimit.tat > now, RateLimit.tat), else_=now)
    return stmt.on_conflict_do_update(
        index_elements=[RateLimit.key],
        set_={"tat": base + interval},
        where=(base - now) <= tolerance,
    ).returning(RateLimit.tat)


def _upsert_probe(insert: Callable[[type[RateLimit]], Any]) -> Executable:
    stmt = insert(RateLimit).values(key=bindparam("key"), tat=bindparam("tat"))
    return stmt.on_conflict_do_update(
        index_elements=[RateLimit.key], set_={"tat": stmt.excluded.tat}
    )


_TAKE_RATE_TOKEN = _per_dialect(_take_rate_token)
_HEALTH_PROBE = _per_dialect(_upsert_probe)
_RATE_TAT = select(RateLimit.tat).where(RateLimit.key == bindparam("key"))


def take_rate_token(
    session: Session, key: str, *, now: float, interval: float, tolerance: float
) -> float:
    """Spend one action of ``key``'s allowance: 0.0 when allowed, else seconds to wait. Run in
    the caller's write transaction: the row is updated atomically, shared by every process."""
    connection = session.connection()
    params = {"key": key, "now": now, "interval": interval, "tolerance": tolerance}
    stmt = _TAKE_RATE_TOKEN[connection.dialect.name]
    if connection.execute(stmt, params).first() is not None:
        return 0.0
    tat = connection.execute(_RATE_TAT, {"key": key}).scalar_one()
    return max(tat - now - tolerance, 0.0) or interval


def delete_rate_limits(session: Session, keys: Sequence[str], prefixes: Sequence[str]) -> int:
    """Delete the rate-limit rows with these keys or starting with these prefixes; how many."""
    where: list[ColumnElement[bool]] = [RateLimit.key.in_(keys)] if keys else []
    where += [RateLimit.key.startswith(prefix, autoescape=True) for prefix in prefixes]
    if not where:
        return 0
    return _rows_changed(session.execute(delete(RateLimit).where(or_(*where))))


def prune_rate_limits(session: Session, now: float) -> int:
    """Delete the rows whose allowance is full again (same as no row); how many."""
    result = session.execute(delete(RateLimit).where(RateLimit.tat <= literal(now)))
    return _rows_changed(result)


def record_health_probe(session: Session, now: float) -> None:
    """Write one row (the caller commits it): proof that the database takes writes."""
    connection = session.connection()
    connection.execute(_HEALTH_PROBE[connection.dialect.name], {"key": "health:probe", "tat": now})


#: Less room than this for the database to grow, and /health calls it full: enough for a few
#: thousand ratings, so a replica leaves the load balancer before writes start failing.
MIN_ROOM_BYTES = 1 << 20


def storage_full(session: Session) -> bool:
    """Whether a SQLite database has less than ``MIN_ROOM_BYTES`` left to grow into (free
    pages, plus pages below ``max_page_count`` bounded by the disk's free space). The write
    probe alone rewrites one row in place and goes on succeeding when no new rating fits. Always
    False elsewhere: PostgreSQL's log makes a full disk fail the probe itself.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return False
    pragma = connection.exec_driver_sql
    page_size = pragma("PRAGMA page_size").scalar_one()
    inside = pragma("PRAGMA freelist_count").scalar_one() * page_size
    growth = (
        pragma("PRAGMA max_page_count").scalar_one() - pragma("PRAGMA page_count").scalar_one()
    ) * page_size
    database = connection.engine.url.database
    if database:
        disk = os.statvfs(os.path.dirname(os.path.abspath(database)))
        growth = min(growth, disk.f_bavail * disk.f_frsize)
    room = inside + growth
    return room < MIN_ROOM_BYTES
