"""The schema of the first release (users and their ratings), as ``create_all`` made it.

A database made by that release has these tables but no ``alembic_version``;
``db.migrate.upgrade`` stamps it at this revision instead of creating them again.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

#: 64-bit ids; SQLite only auto-increments a column declared exactly ``INTEGER PRIMARY KEY``.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, primary_key=True, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "ratings",
        sa.Column(
            "user_id",
            _ID,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("movie_id", _ID, primary_key=True, nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating >= 0.5 AND rating <= 5.0", name="ck_ratings_rating_range"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_ratings_user_updated", "ratings", ["user_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_ratings_user_updated", table_name="ratings")
    op.drop_table("ratings")
    op.drop_table("users")
