"""Writers take turns for SQLite's write lock, within and across processes; a wait past
busy_timeout is an error.

SQLite's own waiting is switched off in the turn-taking tests (busy_timeout=0 on every
connection): then any two writers reaching SQLite's lock together fail with "database is
locked", so only the gate can make every write land."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from db import repository, write_gate
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction


def engine_without_sqlite_waiting(path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)

    @event.listens_for(engine, "connect")
    def _no_sqlite_waiting(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    engine.dispose()  # reconnect with the listener
    return engine


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_take_turns_and_all_land(tmp_path: Path, processes: int):
    """Two engines on one file stand for two worker processes: they share only the file."""
    engines = [engine_without_sqlite_waiting(tmp_path / "turns.db") for _ in range(processes)]
    factories = [create_session_factory(engine) for engine in engines]
    with factories[0]() as session, write_transaction(session):
        user_id = repository.create_user(session, "f" * 64)
    inside, most_inside, guard = 0, 0, threading.Lock()

    def writer(k: int) -> None:
        nonlocal inside, most_inside
        sessions = factories[k % processes]
        for j in range(10):
            with sessions() as session, write_transaction(session):
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                repository.upsert_ratings(session, user_id, {100 * k + j: 3.0})
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with factories[-1]() as session:
        assert len(repository.user_ratings(session, user_id)) == 80
    assert most_inside == 1


def test_a_writer_kept_waiting_past_the_busy_timeout_is_told_the_database_is_locked(
    tmp_path: Path,
):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'slow.db'}", busy_timeout_ms=100)
    upgrade(engine)
    sessions = create_session_factory(engine)
    holding, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with sessions() as session, write_transaction(session):
            repository.create_user(session, "a" * 64)
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert holding.wait(10)
        with (
            pytest.raises(OperationalError, match="database is locked"),
            sessions() as session,
            write_transaction(session),
        ):
            repository.create_user(session, "b" * 64)
    finally:
        release.set()
        thread.join()
    with sessions() as session, write_transaction(session):  # the queue is free again
        repository.create_user(session, "c" * 64)


def test_a_writer_waiting_for_its_turn_in_this_process_sleeps_instead_of_polling(
    tmp_path: Path, monkeypatch
):
    # Polling woke every waiting writer every 0.1-1 ms to take the GIL: with 16 writers that
    # cost /rate ~0.6 ms of CPU per request. A waiter now blocks on the lock until it is free.
    gate = write_gate.WriteGate(tmp_path / "turns.lock", timeout=5)
    sleeps: list[float] = []
    real_sleep = write_gate.time.sleep
    monkeypatch.setattr(write_gate.time, "sleep", lambda s: (sleeps.append(s), real_sleep(s)))
    holding, release, served = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with gate.turn():
            holding.set()
            release.wait(10)

    def waiter() -> None:
        with gate.turn():
            served.set()

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=waiter)
    second.start()
    assert not served.wait(0.2)  # still waiting for its turn...
    release.set()
    assert served.wait(10)  # ...and served once the holder let go
    first.join()
    second.join()
    assert sleeps == []  # never polled: the file lock was free, the process lock was waited on
