"""Reading the service's ratings for a retrain: threshold, catalogue filter, receipt."""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import repository
from db.app_ratings import read_app_ratings
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction


def _user_with(sessions: sessionmaker[Session], ratings: dict[int, float]) -> int:
    with sessions() as session, write_transaction(session):
        user_id = repository.create_user(session, f"hash-{len(ratings)}-{id(ratings)}")
        repository.upsert_ratings(session, user_id, ratings)
    return user_id


def test_only_users_with_enough_known_ratings_are_read(engine: Engine, sessions):
    keen = _user_with(sessions, {1: 4.0, 2: 3.5, 3: 5.0, 4: 2.0, 999: 1.0})
    _user_with(sessions, {1: 4.0, 2: 3.0})
    frame, receipt = read_app_ratings(
        str(engine.url), min_ratings=4, known_movies={1, 2, 3, 4}
    )
    assert set(frame["user_id"]) == {keen}
    assert sorted(frame["movie_id"]) == [1, 2, 3, 4]  # film 999 is unknown to the catalogue
    assert receipt.n_ratings == 4 and receipt.n_users == 1 and receipt.n_users_left_out == 1
    assert list(frame.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert (frame["timestamp"] > 1_700_000_000).all()


def test_the_receipt_hash_changes_with_any_rating(engine: Engine, sessions):
    user = _user_with(sessions, {1: 4.0, 2: 3.5, 3: 5.0})
    _, before = read_app_ratings(str(engine.url), min_ratings=1)
    _, again = read_app_ratings(str(engine.url), min_ratings=1)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user, {2: 4.0})
    _, after = read_app_ratings(str(engine.url), min_ratings=1)
    assert before.sha256 == again.sha256 != after.sha256


def test_an_empty_database_reads_as_no_ratings(engine: Engine):
    frame, receipt = read_app_ratings(str(engine.url), min_ratings=1)
    assert frame.empty and receipt.n_ratings == 0


def test_a_writer_holding_the_lock_neither_blocks_the_read_nor_leaks_into_it(sqlite_url: str):
    """SQLite's own lock (PostgreSQL's readers never wait on writers: MVCC)."""
    engine = create_db_engine(sqlite_url)
    upgrade(engine)
    sessions = create_session_factory(engine)
    user = _user_with(sessions, {1: 3.0, 2: 4.0})
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO ratings (user_id, movie_id, rating, created_at, updated_at) "
            "VALUES (?, 3, 5.0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (user,),
        )
        frame, _ = read_app_ratings(str(engine.url), min_ratings=1)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        engine.dispose()
    assert sorted(frame["movie_id"]) == [1, 2]
