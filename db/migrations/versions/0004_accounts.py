"""Accounts: several revocable tokens per user, usernames and passwords.

Moves each ``users.token_hash`` into the new ``tokens`` table (existing users keep signing in
with the token they have), then drops the column. ``credentials`` holds the optional username
(unique case-insensitively through the lower-cased ``username_key``) and argon2id hash.

SQLite cannot drop a UNIQUE column in place, so Alembic's batch mode rebuilds ``users``: it
drops the old table, and with foreign keys on (as ``db.session`` connects) that DROP deletes
every row referencing it through ``ON DELETE CASCADE``, the ratings included. The rebuild
therefore happens before the new tables exist, with the rows of every table referencing
``users`` kept aside and put back (``_rebuild_users``). PostgreSQL drops the column in place.

Revision ID: 0004_accounts
Revises: 0003_user_signals
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0004_accounts"
down_revision = "0003_user_signals"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE _tokens_0004 AS SELECT id AS user_id, token_hash, created_at FROM users"
    )
    _rebuild_users(lambda batch: batch.drop_column("token_hash"))
    op.create_table(
        "tokens",
        sa.Column("id", Int64, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", Int64, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "credentials",
        sa.Column(
            "user_id", Int64, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("username_key", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    # Data migration: every existing user's token becomes their first token row.
    op.execute(
        "INSERT INTO tokens (user_id, token_hash, created_at, last_used_at) "
        "SELECT user_id, token_hash, created_at, created_at FROM _tokens_0004"
    )
    op.drop_table("_tokens_0004")


def downgrade() -> None:
    # The newest live token of each user goes back; other devices' tokens are lost.
    op.execute(
        "CREATE TABLE _tokens_0004 AS SELECT u.id AS user_id, (SELECT t.token_hash FROM "
        "tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL ORDER BY t.id DESC "
        "LIMIT 1) AS token_hash FROM users u"
    )
    op.drop_table("credentials")
    op.drop_index("ix_tokens_user_id", "tokens")
    op.drop_table("tokens")
    op.execute(  # users without a live token could never sign in again: they go
        "DELETE FROM users WHERE id IN (SELECT user_id FROM _tokens_0004 "
        "WHERE token_hash IS NULL)"
    )

    def restore(batch: BatchOperations) -> None:
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))

    _rebuild_users(restore)
    op.execute(
        "UPDATE users SET token_hash = (SELECT k.token_hash FROM _tokens_0004 k "
        "WHERE k.user_id = users.id)"
    )
    def require_token(batch: BatchOperations) -> None:
        batch.alter_column("token_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])

    _rebuild_users(require_token)
    op.drop_table("_tokens_0004")


def _rebuild_users(change: Callable[[BatchOperations], None]) -> None:
    """Apply ``change`` to ``users`` in batch mode, keeping the rows of ``_CHILDREN`` that a
    SQLite rebuild (DROP TABLE users) would cascade away, the table's AUTOINCREMENT (0002), and
    the highest id it ever handed out, so ids stay never reused across the rebuild."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    children = _children_of_users(bind) if sqlite else []
    for child in children:
        op.execute(f"CREATE TABLE _{child}_0004 AS SELECT * FROM {child}")
    issued = (
        bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'users'")).scalar()
        if sqlite and _has_table(bind, "sqlite_sequence")
        else None
    )
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        change(batch)
    if issued is not None:
        op.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'users'"))
        op.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', :seq)").bindparams(
                seq=issued
            )
        )
    for child in children:
        op.execute(f"INSERT OR IGNORE INTO {child} SELECT * FROM _{child}_0004")
        op.drop_table(f"_{child}_0004")


def _has_table(bind: sa.engine.Connection, name: str) -> bool:
    return name in sa.inspect(bind).get_table_names()


def _children_of_users(bind: sa.engine.Connection) -> list[str]:
    """Every table with a foreign key to ``users`` (ratings, and user_signals once 0003 ran)."""
    inspector = sa.inspect(bind)
    return [
        table
        for table in inspector.get_table_names()
        if any(fk["referred_table"] == "users" for fk in inspector.get_foreign_keys(table))
    ]
