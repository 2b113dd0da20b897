"""API test fixtures: the real app around the tiny planted model and a temporary SQLite file.

Movie ids of the tiny model: 1–20 Action, 101–120 Romance, 201–220 Comedy, lower ids more
popular (see tests/synthetic.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select

from api.main import create_app
from api.settings import Settings
from db.models import Rating

ACTION = range(1, 21)
ROMANCE = range(101, 121)
COMEDY = range(201, 221)
ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}
ROMANCE_FAN = {101: 5.0, 102: 5.0, 103: 4.5, 104: 5.0, 105: 4.5, 1: 1.0, 2: 1.5}


@dataclass(frozen=True)
class User:
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def settings(tiny_model_dir: Path, database_url: str) -> Settings:
    return Settings(
        model_dir=tiny_model_dir,
        database_url=database_url,
        create_db=True,
        cors_origins="http://localhost:8501",
    )


def make_read_only(engine: Engine) -> None:
    """From now on the engine's connections cannot write, as on a read-only mount or file
    (SQLite) or a standby / read-only transaction (PostgreSQL)."""

    @event.listens_for(engine, "connect")
    def read_only(dbapi_connection, _record):
        if engine.dialect.name == "sqlite":
            dbapi_connection.execute("PRAGMA query_only=ON")
        else:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()

    engine.dispose()  # new connections from now on


@pytest.fixture
def sqlite_settings(tiny_model_dir: Path, sqlite_url: str) -> Settings:
    """Like ``settings`` but always on a SQLite file: tests of SQLite's own behaviour (its lock)."""
    return Settings(
        model_dir=tiny_model_dir,
        database_url=sqlite_url,
        create_db=True,
        cors_origins="http://localhost:8501",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def new_user(client: TestClient) -> Callable[[], User]:
    def create() -> User:
        response = client.post("/users")
        assert response.status_code == 201, response.text
        body = response.json()
        return User(body["user_id"], body["token"])

    return create


@pytest.fixture
def user(new_user: Callable[[], User]) -> User:
    return new_user()


@pytest.fixture
def rate(client: TestClient) -> Callable[[User, Mapping[int, float]], dict]:
    """POST /rate and insist on success; returns the JSON body."""

    def post(who: User, ratings: Mapping[int, float]) -> dict:
        body = {
            "user_id": who.user_id,
            "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()],
        }
        response = client.post("/rate", json=body, headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    return post


@pytest.fixture
def count_ratings(app: FastAPI, client: TestClient) -> Callable[[], int]:
    """Rows in the ratings table, read straight from the database (not through the API)."""

    def count() -> int:
        with app.state.services.session_factory() as session:
            return session.scalar(select(func.count()).select_from(Rating)) or 0

    return count
