"""SQLite's writers take turns before asking SQLite: a lock of the process, then a file lock
beside the database that every process serving it shares.

Why: a write transaction starts with ``BEGIN IMMEDIATE`` and SQLite queues writers through its
busy handler, which polls with sleeps that grow to 100 ms. Writers racing for its lock were
each served in ~1 ms, yet the unlucky ones slept long after the lock was free. POST /rate at
16 clients on SQLite (bench/ab.py, ``--scenario rate``, docs/operations.md, "Writers take
turns"): one worker, p99 584 ms without the process lock; two workers, with the process lock
alone, p99 ~250 ms, because the two processes' writers still met in SQLite's busy handler.

How: a writer takes its process's ``threading.Lock`` (woken the moment it is free; a wait
longer than the busy timeout is SQLite's "database is locked"), then ``fcntl.flock`` on
``<database>-writers.lock``, so only one thread per process ever waits for the file lock.
SQLite's own lock is then almost always free when ``BEGIN IMMEDIATE`` asks for it. Neither
lock replaces SQLite's: they only order the writers that will ask for it.

The file lock is waited for in the kernel (a blocking ``flock``), which wakes the waiter the
moment the holder lets go. Polling it instead (tries 50 µs to 1 ms apart) let a process whose
next writer was already queued take it again and again before the other process's poller
woke: POST /rate p99 at 16 clients, 2 workers, same run: 130 ms polling, 88 ms blocking.
``flock`` has no timeout, but its holder holds it for one write transaction only, whose
``BEGIN IMMEDIATE`` waits at most the busy timeout; a holder that dies (``kill -9``
included) lets go at once. Where it cannot be had (no ``fcntl``, a read-only folder) the
process lock and SQLite's busy handler remain.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import exc

try:
    import fcntl
except ImportError:  # Windows: the process lock alone
    fcntl = None  # type: ignore[assignment]


def lock_path_of(database: Path) -> Path:
    """The file the processes serving ``database`` lock to take turns (beside it)."""
    return database.with_name(database.name + "-writers.lock")


def database_locked() -> exc.OperationalError:
    """What SQLite says when its busy timeout runs out, so callers handle one error."""
    return exc.OperationalError(
        "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
    )


class WriteTurns:
    """The turns of one SQLite file's writers; a wait longer than ``timeout`` s is an error."""

    def __init__(self, lock_path: Path, timeout: float) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._in_process = threading.Lock()
        self._fd: int | None = None
        self._file_lock_usable = fcntl is not None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this process's turn and the file lock for the block."""
        if not self._in_process.acquire(timeout=self.timeout):
            raise database_locked()
        try:
            locked = self._take_file_lock()
        except BaseException:
            self._in_process.release()
            raise
        try:
            yield
        finally:
            if locked:
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
            self._in_process.release()

    def _take_file_lock(self) -> bool:
        """Wait for the file lock (True), or find it unusable (False)."""
        fd = self._open()
        if fd is None:
            return False
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True

    def _open(self) -> int | None:
        """The lock file's descriptor, opened once (called with the process lock held)."""
        if self._fd is None and self._file_lock_usable:
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                self._file_lock_usable = False
        return self._fd

    def close(self) -> None:
        """Close the lock file (the engine is disposed; a later write opens it again)."""
        with self._in_process:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
