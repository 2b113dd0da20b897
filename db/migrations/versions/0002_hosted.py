"""Hosted: rate limits shared by every replica, and user ids that are never reused.

- ``rate_limits``: one row per limited subject (``api.limits.RateLimiter``).
- SQLite: ``users`` is rebuilt with ``AUTOINCREMENT`` (SQLite cannot add it in place). A plain
  ``INTEGER PRIMARY KEY`` hands out max(id)+1, so deleting the newest user gave their id to
  the next sign-up. PostgreSQL's ``BIGSERIAL`` sequence never goes back: nothing to do there.

The rebuild keeps foreign keys on and runs in the caller's one transaction: ``ratings`` is
parked in a table without a foreign key while ``users`` is swapped (dropping ``users`` with
``ratings`` still pointing at it would cascade-delete every rating), then restored.

Revision ID: 0002_hosted
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_hosted"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_RATINGS = """CREATE TABLE ratings (
    user_id INTEGER NOT NULL,
    movie_id INTEGER NOT NULL,
    rating FLOAT NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, movie_id),
    CONSTRAINT ck_ratings_rating_range CHECK (rating >= 0.5 AND rating <= 5.0),
    FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
) WITHOUT ROWID"""

_USERS = """CREATE TABLE users (
    id INTEGER NOT NULL PRIMARY KEY {autoincrement},
    token_hash VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL,
    UNIQUE (token_hash)
)"""


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(100), primary_key=True, nullable=False),
        sa.Column("tat", sa.Float(53), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_users(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_users(autoincrement=False)
    op.drop_table("rate_limits")


def _rebuild_sqlite_users(*, autoincrement: bool) -> None:
    execute = op.execute
    execute("CREATE TABLE _ratings_parked AS SELECT * FROM ratings")
    execute("DROP TABLE ratings")
    execute(
        _USERS.format(autoincrement="AUTOINCREMENT" if autoincrement else "").replace(
            "CREATE TABLE users", "CREATE TABLE _users_new"
        )
    )
    execute(
        "INSERT INTO _users_new (id, token_hash, created_at) "
        "SELECT id, token_hash, created_at FROM users"
    )
    execute("DROP TABLE users")
    execute("ALTER TABLE _users_new RENAME TO users")
    execute(_RATINGS)
    execute(
        "INSERT INTO ratings (user_id, movie_id, rating, created_at, updated_at) "
        "SELECT user_id, movie_id, rating, created_at, updated_at FROM _ratings_parked"
    )
    execute("DROP TABLE _ratings_parked")
    execute("CREATE INDEX ix_ratings_user_updated ON ratings (user_id, updated_at)")
