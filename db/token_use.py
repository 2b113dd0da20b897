"""When each token was last used, written at most once an hour per token and process.

Writing ``last_used_at`` on every request would make every read a write; "which of my devices
is still signed in" needs the day, not the second. A process remembers the tokens it recorded
in the last hour (a ``cachetools.TTLCache``) and writes the first use after that, on a
background thread: a read must never wait for a write lock.
"""

from __future__ import annotations

import logging
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, wait

from cachetools import TTLCache
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db import repository
from db.session import write_transaction

logger = logging.getLogger("db")

#: How stale ``last_used_at`` may get.
RECORD_EVERY_S = 3600
MAX_REMEMBERED = 100_000
#: One thread writes every recorder's records, off the requests' path.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-use")


class TokenUseRecorder:
    """Writes a token's last use through ``engine`` when this process has not lately."""

    def __init__(self, engine: Engine, every_s: float = RECORD_EVERY_S) -> None:
        self._engine = engine
        self._recent: TTLCache[int, bool] = TTLCache(MAX_REMEMBERED, every_s)
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    def record(self, token_id: int) -> None:
        """Schedule the write if this token was not recorded lately; returns at once."""
        with self._lock:
            if token_id in self._recent:
                return
            self._recent[token_id] = True
            future = _WRITER.submit(self._write, token_id)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for the writes scheduled so far (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def _write(self, token_id: int) -> None:
        try:
            with Session(self._engine) as session, write_transaction(session):
                repository.touch_token(session, token_id)
        except SQLAlchemyError as error:  # a busy database must not fail the read itself
            with self._lock:
                self._recent.pop(token_id, None)
            logger.warning("could not record token use: %s", getattr(error, "orig", error))


_RECORDERS: weakref.WeakKeyDictionary[Engine, TokenUseRecorder] = weakref.WeakKeyDictionary()
_RECORDERS_LOCK = threading.Lock()


def record_token_use(engine: Engine, token_id: int) -> None:
    """Record that ``token_id`` was used (at most one write an hour; see the module doc)."""
    with _RECORDERS_LOCK:
        recorder = _RECORDERS.get(engine)
        if recorder is None:
            recorder = _RECORDERS[engine] = TokenUseRecorder(engine)
    recorder.record(token_id)


def flush_token_use(engine: Engine, timeout: float | None = None) -> None:
    """Wait until the token uses recorded through ``engine`` so far are written."""
    with _RECORDERS_LOCK:
        recorder = _RECORDERS.get(engine)
    if recorder is not None:
        recorder.flush(timeout)
