"""Alembic environment: the target schema is ``db.models.Base.metadata``.

Two ways in:
- ``db.migrate.upgrade(engine)`` (the API on start, ``make migrate``, the tests) hands over a
  connection already inside its write transaction (``config.attributes["connection"]``), so
  the whole upgrade is one transaction taken under the database's write lock.
- The ``alembic`` command line (run at the repository root, beside ``alembic.ini``) builds the
  engine from ``DATABASE_URL`` with the service's own settings (``db.session.create_db_engine``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from db.models import Base

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch (copy-and-move) ops there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    # The command line: the service's engine settings and the same lock as the API's start.
    from db.migrate import locked_connection
    from db.session import create_db_engine
    from db.settings import DatabaseSettings

    engine = create_db_engine(DatabaseSettings().database_url)
    try:
        with locked_connection(engine) as locked:
            _configure_and_run(locked)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
