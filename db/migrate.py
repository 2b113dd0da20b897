"""Alembic owns the schema: bring a database to the newest revision (``python -m db.migrate``).

The migrations live in ``db/migrations`` (``alembic.ini`` points there). The API runs
``upgrade`` on start unless ``CINEMATCH_MIGRATE_ON_START=false``. Replicas starting together
take turns: the upgrade is one transaction under the write lock (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL an advisory lock), and the second finds nothing left to do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from db.session import create_db_engine, write_connection
from db.settings import DatabaseSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The revision a database made by the first release (``create_all``, no version table) is at.
BASELINE = "0001_initial"
#: Any fixed 64-bit number: the key of the PostgreSQL advisory lock migrations take turns on.
_PG_LOCK_KEY = 0x43494E454D41  # "CINEMA"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@contextmanager
def locked_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction that other migrators wait for."""
    with write_connection(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield connection


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration (idempotent; safe for processes starting together)."""
    with locked_connection(engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and "users" in tables:
            command.stamp(config, BASELINE)  # made by the first release's create_all
        command.upgrade(config, revision)


def main() -> int:
    """``make migrate``: upgrade the database named by ``DATABASE_URL``."""
    engine = create_db_engine(DatabaseSettings().database_url, create=True)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            print(f"database at revision {current_revision(connection)}", file=sys.stderr)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
