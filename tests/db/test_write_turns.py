"""Writers take turns for SQLite's write lock: ``BEGIN IMMEDIATE`` takes it up front, and
before it writers queue on a lock of their process, then on a file lock every process serving
the file shares (``db.write_turns``); a wait past the busy timeout is an error."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from db import repository
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction
from db.write_turns import lock_path_of


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


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_queue_before_asking_sqlite(tmp_path: Path, processes: int):
    # SQLite's own waiting switched off (busy_timeout=0): two writers reaching SQLite's lock
    # together would fail with "database is locked", so every write lands only if the writers
    # queue before asking SQLite: on the process's lock (1 engine), and across processes on
    # the file lock (2 engines on one file: the file lock is all they share).
    engines = [create_db_engine(f"sqlite:///{tmp_path / 'queue.db'}") for _ in range(processes)]
    upgrade(engines[0])
    for engine in engines:

        @event.listens_for(engine, "connect")
        def _no_sqlite_waiting(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        engine.dispose()  # reconnect with the listener
    factories = [create_session_factory(engine) for engine in engines]
    with factories[0]() as session, write_transaction(session):
        user_id = repository.create_user(session, "q" * 64)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        sessions = factories[k % processes]
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
    with factories[-1]() as session:
        assert len(repository.user_ratings(session, user_id)) == 160


HOLD_THE_FILE_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_writer_waits_for_another_process_holding_the_turn(tmp_path: Path):
    database = tmp_path / "other.db"
    engine = create_db_engine(f"sqlite:///{database}")
    upgrade(engine)
    sessions = create_session_factory(engine)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_FILE_LOCK, str(lock_path_of(database)), "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        started = time.monotonic()
        with sessions() as session, write_transaction(session):
            repository.create_user(session, "w" * 64)
        waited = time.monotonic() - started
    finally:
        other.wait(10)
    assert waited > 0.3  # the other process's turn came first
    with sessions() as session:
        assert repository.live_token(session, "w" * 64) is not None


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
