"""Health, metrics, CORS, request ids, and errors that never leak internals."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from api.main import create_app
from db import repository

REPO = Path(__file__).resolve().parents[2]
SECRET = "secret-internal-detail /srv/cinematch/api/routes.py line 42"


def test_health_reports_the_model_and_the_database(client, app, user, rate):
    rate(user, {1: 4.0, 2: 3.0})
    body = client.get("/health").json()
    recommender = app.state.services.recommender
    assert body == {
        "status": "ok",
        "model_version": recommender.model_version,
        "n_movies": recommender.n_movies,
        "n_users": 1,
        "n_ratings": 2,
        "database": "ok",
    }


def test_health_answers_head_as_uptime_monitors_send_it(client):
    response = client.head("/health")
    assert response.status_code == 200 and response.content == b""


def test_health_is_degraded_503_when_the_database_is_down(client, monkeypatch):
    def unreachable(session):
        raise OperationalError("SELECT count(*) FROM users", {}, Exception("unable to open"))

    monkeypatch.setattr(repository, "count_users", unreachable)
    response = client.get("/health")
    assert response.status_code == 503  # a load balancer takes this replica out
    body = response.json()
    assert body["status"] == "degraded" and body["database"] == "unreachable"
    assert body["n_users"] is None and body["model_version"]


@pytest.mark.parametrize("path", ["/user/{id}/stats", "/users/{id}/ratings"])
def test_a_database_outage_on_a_request_is_a_503_without_internals(
    client, user, monkeypatch, path
):
    def locked(*_args):
        raise OperationalError("SELECT token_hash", {}, Exception(SECRET))

    monkeypatch.setattr(repository, "live_token", locked)  # the token check every route makes
    response = client.get(path.format(id=user.user_id), headers=user.headers)
    assert response.status_code == 503
    assert SECRET not in response.text and "token_hash" not in response.text
    assert response.json() == {
        "detail": "The database is unavailable right now; please retry shortly."
    }


def test_metrics_come_from_the_manifest(client, app):
    body = client.get("/model/evaluation").json()
    manifest = app.state.services.recommender.manifest
    assert body["model_version"] == manifest["model_version"]
    assert body["trained_at"] == manifest["trained_at"]
    assert body["data"] == manifest["data"]
    assert body["rating"] == manifest["metrics"]["rating"]
    assert body["top_n"] == manifest["metrics"]["top_n"]


@pytest.fixture
def failing_client(settings):
    """The real app plus a test-only route that raises, as any bug would."""
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/boom-sync")
    def boom_sync() -> None:
        raise KeyError(SECRET)

    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("path", ["/boom", "/boom-sync"])
def test_an_unexpected_error_is_a_generic_500_and_logged_with_its_request_id(
    failing_client, caplog, path
):
    with caplog.at_level(logging.ERROR, logger="api"):
        response = failing_client.get(path)
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert response.json() == {"detail": f"Internal server error (request id {request_id})."}
    for leak in (SECRET, "Traceback", "RuntimeError", "KeyError", ".py"):
        assert leak not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback goes to the log only


def test_every_response_carries_a_request_id_and_a_sane_client_id_is_kept(client):
    generated = client.get("/genres").headers["X-Request-ID"]
    assert len(generated) == 32
    assert (
        client.get("/genres", headers={"X-Request-ID": "ui-42.a"}).headers["X-Request-ID"]
        == "ui-42.a"
    )
    injected = client.get("/genres", headers={"X-Request-ID": "bad id\twith space"})
    assert injected.headers["X-Request-ID"] != "bad id\twith space"


def test_cors_allows_only_the_configured_origins_and_never_a_wildcard(client):
    allowed = client.options(
        "/recommend",
        headers={
            "Origin": "http://localhost:8501",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8501"
    assert "access-control-allow-credentials" not in allowed.headers
    evil = client.get("/genres", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    simple = client.get("/genres", headers={"Origin": "http://localhost:8501"})
    assert simple.headers["access-control-allow-origin"] == "http://localhost:8501"


def test_unknown_routes_answer_json(client):
    response = client.get("/no/such/route")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_a_broken_model_directory_stops_startup_with_one_line(settings, tmp_path):
    from ml.serving.artifacts import ArtifactError

    broken = settings.model_copy(update={"model_dir": tmp_path / "nothing-here"})
    with pytest.raises(ArtifactError, match="manifest"), TestClient(create_app(broken)):
        pass


def test_the_sqlite_database_directory_is_created_on_start(settings, tmp_path):
    nested = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'a' / 'b' / 'c.db'}"}
    )
    with TestClient(create_app(nested)) as client:
        assert client.get("/health").json()["database"] == "ok"
    assert (tmp_path / "a" / "b" / "c.db").is_file()


def test_the_api_process_runs_blas_single_threaded_unless_told_otherwise():
    """Multi-threaded BLAS made a /recommend 25x slower under load; see api/__init__.py."""
    code = "import os, api.main; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    pinned = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    assert pinned.stdout.strip() == "1"
    chosen = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OPENBLAS_NUM_THREADS": "2"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert chosen.stdout.strip() == "2"
