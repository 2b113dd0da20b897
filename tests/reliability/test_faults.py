"""Faults around the service: a broken model, a locked or read-only database, a failing TMDB,
and the API going away while the UI is open.

* A missing, unreadable, truncated or mismatched model, a corrupt database file, or a bad or
  unreachable ``DATABASE_URL``: ``python -m api.server`` refuses to start, exits 3, and prints
  ONE line, which names the faulty file or URL (no traceback, no password, the file untouched).
* A database locked by another writer past the busy timeout, read-only, or full: writes answer
  503 with a message saying which, and ``Retry-After``; reads keep working; never a 500; and
  /health says "degraded" (except for a briefly held lock).
* TMDB on 127.0.0.1 that hangs, answers 500 or 429: every card gets the drawn poster, the
  page renders, and it costs about one lookup timeout, not one per film.
* The API stopped under an open page: a clear banner with Retry, no traceback; Retry after
  the API is back restores the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from streamlit.testing.v1 import AppTest

from api.errors import DATABASE_BUSY, DATABASE_FULL, DATABASE_READ_ONLY
from api.main import create_app
from bench.harness.api_server import ApiServer, Request, call, call_json, free_port
from ml.serving.artifacts import CATALOGUE_FILE, FACTORS_FILE, MANIFEST_FILE
from tests.api.conftest import make_read_only
from tests.ui.http_stub import http_server, send_json
from ui import posters, routes

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "streamlit_app.py"
APP_TIMEOUT = 60

# -- the model ----------------------------------------------------------------------------------


def _missing_directory(model: Path) -> Path:
    shutil.rmtree(model)
    return model / MANIFEST_FILE


def _missing_factors(model: Path) -> Path:
    (model / FACTORS_FILE).unlink()
    return model / FACTORS_FILE


def _truncated_factors(model: Path) -> Path:
    path = model / FACTORS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return path


def _mismatched_catalogue(model: Path) -> Path:
    # A catalogue from another training run: same shape, different content.
    path = model / CATALOGUE_FILE
    path.write_text(path.read_text().replace("Action Film 1,", "Action Film One,"))
    return path


def _garbled_manifest(model: Path) -> Path:
    path = model / MANIFEST_FILE
    path.write_text(path.read_text()[:40])
    return path


def _unreadable_factors(model: Path) -> Path:
    path = model / FACTORS_FILE
    path.chmod(0)  # the server runs without the capability that lets root ignore this
    return path


@pytest.mark.parametrize(
    "damage",
    [
        _missing_directory,
        _missing_factors,
        _unreadable_factors,
        _truncated_factors,
        _mismatched_catalogue,
        _garbled_manifest,
    ],
    ids=["missing-dir", "missing-file", "unreadable", "truncated", "mismatched", "garbled"],
)
def test_a_bad_model_stops_the_server_with_one_line_naming_the_file(
    tiny_model_copy, tmp_path, damage
):
    faulty = damage(tiny_model_copy)
    server = ApiServer(tiny_model_copy, tmp_path / "never.db", log_level="info")
    msg = one_critical_line(server)
    assert str(faulty) in msg, msg
    assert not (tmp_path / "never.db").exists()  # refused before touching the database


def one_critical_line(server: ApiServer) -> str:
    """Run the server until it gives up; check it printed ONE JSON line and exited 3."""
    finished = subprocess.run(
        [*AS_AN_ORDINARY_USER, *server.command()],
        cwd=ROOT,
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 3  # uvicorn's "failed to start", which also stops --workers
    output = (finished.stdout + finished.stderr).strip().splitlines()
    assert len(output) == 1, output
    line = json.loads(output[0])
    assert line["level"] == "CRITICAL"
    assert "Traceback" not in finished.stderr
    return line["msg"]


#: Root reads any file whatever its mode; without these capabilities it is refused like anyone.
AS_AN_ORDINARY_USER = (
    ("setpriv", "--inh-caps=-dac_override,-dac_read_search",
     "--bounding-set=-dac_override,-dac_read_search")
    if os.geteuid() == 0 else ()
)  # fmt: skip


def test_a_corrupt_database_file_stops_the_server_with_one_line_and_is_left_alone(
    tiny_model_dir, tmp_path
):
    database = tmp_path / "cinematch.db"
    junk = bytes(range(256)) * 64
    database.write_bytes(junk)
    msg = one_critical_line(ApiServer(tiny_model_dir, database, log_level="info"))
    assert str(database) in msg and "not a SQLite database" in msg, msg
    assert database.read_bytes() == junk  # nothing overwritten, nothing "repaired"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("nosuch://db.example/cinematch", "unknown database scheme 'nosuch'"),
        ("not a url at all", "DATABASE_URL is not a database URL"),
        ("mysql://cinematch:s3cret@127.0.0.1/cinematch", "database driver is not installed"),
        ("postgresql+psycopg://cinematch:s3cret@127.0.0.1:{port}/cinematch", "cannot be reached"),
        ("postgresql+psycopg://cinematch:s3cret@db.invalid/cinematch", "cannot be reached"),
    ],
    ids=["unknown-scheme", "not-a-url", "driver-missing", "refused", "unknown-host"],
)
def test_a_bad_database_url_stops_the_server_with_one_line_naming_it(
    tiny_model_dir, tmp_path, url, expected
):
    url = url.format(port=free_port())  # nothing listens there
    server = ApiServer(tiny_model_dir, tmp_path / "unused.db", env={"DATABASE_URL": url})
    server.log_level = "info"
    msg = one_critical_line(server)
    assert expected in msg, msg
    if "://" in url:
        assert url.split("://")[0] in msg, msg  # names the database it could not use
    assert "s3cret" not in msg  # a password is never repeated


# -- the database ---------------------------------------------------------------------------------


@pytest.fixture
def quick_busy_client(sqlite_settings) -> Iterator[TestClient]:
    """The app on SQLite with a 200 ms busy timeout, so that a lock is felt quickly."""
    quick = sqlite_settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    with TestClient(create_app(quick)) as c:
        yield c


def _writes(client: TestClient, user_id: int, headers: dict[str, str]) -> dict[str, object]:
    body = {"user_id": user_id, "ratings": [{"movie_id": 3, "rating": 4.0}]}
    return {
        "POST /rate": client.post("/rate", json=body, headers=headers),
        "DELETE": client.delete(f"/users/{user_id}/ratings/1", headers=headers),
        "POST /users": client.post("/users"),
    }


def _reads_work(client: TestClient, user_id: int, headers: dict[str, str]) -> None:
    for path in (f"/users/{user_id}/ratings", f"/recommend?user_id={user_id}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)


def test_a_locked_database_is_a_503_busy_not_a_500(quick_busy_client, sqlite_settings):
    client = quick_busy_client
    created = client.post("/users").json()
    uid, headers = created["user_id"], {"Authorization": f"Bearer {created['token']}"}
    body = {"user_id": uid, "ratings": [{"movie_id": 1, "rating": 2.0}]}
    assert client.post("/rate", json=body, headers=headers).status_code == 200
    database = sqlite_settings.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(database, isolation_level=None)) as other_writer:
        other_writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            for route, response in _writes(client, uid, headers).items():
                assert response.status_code == 503, (route, response.text)
                assert response.json() == {"detail": DATABASE_BUSY}, route
                assert response.headers["Retry-After"] == "1"
            _reads_work(client, uid, headers)  # WAL: readers never wait for a writer
            health = client.get("/health")  # a backup holding the lock briefly: still in
            assert health.status_code == 200 and health.json()["database"] == "busy"
        finally:
            other_writer.execute("ROLLBACK")
    for route, response in _writes(client, uid, headers).items():
        assert response.status_code in (200, 201), (route, response.text)


def test_a_read_only_database_is_a_503_read_only_not_a_500(app, client, user, rate):
    rate(user, {1: 4.0})
    make_read_only(app.state.services.engine)
    for route, response in _writes(client, user.user_id, user.headers).items():
        assert response.status_code == 503, (route, response.text)
        assert response.json() == {"detail": DATABASE_READ_ONLY}, route
        assert int(response.headers["Retry-After"]) > 0
    _reads_work(client, user.user_id, user.headers)
    health = client.get("/health")  # out of the load balancer, saying why
    assert health.status_code == 503 and health.json()["database"] == "read-only"
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert [(r["movie_id"], r["rating"]) for r in listed["ratings"]] == [(1, 4.0)]


def make_full(engine: Engine) -> None:
    """From now on the SQLite file cannot grow by a page (SQLITE_FULL, "database or disk is
    full"), as on a full disk: ``max_page_count`` is a per-connection limit, set on every new
    connection of the engine."""

    @event.listens_for(engine, "connect")
    def full(dbapi_connection, _record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()  # new connections from now on


@pytest.fixture
def roomy_client(sqlite_settings) -> Iterator[TestClient]:
    """The app on SQLite without a sign-up limit (the full test signs up until it fails)."""
    unlimited = sqlite_settings.model_copy(update={"signup_limit_per_hour": 0})
    with TestClient(create_app(unlimited)) as c:
        yield c


def test_a_full_database_is_a_503_full_and_loses_nothing(roomy_client):
    client = roomy_client
    created = client.post("/users").json()
    uid, headers = created["user_id"], {"Authorization": f"Bearer {created['token']}"}
    body = {"user_id": uid, "ratings": [{"movie_id": m, "rating": 4.0} for m in (1, 2, 101)]}
    assert client.post("/rate", json=body, headers=headers).status_code == 200
    assert client.get("/health").json()["database"] == "ok"
    make_full(client.app.state.services.engine)

    health = client.get("/health")  # out of the load balancer before writes fail
    assert health.status_code == 503
    assert health.json() == health.json() | {"status": "degraded", "database": "full"}
    # Writes go on until one needs a new page; that one is a clear 503, never a 500.
    for _ in range(2000):
        response = client.post("/users")
        if response.status_code != 201:
            break
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": DATABASE_FULL}
    assert int(response.headers["Retry-After"]) > 0
    _reads_work(client, uid, headers)
    listed = client.get(f"/users/{uid}/ratings", headers=headers).json()
    assert [(r["movie_id"], r["rating"]) for r in listed["ratings"]] == [
        (1, 4.0), (2, 4.0), (101, 4.0)
    ]  # fmt: skip


def test_database_errors_are_logged_as_one_reason_without_sql(
    quick_busy_client, sqlite_settings, caplog
):
    database = sqlite_settings.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(database, isolation_level=None)) as other_writer:
        other_writer.execute("BEGIN IMMEDIATE")
        try:
            assert quick_busy_client.post("/users").status_code == 503
        finally:
            other_writer.execute("ROLLBACK")
    logged = [
        r.getMessage() for r in caplog.records if r.name == "api" and "database" in r.getMessage()
    ]
    assert logged and logged[-1].endswith(": database is locked")
    assert "INSERT" not in logged[-1] and "token_hash" not in logged[-1]


# -- TMDB ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_api(tiny_model_dir, tmp_path_factory) -> Iterator[ApiServer]:
    """One real API for the TMDB tests, with a user who rated enough for a personal list."""
    server = ApiServer(tiny_model_dir, tmp_path_factory.mktemp("tmdb") / "api.db").start()
    created = call_json(server.port, Request("POST", "/users"), expect=201)
    ratings = [{"movie_id": m, "rating": 5.0} for m in (1, 2, 3, 4, 5)]
    body = json.dumps({"user_id": created["user_id"], "ratings": ratings}).encode()
    assert call(server.port, Request("POST", "/rate", body, created["token"]))[0] == 200
    server.user = (created["user_id"], created["token"])  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def ui_environment(monkeypatch, tmp_path) -> pytest.MonkeyPatch:
    for name in ("TMDB_API_KEY", "TMDB_READ_TOKEN", "TMDB_API_BASE", "CINEMATCH_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CINEMATCH_CACHE_DIR", str(tmp_path / "cache"))
    return monkeypatch


def open_page(user: tuple[int, str], page: str) -> tuple[AppTest, float]:
    """Open ``page`` signed in as ``user``; (the app, seconds the page's run took)."""
    at = AppTest.from_file(str(ENTRY), default_timeout=APP_TIMEOUT)
    at.query_params["uid"] = str(user[0])
    at.query_params["token"] = user[1]
    at.run()
    started = time.monotonic()
    at.switch_page(page).run()
    return at, time.monotonic() - started


def poster_sources(at: AppTest) -> list[str]:
    return [
        match.group(1)
        for element in at.markdown
        for match in re.finditer(r'<img src="([^"]+)"', element.value)
    ]


def _hang(release: threading.Event):
    def reply(request: BaseHTTPRequestHandler) -> None:
        release.wait(10)

    return reply


def _status(status: int):
    def reply(request: BaseHTTPRequestHandler) -> None:
        send_json(request, status, {"status_message": "TMDB is having a bad day"})

    return reply


@pytest.mark.parametrize("fault", ["hangs", "500", "429"])
def test_a_failing_tmdb_gives_drawn_posters_within_the_timeout(live_api, ui_environment, fault):
    release = threading.Event()
    reply = {"hangs": _hang(release), "500": _status(500), "429": _status(429)}[fault]
    with http_server(reply) as (base, seen):
        ui_environment.setenv("CINEMATCH_API_URL", live_api.url)
        ui_environment.setenv("TMDB_API_KEY", "not-a-real-key")
        ui_environment.setenv("TMDB_API_BASE", base)
        at, seconds = open_page(live_api.user, routes.FOR_YOU)
        release.set()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    sources = poster_sources(at)
    assert len(sources) == 10
    assert all(src.startswith("data:image/svg+xml;base64,") for src in sources)
    assert seen, "the page never asked the fake TMDB"
    settings = posters.TmdbSettings()
    # One lookup's budget (timeout, or the bounded 429 back-off), not one per poster; the
    # rest is the page itself on a shared 2-core machine.
    budget = max(settings.timeout, settings.max_retries * 1.0) + 4.0
    assert seconds < budget, f"{fault}: the page took {seconds:.1f} s"


# -- the API going away --------------------------------------------------------------------------


def test_the_api_stopping_under_an_open_page_is_a_banner_with_retry(api_server, ui_environment):
    server = api_server()
    created = call_json(server.port, Request("POST", "/users"), expect=201)
    user = (created["user_id"], created["token"])
    ui_environment.setenv("CINEMATCH_API_URL", server.url)
    at, _ = open_page(user, routes.FOR_YOU)
    assert not at.exception and not at.error
    assert len(poster_sources(at)) == 10

    server.stop()
    at.run()  # the visitor changes a filter, or the page reruns: the API is gone
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "Can't reach the CineMatch service" in at.error[0].value
    assert "Traceback" not in at.error[0].value
    retry = at.button(key="cm-error-retry")

    server.start()  # back, same address and database
    retry.click().run()
    assert not at.exception and not at.error
    assert len(poster_sources(at)) == 10
