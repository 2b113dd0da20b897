"""Repository functions and the SQLite settings they rely on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from db import repository
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction
from ml.rules import RATING_MAX, RATING_MIN

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def new_user(sessions, token_hash="a" * 64) -> int:
    with sessions() as session, write_transaction(session):
        return repository.create_user(session, token_hash)


def test_sqlite_runs_with_wal_a_busy_timeout_foreign_keys_and_full_sync(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nested' / 'test.db'}")
    upgrade(engine)
    assert (tmp_path / "nested" / "test.db").is_file()  # parent directory created
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # FULL (2): an acknowledged commit survives a power cut, not only a crash.
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    engine.dispose()


def test_a_rating_needs_an_existing_user(sessions):
    with pytest.raises(IntegrityError), sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, 12345, {1: 4.0})


@pytest.mark.parametrize("value", [RATING_MIN - 0.5, RATING_MAX + 0.5])
def test_the_database_itself_refuses_ratings_off_the_scale(sessions, value):
    user_id = new_user(sessions)
    with pytest.raises(IntegrityError), sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: value})


def test_token_hashes_are_unique(sessions):
    new_user(sessions, "b" * 64)
    with pytest.raises(IntegrityError):
        new_user(sessions, "b" * 64)


def test_upsert_inserts_then_updates_in_place_keeping_created_at(sessions):
    user_id = new_user(sessions)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 2.0, 2: 3.0}, now=T0)
    later = T0 + timedelta(minutes=5)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {2: 4.5, 3: 1.0}, now=later)
    with sessions() as session:
        stored = {r.movie_id: r for r in repository.user_ratings_newest_first(session, user_id)}
        assert repository.user_ratings(session, user_id) == {1: 2.0, 2: 4.5, 3: 1.0}
        assert repository.count_user_ratings(session, user_id) == 3
    assert (stored[1].created_at, stored[1].updated_at) == (T0, T0)
    assert (stored[2].created_at, stored[2].updated_at, stored[2].rating) == (T0, later, 4.5)
    assert (stored[3].created_at, stored[3].updated_at) == (later, later)
    assert stored[2].updated_at.tzinfo is not None


def test_newest_first_orders_by_last_change(sessions):
    user_id = new_user(sessions)
    for minutes, movie_id in enumerate((5, 3, 9)):
        with sessions() as session, write_transaction(session):
            repository.upsert_ratings(
                session, user_id, {movie_id: 3.0}, now=T0 + timedelta(minutes=minutes)
            )
    with sessions() as session:
        order = [r.movie_id for r in repository.user_ratings_newest_first(session, user_id)]
    assert order == [9, 3, 5]


def test_an_error_inside_a_write_transaction_keeps_nothing(sessions):
    user_id = new_user(sessions)
    with pytest.raises(RuntimeError), sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 4.0, 2: 4.0})
        raise RuntimeError("fail after writing")
    with sessions() as session:
        assert repository.user_ratings(session, user_id) == {}


def test_a_write_transaction_follows_an_open_read(sessions):
    user_id = new_user(sessions)
    with sessions() as session:
        assert repository.live_token(session, "a" * 64) is not None  # opens a transaction
        with write_transaction(session):
            repository.upsert_ratings(session, user_id, {1: 4.0})
        assert repository.user_ratings(session, user_id) == {1: 4.0}


def test_delete_reports_whether_there_was_a_rating(sessions):
    user_id = new_user(sessions)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 4.0})
    with sessions() as session, write_transaction(session):
        assert repository.delete_rating(session, user_id, 1) is True
    with sessions() as session, write_transaction(session):
        assert repository.delete_rating(session, user_id, 1) is False


def test_counts_and_unknown_users(sessions):
    user_id = new_user(sessions)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 4.0, 2: 3.0})
    with sessions() as session:
        assert repository.count_users(session) == 1
        assert repository.count_ratings(session) == 2
        assert repository.live_token(session, "b" * 64) is None
        assert repository.user_ratings(session, user_id + 1) == {}


def test_concurrent_writers_wait_their_turn_instead_of_failing(engine, sessions):
    """Read-then-write transactions from many threads: BEGIN IMMEDIATE + busy_timeout."""
    user_ids = [new_user(sessions, f"{k:064d}") for k in range(8)]
    errors: list[BaseException] = []

    def writer(user_id: int) -> None:
        try:
            for movie_id in range(1, 41):
                with sessions() as session:
                    repository.live_token(session, "a" * 64)
                    with write_transaction(session):
                        repository.upsert_ratings(session, user_id, {movie_id: 3.0})
                        repository.count_user_ratings(session, user_id)
        except BaseException as error:  # collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(u,)) for u in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert repository.count_ratings(session) == 8 * 40


def test_upgrade_is_idempotent_and_safe_for_parallel_workers(database_url):
    url = database_url
    engines = [create_db_engine(url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine) -> None:
        try:
            upgrade(engine)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upgrade(engines[0])
    assert errors == []
    with create_session_factory(engines[0])() as session:
        assert repository.count_users(session) == 0
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_with_a_reason(url):
    with pytest.raises(ValueError, match="in-memory"):
        create_db_engine(url)


def test_naive_datetimes_are_refused(sessions):
    user_id = new_user(sessions)
    with (
        pytest.raises(StatementError, match="naive"),
        sessions() as session,
        write_transaction(session),
    ):
        repository.upsert_ratings(session, user_id, {1: 4.0}, now=datetime(2024, 1, 1))


def test_timestamps_are_stored_in_utc(engine, sessions):
    user_id = new_user(sessions)
    paris = datetime(2024, 6, 1, 14, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {1: 4.0}, now=paris)
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT created_at FROM ratings")).scalar()
    assert str(raw).startswith("2024-06-01 14:00:00")


# -- the reads /recommend makes ------------------------------------------------------------------


def test_the_live_token_names_its_owner_until_it_is_revoked(sessions):
    owner = new_user(sessions, "f" * 64)
    other = new_user(sessions, "g" * 64)
    with sessions() as session:
        token_id, found_owner = repository.live_token(session, "f" * 64)
        assert found_owner == owner
        assert repository.live_token(session, "g" * 64)[1] == other
    with sessions() as session, write_transaction(session):
        second = repository.add_token(session, owner, "h" * 64)
        repository.revoke_token(session, token_id)
    with sessions() as session:
        assert repository.live_token(session, "f" * 64) is None
        assert repository.live_token(session, "h" * 64) == (second, owner)


def test_the_token_ratings_and_excluded_films_come_in_one_read(sessions):
    user_id = new_user(sessions, "k" * 64)
    empty = new_user(sessions, "m" * 64)
    with sessions() as session, write_transaction(session):
        repository.upsert_ratings(session, user_id, {30: 2.5, 4: 5.0, 17: 0.5})
        repository.upsert_ratings(session, empty, {})
        repository.add_signal(session, user_id, "skipped", 7)
        repository.add_signal(session, user_id, "hidden", 40)
        repository.add_signal(session, user_id, "hidden", 4)  # rated, then hidden
        repository.add_signal(session, user_id, "watchlist", 9)  # kept for later, not excluded
        repository.add_signal(session, empty, "hidden", 8)
        assert repository.add_signal(session, user_id, "hidden", 40) is False  # already there
    with sessions() as session:
        token, ratings, excluded = repository.token_ratings_and_excluded(
            session, "k" * 64, user_id
        )
        assert token == repository.live_token(session, "k" * 64)
        assert list(ratings.items()) == [(4, 5.0), (17, 0.5), (30, 2.5)]
        assert excluded == repository.Excluded(hidden=(4, 40), skipped=(7,))
        assert excluded.all == (4, 7, 40)
        assert repository.excluded(session, user_id) == excluded
        assert ratings == repository.user_ratings(session, user_id)
        assert repository.token_ratings_and_excluded(session, "m" * 64, empty) == (
            repository.live_token(session, "m" * 64), {}, repository.Excluded((8,), ())
        )
        # Another user's token, an unknown one: the token row tells, whoever is asked about.
        assert repository.token_ratings_and_excluded(session, "m" * 64, user_id)[0][1] == empty
        assert repository.token_ratings_and_excluded(session, "z" * 64, empty + 1) == (
            None, {}, repository.Excluded((), ())
        )
    with sessions() as session, write_transaction(session):
        assert repository.remove_signal(session, user_id, "hidden", 40) is True
    with sessions() as session:
        assert repository.excluded(session, user_id).all == (4, 7)
