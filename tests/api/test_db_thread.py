"""``api.db_thread``: /recommend's read runs off the event loop and comes back as a result or
as the exception it raised; the loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi import HTTPException

from api.db_thread import DatabaseThreads


@pytest.fixture
def threads():
    pool = DatabaseThreads(2)
    yield pool
    pool.shutdown(wait=True)


def test_the_work_runs_on_a_database_thread_not_the_loop(threads):
    async def main() -> tuple[str, str]:
        return threading.current_thread().name, await threads.run(
            lambda: threading.current_thread().name
        )

    loop_thread, worker = asyncio.run(main())
    assert worker.startswith("db-read-") and worker != loop_thread


def test_the_result_and_the_arguments_pass_through(threads):
    assert asyncio.run(threads.run(lambda a, b: a * b, 6, 7)) == 42


def test_an_exception_reaches_the_awaiting_request_unchanged(threads):
    def refuse() -> None:
        raise HTTPException(status_code=403, detail="not yours")

    with pytest.raises(HTTPException) as raised:
        asyncio.run(threads.run(refuse))
    assert raised.value.status_code == 403 and raised.value.detail == "not yours"


def test_the_loop_keeps_serving_while_a_read_is_slow(threads):
    async def main() -> int:
        ticks = 0
        slow = asyncio.ensure_future(threads.run(time.sleep, 0.3))
        while not slow.done():
            ticks += 1
            await asyncio.sleep(0.01)
        await slow
        return ticks

    assert asyncio.run(main()) >= 10  # the loop ran ~30 times while the thread slept


def test_a_cancelled_request_leaves_the_threads_working(threads):
    async def main() -> int:
        slow = asyncio.ensure_future(threads.run(time.sleep, 0.2))
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await asyncio.sleep(0.25)  # the sleep finishes; settling a cancelled future is a no-op
        return await threads.run(lambda: 7)

    assert asyncio.run(main()) == 7


def test_reads_run_side_by_side_on_several_threads():
    pool = DatabaseThreads(2)
    barrier = threading.Barrier(2, timeout=5)
    try:

        async def main() -> list[int]:
            return list(await asyncio.gather(pool.run(barrier.wait), pool.run(barrier.wait)))

        assert sorted(asyncio.run(main())) == [0, 1]  # both waited at once: two threads
    finally:
        pool.shutdown(wait=True)


def test_shutdown_stops_every_thread():
    pool = DatabaseThreads(3)
    pool.shutdown(wait=True)
    assert not any(t.name.startswith("db-read-") and t.is_alive() for t in pool._threads)


def test_at_least_one_thread():
    with pytest.raises(ValueError, match="at least one"):
        DatabaseThreads(0)
