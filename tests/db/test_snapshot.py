"""SnapshotReader: one query gives the token check and the ratings, or None for no such user."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db import repository
from db.session import write_transaction
from db.snapshot import Excluded, SnapshotReader


def new_user(sessions: sessionmaker[Session], token_hash: str, ratings: dict[int, float]) -> int:
    with sessions() as session, write_transaction(session):
        user_id = repository.create_user(session, token_hash)
        repository.upsert_ratings(session, user_id, ratings)
    return user_id


def test_a_user_with_ratings_gets_them_in_movie_id_order(engine: Engine, sessions):
    user_id = new_user(sessions, "a" * 64, {30: 2.5, 4: 5.0, 17: 0.5})
    new_user(sessions, "b" * 64, {4: 1.0})  # someone else's ratings stay out
    snapshot = SnapshotReader(engine).read(user_id, "a" * 64)
    assert snapshot is not None and snapshot.token_id is not None
    assert list(snapshot.ratings.items()) == [(4, 5.0), (17, 0.5), (30, 2.5)]


def test_a_user_without_ratings_and_an_unknown_user_differ(engine: Engine, sessions):
    user_id = new_user(sessions, "c" * 64, {})
    reader = SnapshotReader(engine)
    snapshot = reader.read(user_id, "c" * 64)
    assert snapshot is not None and snapshot.ratings == {} and snapshot.token_id is not None
    assert reader.read(user_id + 1, "c" * 64) is None


def test_another_users_or_a_revoked_token_reads_no_token(engine: Engine, sessions):
    owner = new_user(sessions, "f" * 64, {1: 3.0})
    new_user(sessions, "g" * 64, {})
    reader = SnapshotReader(engine)
    wrong = reader.read(owner, "g" * 64)
    assert wrong is not None and wrong.token_id is None and wrong.ratings == {1: 3.0}
    token_id = reader.read(owner, "f" * 64).token_id
    with sessions() as session, write_transaction(session):
        second = repository.add_token(session, owner, "h" * 64)
        repository.revoke_token(session, token_id)
    assert reader.read(owner, "f" * 64).token_id is None
    assert reader.read(owner, "h" * 64).token_id == second


def test_it_sees_writes_committed_after_it_was_built(engine: Engine, sessions):
    user_id = new_user(sessions, "d" * 64, {1: 3.0})
    reader = SnapshotReader(engine)
    assert reader.read(user_id, "d" * 64).ratings == {1: 3.0}
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 4.5, 2: 1.0})
    assert reader.read(user_id, "d" * 64).ratings == {1: 4.5, 2: 1.0}


def test_a_driver_error_surfaces_as_sqlalchemy_error(engine: Engine, sessions):
    """The API's 503 handler catches SQLAlchemy's errors; the raw path must raise those too
    (SQLite calls a missing table an OperationalError, PostgreSQL a ProgrammingError)."""
    user_id = new_user(sessions, "e" * 64, {1: 3.0})
    reader = SnapshotReader(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE ratings"))
    with pytest.raises(DBAPIError) as raised:
        reader.read(user_id, "e" * 64)
    assert "ratings" in str(raised.value.orig)
    assert "e" * 64 not in str(raised.value)


def test_excluded_lists_the_users_hidden_and_skipped_films_only(engine: Engine, sessions):
    user_id = new_user(sessions, "e" * 64, {1: 3.0})
    other = new_user(sessions, "f" * 64, {})
    with sessions() as session, write_transaction(session):
        repository.add_signal(session, user_id, "hidden", 40)
        repository.add_signal(session, user_id, "skipped", 7)
        repository.add_signal(session, user_id, "watchlist", 9)  # kept for later, not excluded
        repository.add_signal(session, other, "hidden", 8)
        assert repository.add_signal(session, user_id, "hidden", 40) is False  # already there
    reader = SnapshotReader(engine)
    assert reader.excluded(user_id) == Excluded(hidden=(40,), skipped=(7,))
    assert reader.excluded(user_id).all == (7, 40)
    assert reader.excluded(other) == Excluded(hidden=(8,), skipped=())
    with sessions() as session, write_transaction(session):
        assert repository.remove_signal(session, user_id, "hidden", 40) is True
    assert reader.excluded(user_id).all == (7,)


def test_the_recommend_read_is_read_and_excluded_in_one(engine: Engine, sessions):
    user_id = new_user(sessions, "k" * 64, {30: 2.5, 4: 5.0})
    empty = new_user(sessions, "m" * 64, {})
    with sessions() as session, write_transaction(session):
        repository.add_signal(session, user_id, "skipped", 7)
        repository.add_signal(session, user_id, "hidden", 40)
        repository.add_signal(session, user_id, "hidden", 4)  # rated, then hidden
        repository.add_signal(session, user_id, "watchlist", 9)
        repository.add_signal(session, empty, "hidden", 8)
    reader = SnapshotReader(engine)
    for who, token_hash in ((user_id, "k" * 64), (user_id, "m" * 64), (empty, "m" * 64)):
        assert reader.read_with_excluded(who, token_hash) == (
            reader.read(who, token_hash),
            reader.excluded(who),
        )
    snapshot, excluded = reader.read_with_excluded(user_id, "k" * 64)
    assert list(snapshot.ratings.items()) == [(4, 5.0), (30, 2.5)]
    assert excluded == Excluded(hidden=(4, 40), skipped=(7,))
    assert reader.read_with_excluded(empty + 1, "m" * 64) == (None, Excluded((), ()))
