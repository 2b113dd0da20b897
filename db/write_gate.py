"""Writers take turns for SQLite's write lock: a queue in each process, a file lock across them.

Why: SQLite's busy handler polls with sleeps that grow to 100 ms, so writers racing for its
lock were each served in ~1 ms yet the unlucky ones slept long after the lock was free
(/rate p99 at 16 clients: 250–540 ms with one uvicorn worker, ~200 ms with two). Here a
writer takes a lock of its process (waiting on it), then an ``flock`` shared with the other
worker processes (polling it every 0.1–1 ms: ``flock`` has no timeout). SQLite's own lock is
then almost always free when ``BEGIN IMMEDIATE`` asks for it.

Neither lock replaces SQLite's: they only order the writers that will ask for it. The file
lock dies with its process (kill -9 included); where it cannot be had (no ``fcntl``, a
read-only directory) the process queue and SQLite's busy handler remain.

Writers are the API's sync handlers, in the threadpool (the event loop never waits on the
database), so ``turn()`` blocks its thread while it waits. Re-measured there (docs/operations.md,
"The event loop never waits on the database"): without the gate, ``bench/load.py`` at 16
clients had ``POST /rate`` p99 861 ms (1 worker) and 1,424 ms (2 workers), against 331 and
346 ms with it, for a slightly lower median; so it stays.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import exc

try:
    import fcntl
except ImportError:  # Windows: the process queue alone
    fcntl = None  # type: ignore[assignment]

#: First and longest pause between two tries of a lock someone else holds.
FIRST_PAUSE_S = 0.0001
MAX_PAUSE_S = 0.001


def database_locked() -> exc.OperationalError:
    """What SQLite says when its busy timeout runs out, so callers handle one error."""
    return exc.OperationalError(
        "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
    )


class WriteGate:
    """Turns for one SQLite file's writers; a wait longer than ``timeout`` s is an error."""

    def __init__(self, lock_path: Path, timeout: float) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._in_process = threading.Lock()
        self._fd: int | None = None
        self._file_lock_usable = fcntl is not None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold both locks for the block; raise ``database_locked()`` when the wait is too long."""
        with closing(self._take()) as waits:  # closing: an interrupted wait lets go
            for pause in waits:
                time.sleep(pause)
        try:
            yield
        finally:
            self._leave()

    def _take(self) -> Generator[float]:
        """Take the process lock, then the file lock; yield a pause while the file lock is busy."""
        deadline = time.monotonic() + self.timeout
        # Waiters in this process sleep on the lock itself. Polling it (as the file lock must
        # be polled) woke every waiting thread every 0.1-1 ms to take the GIL: with 16 writers
        # in FastAPI's threadpool, /rate spent ~1.8 ms of CPU per request, against ~1.2 ms
        # this way; 645 -> 955 req/s, p99 132 -> 30 ms (A/B in one run, docs/operations.md).
        if not self._in_process.acquire(timeout=self.timeout):
            raise database_locked()
        pauses = _pauses(deadline)
        try:
            while not self._try_file_lock():
                yield next(pauses)
        except BaseException:
            self._in_process.release()
            raise

    def _leave(self) -> None:
        self._unlock_file()
        self._in_process.release()

    def _try_file_lock(self) -> bool:
        """Take the cross-process lock if it is free (always "free" where it is unusable)."""
        fd = self._open()
        if fd is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _open(self) -> int | None:
        if self._fd is None and self._file_lock_usable:
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                self._file_lock_usable = False
        return self._fd

    def close(self) -> None:
        """Close the lock file (at engine disposal; a later write opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _pauses(deadline: float) -> Iterator[float]:
    """Pauses between tries, growing to MAX_PAUSE_S; ``database_locked()`` past ``deadline``."""
    pause = FIRST_PAUSE_S
    while True:
        if time.monotonic() + pause > deadline:
            raise database_locked()
        yield pause
        pause = min(2 * pause, MAX_PAUSE_S)
