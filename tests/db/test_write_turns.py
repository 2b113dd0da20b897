"""Writers take turns for SQLite's write lock: ``BEGIN IMMEDIATE`` takes it up front, writers
of one process queue on a lock of the process first, and ``busy_timeout`` queues processes;
a wait past it is an error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from db import repository
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_take_turns_and_all_land(tmp_path: Path, processes: int):
    """Two engines on one file stand for two worker processes: they share only the file."""
    engines = [create_db_engine(f"sqlite:///{tmp_path / 'turns.db'}") for _ in range(processes)]
    upgrade(engines[0])
    factories = [create_session_factory(engine) for engine in engines]
    with factories[0]() as session, write_transaction(session):
        user_id = repository.create_user(session, "f" * 64)
    inside, most_inside, guard = 0, 0, threading.Lock()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        nonlocal inside, most_inside
        sessions = factories[k % processes]
        try:
            for j in range(10):
                with sessions() as session, write_transaction(session):
                    with guard:
                        inside += 1
                        most_inside = max(most_inside, inside)
                    repository.upsert_ratings(session, user_id, {100 * k + j: 3.0})
                    with guard:
                        inside -= 1
        except BaseException as error:  # collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with factories[-1]() as session:
        assert len(repository.user_ratings(session, user_id)) == 80
    assert most_inside == 1  # one write transaction at a time holds the lock


def test_writers_of_one_process_queue_before_asking_sqlite(tmp_path: Path):
    # SQLite's own waiting switched off (busy_timeout=0): two writers reaching SQLite's lock
    # together would fail with "database is locked", so every write lands only if this
    # process's writers queue before asking SQLite.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    upgrade(engine)

    @event.listens_for(engine, "connect")
    def _no_sqlite_waiting(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    engine.dispose()  # reconnect with the listener
    sessions = create_session_factory(engine)
    with sessions() as session, write_transaction(session):
        user_id = repository.create_user(session, "q" * 64)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(20):
                with sessions() as session, write_transaction(session):
                    repository.upsert_ratings(session, user_id, {100 * k + j: 3.0})
        except BaseException as error:  # collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert len(repository.user_ratings(session, user_id)) == 160


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
