"""Start-up checks: a service that cannot start says why in ONE line naming the file or URL.

"cannot start: database file /data/cinematch.db is not a SQLite database (file is not a
database)", not 40 lines of traceback from inside Starlette's lifespan (``api.main`` turns a
``StartupError`` into that line and exit status 3). Only failures with a known cause become
one; passwords in a ``DATABASE_URL`` are never repeated.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from api.settings import Settings
from db.migrate import upgrade
from db.session import MissingDatabaseError, create_db_engine


class StartupError(RuntimeError):
    """A fault in the service's surroundings (model, database), as one line for the log."""


def open_database(settings: Settings) -> Engine:
    """The engine for the configured database, its schema made ready: how the app's lifespan
    opens it, and so what ``check_database`` tries before serving."""
    engine = create_db_engine(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        create=settings.create_db,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        if settings.migrate_on_start:
            upgrade(engine)
        else:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_database(settings: Settings) -> None:
    """Open the database as the app will (``open_database``), or raise ``StartupError``."""
    try:
        open_database(settings).dispose()
    except Exception as error:
        reason = describe_database_error(settings.database_url, error)
        if reason is None:
            raise
        raise StartupError(reason) from None


def describe_database_error(url: str, error: Exception) -> str | None:
    """One line saying what is wrong with the database at ``url``; None if the cause is unknown."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return (
            "DATABASE_URL is not a database URL (expected e.g. sqlite:///data/cinematch.db or "
            "postgresql+psycopg://user:password@host:5432/cinematch)"
        )
    where = _where(parsed)
    if isinstance(error, MissingDatabaseError):
        return str(error)
    if isinstance(error, NoSuchModuleError):
        return (
            f"{where}: unknown database scheme {parsed.drivername!r} "
            "(use sqlite:/// or postgresql+psycopg://)"
        )
    if isinstance(error, ImportError):
        return f"{where}: the database driver is not installed ({error})"
    if isinstance(error, ValueError):  # create_db_engine's refusals, e.g. in-memory SQLite
        return f"{where}: {error}"
    if isinstance(error, OSError):  # the folder of a SQLite file could not be made
        return f"{where}: {error.strerror or error}"
    if isinstance(error, DBAPIError):
        reason = _one_line(str(error.orig) if error.orig is not None else type(error).__name__)
        if parsed.get_backend_name() == "sqlite":
            if "not a database" in reason or "malformed" in reason:
                return f"{where} is not a SQLite database, or is damaged ({reason})"
            return f"{where} cannot be opened ({reason})"
        return f"{where} cannot be reached ({reason})"
    return None


def _where(parsed: URL) -> str:
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"database file {parsed.database}"
    return f"database {parsed.render_as_string(hide_password=True)}"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
