"""Typed SQLAlchemy tables: who the users are, what they rated, and the signals they gave.

Films themselves are not stored here: the catalogue ships with the model artifact, so the
database holds only what people do (sign up, rate, hide, keep for later, skip), keyed by
MovieLens ``movie_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ml.rules import RATING_MAX, RATING_MIN

#: SQLite only auto-increments a column declared exactly ``INTEGER PRIMARY KEY``; elsewhere the
#: id is a 64-bit integer, which is also the bound the API enforces on user ids.
Int64 = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only clock the database sees)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite hands back naive
    datetimes, and the JSON would lose its ``+00:00``)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the metadata the migrations create."""


class User(Base):
    """Someone who signed up. Ids are never reused, even after a delete (SQLite's
    AUTOINCREMENT, PostgreSQL's sequence): a stale token or link never reaches a newer user."""

    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Token(Base):
    """One bearer token of a user (one per device or sign-in), kept as its SHA-256; a revoked
    token keeps its row (``revoked_at`` set), so its last use stays on record."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Int64, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Credential(Base):
    """A username and argon2id password hash, to sign in on another device; ``username_key``
    (lower-cased) is unique, ``username`` keeps the person's spelling."""

    __tablename__ = "credentials"

    user_id: Mapped[int] = mapped_column(
        Int64, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Rating(Base):
    """One user's rating of one film; re-rating updates the row in place. The primary key is
    the hot path's one range scan (WITHOUT ROWID on SQLite: the value is on the same page)."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(
            f"rating >= {RATING_MIN} AND rating <= {RATING_MAX}", name="ck_ratings_rating_range"
        ),
        Index("ix_ratings_user_updated", "user_id", "updated_at"),
        {"sqlite_with_rowid": False},
    )

    user_id: Mapped[int] = mapped_column(
        Int64, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(Int64, primary_key=True)
    rating: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RateLimit(Base):
    """One rate limit's state, shared by every API process (``api.limits.RateLimiter``):
    ``key`` names the limit and subject (``write:42``), ``tat`` is GCRA's "theoretical arrival
    time" in Unix seconds. A row whose ``tat`` has passed is the same as no row."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    tat: Mapped[float] = mapped_column(Float(53))


#: What a person can say about a film besides rating it: "Not interested" (``hidden``),
#: "Want to watch" (``watchlist``) and the onboarding deck's "Haven't seen it" (``skipped``).
SignalKind = Literal["hidden", "watchlist", "skipped"]
SIGNAL_KINDS: Final[tuple[SignalKind, ...]] = get_args(SignalKind)
#: Signals that keep a film out of the user's lists, the deck and "More like this".
EXCLUDING_SIGNALS: Final[tuple[SignalKind, ...]] = ("hidden", "skipped")


class UserSignal(Base):
    """One user's signal about one film; setting it twice keeps the first row. One table for
    the three kinds: the ranking reads a user's excluding ones in one range scan."""

    __tablename__ = "user_signals"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind}'" for kind in SIGNAL_KINDS) + ")",
            name="ck_user_signals_kind",
        ),
        {"sqlite_with_rowid": False},
    )

    user_id: Mapped[int] = mapped_column(
        Int64, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    movie_id: Mapped[int] = mapped_column(Int64, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
