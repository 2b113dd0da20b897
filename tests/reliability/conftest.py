"""Reliability fixtures: the real API in its own uvicorn process, and the in-process API.

``api_server(...)`` starts ``python -m api.server`` (stock uvicorn) on 127.0.0.1
around the tiny planted model (tests/synthetic.py) and a SQLite file in the test's temporary
folder; every server a test starts is stopped when it ends. The in-process fixtures
(``client``, ``new_user``...) are the API suite's own, re-used here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from bench.harness.api_server import ApiServer
from tests.api.conftest import (  # noqa: F401  (fixtures, re-used by name)
    app,
    client,
    count_ratings,
    new_user,
    rate,
    settings,
    sqlite_settings,
    user,
)

StartServer = Callable[..., ApiServer]


@pytest.fixture
def api_server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[StartServer]:
    """``api_server(database=..., model_dir=..., env=..., start=True)`` → a running ApiServer."""
    servers: list[ApiServer] = []

    def start(
        *,
        database: Path | None = None,
        model_dir: Path | None = None,
        env: dict[str, str] | None = None,
        access_log: bool = False,
        log_level: str = "warning",
        start: bool = True,
    ) -> ApiServer:
        server = ApiServer(
            model_dir or tiny_model_dir,
            database or tmp_path / f"api-{len(servers)}.db",
            env=env,
            access_log=access_log,
            log_level=log_level,
        )
        servers.append(server)
        return server.start() if start else server

    yield start
    for server in servers:
        server.stop()


def stored_ratings(database: Path) -> dict[tuple[int, int], float]:
    """``{(user_id, movie_id): rating}`` read straight from the SQLite file."""
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT user_id, movie_id, rating FROM ratings").fetchall()
    return {(user_id, movie_id): rating for user_id, movie_id, rating in rows}


def integrity(database: Path) -> str:
    """``PRAGMA integrity_check`` of the SQLite file ("ok" when sound)."""
    with closing(sqlite3.connect(database)) as connection:
        return "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
