"""Dedicated threads for /recommend's one read, so the event loop never waits on the database.

``await DatabaseThreads.run(fn, *args)`` runs ``fn`` on one of a few long-lived threads and
resumes the request with its result (or its exception) on the loop.

Why not ``loop.run_in_executor`` (the standard way): on /recommend's hot
path the hop itself was the largest cost. ``bench/db_contention.py``'s cold /recommend case, 16
clients on SQLite, server CPU per request (``/proc`` utime + stime over 40,000 requests):

* the read on the loop (not allowed: the loop would wait on the database): ~226 µs;
* these threads (one, SQLite): ~235 µs;
* ``ThreadPoolExecutor(1)`` via ``run_in_executor``: ~255 µs; with 2 threads ~305 µs;
* ``anyio.to_thread.run_sync`` (FastAPI's threadpool for ``def`` handlers): ~500 µs.

The executor's ``submit`` and completion run Python-level locks, a semaphore, two futures and
their callback chain on both threads, so the worker needs the GIL several times per request
while the loop is busy; each hand-over is a context switch. Here the worker takes the GIL
once per request: a C ``SimpleQueue`` hands the job over, ``fn`` runs (SQLite's step releases
the GIL), and one ``call_soon_threadsafe`` settles the request's asyncio future.

One thread suits SQLite (a read is ~20 µs in-process; more threads only fight over the GIL).
A database server spends most of a read waiting on the network, where threads overlap, so
``api.main`` starts more for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DatabaseThreads:
    """A few daemon threads sharing one job queue; stopped by ``shutdown``."""

    def __init__(self, threads: int = 1, name: str = "db-read") -> None:
        if threads < 1:
            raise ValueError(f"need at least one thread, got {threads}")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{k}", daemon=True)
            for k in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a database thread; its exception, if any, is raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return await future

    def shutdown(self, wait: bool = False) -> None:
        """Stop every thread once the jobs queued before this call have run."""
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as error:  # handed to the awaiting request, whatever it is
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On the loop: hand the outcome to the request, unless it was cancelled meanwhile."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
