"""Alembic environment: the target schema is ``db.models.Base.metadata``.

``db.migrate.upgrade(engine)`` hands over a connection already inside its locked write
transaction (``config.attributes["connection"]``); the ``alembic`` command line builds the
engine from ``DATABASE_URL`` with the service's settings and takes the same lock.
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
