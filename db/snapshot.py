"""The one read on /recommend's hot path: may this token read this user, and all their ratings.

One indexed statement answers both questions a recommendation needs: the users row by primary
key, left-joined to the user's live token with the presented hash (the unique index on
``tokens.token_hash``) and to the user's range of the ratings primary key. It returns no row
for an unknown user, rows with a null token id when the token is not (or no longer) theirs,
and one row with no rating for a user who rated nothing.

Why it bypasses SQLAlchemy's ``Connection``: on this path the SQLite query takes ~15 µs and
SQLAlchemy's execution around it (the ``begin`` event, result machinery, reset) ~100 µs, a
third of the whole request. Measured in-process: 25 µs this way, 130 µs through a Connection,
240 µs as the two ORM-session queries it replaced. The statement is still written with
SQLAlchemy Core and compiled once for the engine's dialect, so it runs on any database
SQLAlchemy supports; it runs on a pooled DBAPI connection as one autocommit statement, which
sees one consistent state on its own. Driver errors are re-raised as SQLAlchemy's, so the
API's 503 handling treats them like any other query's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exc,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine.interfaces import DBAPIModule

from db.models import EXCLUDING_SIGNALS, Rating, Token, User, UserSignal


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """What the database holds for one user right now."""

    #: The id of the user's live token that was presented, or None when it is not theirs.
    token_id: int | None
    #: ``{movie_id: rating}`` in movie-id order, so equal rating sets compare and hash equal.
    ratings: dict[int, float]


_SNAPSHOT = (
    select(Token.id, Rating.movie_id, Rating.rating)
    .select_from(User)
    .outerjoin(
        Token,
        and_(
            Token.user_id == User.id,
            Token.token_hash == bindparam("token_hash"),
            Token.revoked_at.is_(None),
        ),
    )
    .outerjoin(Rating, Rating.user_id == User.id)
    .where(User.id == bindparam("user_id"))
    .order_by(Rating.movie_id)
)


#: Which signals are the user's films to leave out: hidden or skipped. The kinds are written
#: into the SQL (constants of the code, not input): an expanding IN parameter cannot be
#: compiled once ahead of time.
_EXCLUDING = (
    UserSignal.user_id == bindparam("user_id"),
    UserSignal.kind.in_([literal_column(f"'{kind}'") for kind in EXCLUDING_SIGNALS]),
)

#: The films a user hid or skipped, which /recommend leaves out (same fast path).
_EXCLUDED = (
    select(UserSignal.kind, UserSignal.movie_id).where(*_EXCLUDING).order_by(UserSignal.movie_id)
)


#: /recommend's whole read as ONE statement: the snapshot rows (kind NULL), then the user's
#: excluding signals (kind set), in movie-id order: one pool checkout and one execute in the
#: worker thread instead of two, each a trip through the GIL it shares with the busy event
#: loop (bench/db_contention.py case 3, docs/operations.md, "Hosted").
_RECOMMEND_READ = union_all(
    _SNAPSHOT.order_by(None).add_columns(cast(null(), String(16)).label("kind")),
    select(cast(null(), Integer), UserSignal.movie_id, cast(null(), Float), UserSignal.kind).where(
        *_EXCLUDING
    ),
).order_by(literal_column("2"))


@dataclass(frozen=True, slots=True)
class Excluded:
    """Films never to show one user again, by why (ids in order)."""

    hidden: tuple[int, ...]
    skipped: tuple[int, ...]

    @property
    def all(self) -> tuple[int, ...]:
        return tuple(sorted({*self.hidden, *self.skipped}))


class SnapshotReader:
    """Runs the snapshot query on ``engine`` (compiled once, at construction)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.engine = engine
        self._dbapi_error: type[DBAPIModule.Error] = engine.dialect.loaded_dbapi.Error
        self._snapshot = self._compile(_SNAPSHOT)
        self._excluded = self._compile(_EXCLUDED)
        self._recommend = self._compile(_RECOMMEND_READ)

    def excluded(self, user_id: int) -> Excluded:
        """The films the user hid or skipped (read after the token check).

        ~30–90 µs this way against ~470 µs through an ORM session (measured in-process on
        SQLite), which would have been a third of a cached /recommend.
        """
        rows = self._fetch(*self._excluded, {"user_id": user_id})
        return _excluded_of(rows)

    def read(self, user_id: int, token_hash: str) -> UserSnapshot | None:
        """Whether ``token_hash`` is the user's live token, and the user's ratings; None when
        there is no such user."""
        rows = self._fetch(*self._snapshot, {"user_id": user_id, "token_hash": token_hash})
        return _snapshot_of(rows)

    def read_with_excluded(
        self, user_id: int, token_hash: str
    ) -> tuple[UserSnapshot | None, Excluded]:
        """``read`` and ``excluded`` in one statement (/recommend needs both)."""
        rows = self._fetch(*self._recommend, {"user_id": user_id, "token_hash": token_hash})
        own = [row[:3] for row in rows if row[3] is None]
        return _snapshot_of(own), _excluded_of([(row[3], row[1]) for row in rows if row[3]])

    def _compile(self, statement: Any) -> tuple[str, tuple[str, ...] | None]:
        """The statement's SQL for this engine, and its parameter order if positional."""
        dialect = self._engine.dialect
        compiled = statement.compile(dialect=dialect)
        positional = tuple(compiled.positiontup or ()) if dialect.positional else None
        return str(compiled), positional

    def _fetch(
        self, sql: str, positional: tuple[str, ...] | None, named: dict[str, Any]
    ) -> Sequence[Any]:
        """Run one compiled statement on a pooled DBAPI connection (see the module docstring)."""
        params: Any = named if positional is None else tuple(named[n] for n in positional)
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchall()
            finally:
                cursor.close()
        except self._dbapi_error as error:
            if self._engine.dialect.is_disconnect(error, raw.dbapi_connection, None):
                raw.invalidate(error)
            raise exc.DBAPIError.instance(
                sql,
                None,
                error,
                self._dbapi_error,
                hide_parameters=True,
                dialect=self._engine.dialect,
            ) from error
        finally:
            raw.close()


def _snapshot_of(rows: Sequence[Any]) -> UserSnapshot | None:
    """The snapshot statement's rows (token id, movie id, rating) as a ``UserSnapshot``."""
    if not rows:
        return None
    ratings = {int(m): float(r) for _, m, r in rows if m is not None}
    token_id = rows[0][0]
    return UserSnapshot(token_id=None if token_id is None else int(token_id), ratings=ratings)


def _excluded_of(rows: Sequence[Any]) -> Excluded:
    """(kind, movie id) rows in movie-id order as ``Excluded``."""
    return Excluded(
        hidden=tuple(int(m) for kind, m in rows if kind == "hidden"),
        skipped=tuple(int(m) for kind, m in rows if kind == "skipped"),
    )
