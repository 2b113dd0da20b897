"""Migration 0004_accounts on a SQLite file holding today's schema: every user's token moves
into ``tokens`` and keeps working; downgrade gives the column back.

Runs the revision's own ``upgrade``/``downgrade`` through Alembic's operations directly, so it
needs no ``alembic.ini`` (the hosted-db branch wires the chain; this checks the data move).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.orm import Session

from db import repository
from db.session import create_db_engine

REVISION = Path(__file__).resolve().parents[2] / "db/migrations/versions/0004_accounts.py"


def load_revision():
    spec = importlib.util.spec_from_file_location("rev_0004_accounts", REVISION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tokens_move_out_of_users_and_back(tmp_path: Path) -> None:
    revision = load_revision()
    assert (revision.revision, revision.down_revision) == ("0004_accounts", "0003_user_signals")
    # As the app connects: foreign keys ON, so a rebuild of users would cascade to ratings.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:  # the users and ratings tables as main has them
        connection.exec_driver_sql(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, token_hash VARCHAR(64) NOT NULL "
            "UNIQUE, created_at DATETIME NOT NULL)"
        )
        connection.exec_driver_sql(
            "CREATE TABLE ratings (user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE "
            "CASCADE, movie_id INTEGER NOT NULL, rating FLOAT, created_at DATETIME, "
            "updated_at DATETIME, PRIMARY KEY (user_id, movie_id))"
        )
        connection.exec_driver_sql(
            "INSERT INTO users VALUES (1, '" + "a" * 64 + "', '2024-01-01 00:00:00.000000'), "
            "(2, '" + "b" * 64 + "', '2024-01-02 00:00:00.000000')"
        )
        connection.exec_driver_sql(
            "INSERT INTO ratings VALUES (1, 5, 4.0, NULL, NULL), (2, 7, 2.5, NULL, NULL)"
        )
        connection.exec_driver_sql(  # as 0003_user_signals adds it: any child table survives
            "CREATE TABLE user_signals (user_id INTEGER NOT NULL REFERENCES users(id) ON "
            "DELETE CASCADE, kind VARCHAR(16), movie_id INTEGER, PRIMARY KEY (user_id, kind, "
            "movie_id))"
        )
        connection.exec_driver_sql("INSERT INTO user_signals VALUES (2, 'watchlist', 9)")
        with Operations.context(MigrationContext.configure(connection)):
            revision.upgrade()
    columns = {c["name"] for c in sa.inspect(engine).get_columns("users")}
    assert columns == {"id", "created_at"}
    with Session(engine) as session:  # every route reads the moved tokens
        assert repository.live_token(session, "a" * 64)[1] == 1
        assert repository.live_token(session, "b" * 64)[1] == 2
        assert repository.user_ratings(session, 1) == {5: 4.0}
        assert repository.user_ratings(session, 2) == {7: 2.5}
    with engine.connect() as connection:
        signals = connection.exec_driver_sql("SELECT user_id, movie_id FROM user_signals").all()
    assert signals == [(2, 9)]
    with engine.begin() as connection:
        with Operations.context(MigrationContext.configure(connection)):
            revision.downgrade()
        rows = connection.exec_driver_sql("SELECT id, token_hash FROM users ORDER BY id").all()
        kept = connection.exec_driver_sql("SELECT user_id, movie_id FROM ratings").all()
    assert rows == [(1, "a" * 64), (2, "b" * 64)]
    assert sorted(kept) == [(1, 5), (2, 7)]  # no rating lost to the rebuilds' cascades
    assert "tokens" not in sa.inspect(engine).get_table_names()
