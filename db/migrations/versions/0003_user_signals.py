"""User signals: hidden ("Not interested"), watchlist ("Want to watch") and skipped films.

Revision ID: 0003_user_signals
Revises: 0002_hosted
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.models import UTCDateTime

revision = "0003_user_signals"
down_revision = "0002_hosted"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_signals",
        sa.Column(
            "user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column(
            "movie_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('hidden', 'watchlist', 'skipped')", name="ck_user_signals_kind"
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("user_signals")
