"""Alembic owns the schema: a first-release database upgrades losing nothing, and the
migrated schema is exactly the models' (so a new table without its migration fails here)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url, text

from db import repository
from db.migrate import current_revision, head_revision, upgrade
from db.models import Base
from db.session import create_db_engine, create_session_factory, write_transaction

#: The DDL the first release's ``create_all`` emitted (SQLAlchemy 2.1, before Alembic).
FIRST_RELEASE_DDL = {
    "sqlite": [
        """CREATE TABLE users (
            id INTEGER NOT NULL, token_hash VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL,
            PRIMARY KEY (id), UNIQUE (token_hash))""",
        """CREATE TABLE ratings (
            user_id INTEGER NOT NULL, movie_id INTEGER NOT NULL, rating FLOAT NOT NULL,
            created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
            PRIMARY KEY (user_id, movie_id),
            CONSTRAINT ck_ratings_rating_range CHECK (rating >= 0.5 AND rating <= 5.0),
            FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE) WITHOUT ROWID""",
        "CREATE INDEX ix_ratings_user_updated ON ratings (user_id, updated_at)",
    ],
    "postgresql": [
        """CREATE TABLE users (
            id BIGSERIAL NOT NULL, token_hash VARCHAR(64) NOT NULL,
            created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id), UNIQUE (token_hash))""",
        """CREATE TABLE ratings (
            user_id BIGINT NOT NULL, movie_id BIGINT NOT NULL, rating FLOAT NOT NULL,
            created_at TIMESTAMP WITH TIME ZONE NOT NULL,
            updated_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (user_id, movie_id),
            CONSTRAINT ck_ratings_rating_range CHECK (rating >= 0.5 AND rating <= 5.0),
            FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE)""",
        "CREATE INDEX ix_ratings_user_updated ON ratings (user_id, updated_at)",
    ],
}

USERS = [(1, "a" * 64, "2024-01-01 10:00:00"), (2, "b" * 64, "2024-01-02 11:00:00")]
RATINGS = [
    (1, 1, 4.5, "2024-01-01 10:01:00", "2024-01-01 10:05:00"),
    (1, 2571, 0.5, "2024-01-01 10:02:00", "2024-01-01 10:02:00"),
    (2, 1, 5.0, "2024-01-02 11:01:00", "2024-01-02 11:01:00"),
]


def first_release_database(url: str) -> None:
    """Build the first release's schema with its own DDL and fill it, without Alembic."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    raw = create_engine(url)
    with raw.begin() as connection:
        for statement in FIRST_RELEASE_DDL[connection.dialect.name]:
            connection.execute(text(statement))
        connection.execute(
            text("INSERT INTO users (id, token_hash, created_at) VALUES (:i, :t, :c)"),
            [{"i": i, "t": t, "c": c} for i, t, c in USERS],
        )
        connection.execute(
            text(
                "INSERT INTO ratings (user_id, movie_id, rating, created_at, updated_at) "
                "VALUES (:u, :m, :r, :c, :up)"
            ),
            [{"u": u, "m": m, "r": r, "c": c, "up": up} for u, m, r, c, up in RATINGS],
        )
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT setval('users_id_seq', 2)"))
    raw.dispose()


def rows(connection) -> tuple[list, list]:
    """Every user (with their token) and rating; tokens live in ``tokens`` from 0004 on."""
    if "tokens" in inspect(connection).get_table_names():
        users_sql = (
            "SELECT u.id, t.token_hash, u.created_at FROM users u "
            "JOIN tokens t ON t.user_id = u.id ORDER BY u.id"
        )
    else:
        users_sql = "SELECT id, token_hash, created_at FROM users ORDER BY id"
    users = connection.execute(text(users_sql)).all()
    ratings = connection.execute(
        text(
            "SELECT user_id, movie_id, rating, created_at, updated_at FROM ratings "
            "ORDER BY user_id, movie_id"
        )
    ).all()
    return users, ratings


def test_a_first_release_database_upgrades_to_head_losing_nothing(database_url):
    first_release_database(database_url)
    engine = create_db_engine(database_url)
    with engine.connect() as connection:
        before = rows(connection)
        assert current_revision(connection) is None
    upgrade(engine)
    upgrade(engine)  # a second start finds nothing to do
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert rows(connection) == before
        assert len(before[0]) == 2 and len(before[1]) == 3
    with engine.begin() as connection:  # still enforced after the upgrade
        connection.execute(text("DELETE FROM users WHERE id = 1"))
        assert connection.execute(text("SELECT count(*) FROM ratings")).scalar() == 1
    # Ids are never reused from now on, also for a database the first release made.
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = 2"))
    sessions = create_session_factory(engine)
    with sessions() as session, write_transaction(session):
        assert repository.create_user(session, "c" * 64) == 3
    engine.dispose()


def test_the_migrated_schema_is_exactly_the_models(database_url):
    """A table or column added to db/models.py without a migration shows up as a diff here."""
    engine = create_db_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_same_schema_comes_from_a_first_release_database_and_a_new_one(
    database_url, postgres, tmp_path
):
    first_release_database(database_url)
    old = create_db_engine(database_url)
    upgrade(old)
    fresh_url = (
        f"sqlite:///{tmp_path / 'fresh.db'}"
        if database_url.startswith("sqlite")
        else postgres.create_database()
    )
    fresh = create_db_engine(fresh_url)
    upgrade(fresh)

    def shape(engine):
        inspector = inspect(engine)
        return {
            table: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                inspector.get_pk_constraint(table)["constrained_columns"],
                sorted(tuple(i["column_names"]) for i in inspector.get_indexes(table)),
            )
            for table in sorted(inspector.get_table_names())
        }

    assert shape(old) == shape(fresh)
    old.dispose()
    fresh.dispose()
