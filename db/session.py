"""Engine and session factory built from a database URL.

Any SQLAlchemy URL works. SQLite (the default) gets what a multi-threaded web server needs:
WAL, a busy timeout, foreign keys, and explicit ``BEGIN`` handling so a write transaction takes
the write lock up front (``BEGIN IMMEDIATE``) instead of failing on a lock upgrade. Its
writers also take turns before asking SQLite (``db.write_turns``).
"""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from db.write_turns import WriteTurns, lock_path_of

SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

#: Execution option that makes the SQLite ``begin`` hook emit ``BEGIN IMMEDIATE``.
_WRITE_OPTION = "cinematch_write"
#: Execution option that makes the SQLite ``begin`` hook emit nothing (``read_connection``).
_ONE_STATEMENT_OPTION = "cinematch_one_statement"


class DatabaseFileGone(exc.OperationalError):
    """The SQLite file was deleted or replaced under the running service: every write checks
    first, or it would be acknowledged on the deleted inode and vanish at the next restart."""


class _SqliteFile:
    """The SQLite file an engine opened, identified by device and inode."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None

    def remember(self) -> None:
        if self.identity is None:
            stat = self.path.stat()
            self.identity = (stat.st_dev, stat.st_ino)

    def check(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stat = None
        if stat is None or (self.identity and (stat.st_dev, stat.st_ino) != self.identity):
            raise DatabaseFileGone(
                "write", None, sqlite3.OperationalError(f"database file {self.path} is gone")
            )


_SQLITE_FILES: weakref.WeakKeyDictionary[Engine, _SqliteFile] = weakref.WeakKeyDictionary()
#: The turns of each SQLite engine's writers (other databases queue on their own locks).
_WRITE_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


class MissingDatabaseError(RuntimeError):
    """The SQLite file is not there and creating a new, empty one was not asked for."""


def create_db_engine(
    url: str,
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    create: bool = True,
    synchronous: str = "FULL",
) -> Engine:
    """Create the engine for ``url``; for a SQLite file, create its directory and tune it.

    ``create=False`` refuses a missing SQLite file (``MissingDatabaseError``): a vanished
    database must not silently start over empty. ``hide_parameters`` keeps bound values (token
    hashes among them) out of exception texts, and so out of the logs.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        raise ValueError(
            "in-memory SQLite is not supported: each pooled connection would see its own "
            "empty database; use a file URL such as sqlite:///data/cinematch.db"
        )
    if synchronous.upper() not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"SQLite synchronous must be one of {SQLITE_SYNCHRONOUS}")
    if not create and not Path(database).is_file():
        raise MissingDatabaseError(
            f"database file {database} does not exist; set CINEMATCH_CREATE_DB=true to "
            "create a new, empty one"
        )
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One connection per threadpool worker at peak; SQLite connections are cheap.
    engine = create_engine(url, pool_size=8, max_overflow=32, hide_parameters=True)
    _tune_sqlite(engine, busy_timeout_ms, synchronous.upper())
    file = _SQLITE_FILES[engine] = _SqliteFile(Path(database))
    event.listen(engine, "connect", lambda *_: file.remember())
    turns = _WRITE_TURNS[engine] = WriteTurns(
        lock_path_of(Path(database)), busy_timeout_ms / 1000
    )
    event.listen(engine, "engine_disposed", lambda _engine: turns.close())
    return engine


def _tune_sqlite(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (its legacy mode does not BEGIN
        # before SELECT) so that SQLAlchemy's transactions are real SQLite transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL needs a lock another process may briefly hold.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _switch_to_wal(cursor, busy_timeout_ms / 1000)
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before it is acknowledged (docs/operations.md, "Durability").
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction cannot upgrade its lock once another writer committed
        # (SQLITE_BUSY, no retry): writers lock up front and wait through busy_timeout.
        options = connection.get_execution_options()
        if options.get(_ONE_STATEMENT_OPTION, False):
            return  # autocommit: the one statement is its own transaction and snapshot
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION) else "BEGIN")


def _switch_to_wal(cursor: Any, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file: SQLite
    answers it "locked" at once, without its busy handler, when workers open a new file together.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (responses are built after committing)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection for ONE read statement (a session doubled /recommend's read CPU).

    On SQLite no ``BEGIN`` is sent: one statement in autocommit mode reads one snapshot. Several
    statements would each see their own snapshot: use a session for those.
    """
    with engine.connect() as connection:
        yield connection.execution_options(**{_ONE_STATEMENT_OPTION: True})


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction (``BEGIN IMMEDIATE`` on SQLite), committed at
    the end of the block: processes doing this together take turns instead of failing."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run the block as ONE write transaction (``BEGIN IMMEDIATE`` on SQLite): commit on
    success, roll back on any error. A read transaction left open by earlier lookups (the token
    check) is ended first, so the write lock is requested only once the request is allowed.
    """
    _end_reads(session)
    turns = _WRITE_TURNS.get(session.get_bind().engine)
    with turns.turn() if turns is not None else nullcontext(), _begin_write(session):
        yield session


def _end_reads(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_transaction would discard pending ORM changes")
    if session.in_transaction():
        session.rollback()


@contextmanager
def _begin_write(session: Session) -> Iterator[None]:
    with session.begin():
        connection = session.connection(execution_options={_WRITE_OPTION: True})
        file = _SQLITE_FILES.get(connection.engine)
        if file is not None:
            file.check()  # under the write lock: nothing is written to a deleted file
        yield
