"""db/migrations/versions/0003_user_signals.py builds the table db/models.py declares.

Run through Alembic's own operations on a bare connection (no env.py needed), so the file is
proved before the branch that adds Alembic's configuration is merged with it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from db.models import Base

MIGRATION = Path(__file__).resolve().parents[2] / "db/migrations/versions/0003_user_signals.py"


def load_migration():
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shape(connection, table: str) -> tuple:
    found = inspect(connection)
    columns = {c["name"]: (str(c["type"]), c["nullable"]) for c in found.get_columns(table)}
    return (columns, sorted(found.get_pk_constraint(table)["constrained_columns"]),
            [fk["referred_table"] for fk in found.get_foreign_keys(table)])


def test_the_migration_creates_what_the_models_declare_and_drops_it_again(tmp_path):
    migration = load_migration()
    assert (migration.revision, migration.down_revision) == ("0003_user_signals", "0002_hosted")
    declared = create_engine(f"sqlite:///{tmp_path / 'declared.db'}")
    Base.metadata.create_all(declared)
    migrated = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with migrated.begin() as connection:
        Base.metadata.tables["users"].create(connection)
        with Operations.context(MigrationContext.configure(connection)):
            migration.upgrade()
    with declared.connect() as want, migrated.connect() as got:
        assert shape(got, "user_signals") == shape(want, "user_signals")
    with migrated.begin() as connection:
        connection.execute(text("INSERT INTO users (id, created_at) VALUES (1, '2026-01-01')"))
        # The kind is checked by the database too.
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(text(
                "INSERT INTO user_signals VALUES (1, 'loved', 5, '2026-01-01')"))
        with Operations.context(MigrationContext.configure(connection)):
            migration.downgrade()
        assert "user_signals" not in inspect(connection).get_table_names()
