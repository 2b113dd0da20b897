"""Shared fixtures: a tiny real model on planted data, the shared MovieLens folder, and the
databases the db, api and reliability suites run on (SQLite and a throwaway PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness.postgres import PostgresCluster
from tests.synthetic import write_tiny_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "movielens"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model directory trained on ``tests/synthetic.py``'s planted tastes.

    Movie ids: 1–20 Action, 101–120 Romance, 201–220 Comedy (lower ids more popular).
    Users who love action and hate romance get action films, and the reverse.
    Session-scoped and read-only: copy it (``tiny_model_copy``) before corrupting it.
    """
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "models")


@pytest.fixture
def tiny_model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model, safe to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "models"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared MovieLens copies; tests that need them skip only when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present (real-data tests need ../shared)")
    return SHARED_DATA


#: The databases every ``database_url`` test runs on: the embedded default and PostgreSQL.
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole session: a throwaway cluster on a free loopback
    port (``bench/harness/postgres.py``). Started on first use; fsync off, as durability of a
    throwaway cluster is not what the tests measure."""
    cluster = PostgresCluster(fsync=False).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in the test's folder, or a new PostgreSQL
    database on the session's cluster (dropped after the test). Tests taking it run once on
    each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'cinematch.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For the tests of SQLite's own behaviour (its file, its lock, its pragmas)."""
    return f"sqlite:///{tmp_path / 'db' / 'cinematch.db'}"
