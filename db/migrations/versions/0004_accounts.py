"""Accounts: several revocable tokens per user, usernames and passwords.

Moves each ``users.token_hash`` into the new ``tokens`` table (existing users keep signing in
with the token they have), then drops the column. ``credentials`` holds the optional username
(unique case-insensitively through the lower-cased ``username_key``) and argon2id hash.

Revision ID: 0004_accounts
Revises: 0003_user_signals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.models import UTCDateTime

revision = "0004_accounts"
down_revision = "0003_user_signals"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", Int64, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", Int64, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "credentials",
        sa.Column(
            "user_id",
            Int64,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("username_key", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    # Data migration: every existing user's token becomes their first token row.
    op.execute(
        "INSERT INTO tokens (user_id, token_hash, created_at, last_used_at) "
        "SELECT id, token_hash, created_at, created_at FROM users"
    )
    with op.batch_alter_table("users") as batch:  # SQLite rebuilds the table
        batch.drop_column("token_hash")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
    # The newest live token of each user goes back; other devices' tokens are lost.
    op.execute(
        "UPDATE users SET token_hash = (SELECT t.token_hash FROM tokens t "
        "WHERE t.user_id = users.id AND t.revoked_at IS NULL ORDER BY t.id DESC LIMIT 1)"
    )
    op.execute("DELETE FROM users WHERE token_hash IS NULL")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
    op.drop_table("credentials")
    op.drop_index("ix_tokens_user_id", "tokens")
    op.drop_table("tokens")
