"""The About page against the real API on the tiny model: version, human training date, and how
many of this service's own ratings the model learnt from (none, said in words, or a count)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.main import create_app
from api.settings import Settings
from ml.serving.artifacts import APP_RATINGS_KEY, AppRatings
from tests.ui.conftest import ENTRY, RUN_TIMEOUT
from tests.ui.real_api import real_client
from ui import api_client, routes

RETRAINED = AppRatings(n_ratings=1234, n_users=56, n_users_left_out=3, min_ratings=5,
                       read_at="2026-11-25T03:30:00+00:00", sha256="ab" * 32)


def serve(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{tmp_path / 'ui.db'}",
                        create_db=True)
    with TestClient(create_app(settings)) as client:
        shared = real_client(client)
        monkeypatch.setattr(api_client, "get_client", lambda: shared)
        yield client


@pytest.fixture
def shipped(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    yield from serve(tiny_model_dir, tmp_path, monkeypatch)


@pytest.fixture
def retrained(tiny_model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    manifest_path = tiny_model_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[APP_RATINGS_KEY] = RETRAINED.as_json()
    manifest["trained_at"] = "2026-11-25T03:41:07+00:00"
    manifest["data"]["n_ratings"] += RETRAINED.n_ratings
    manifest["data"]["n_users"] += RETRAINED.n_users
    manifest_path.write_text(json.dumps(manifest))
    yield from serve(tiny_model_copy, tmp_path, monkeypatch)


def about_text() -> str:
    at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT)
    at.run()
    at.switch_page(routes.ABOUT_MODEL).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return unescape(" ".join(m.value for m in at.markdown))


def test_the_shipped_model_says_it_learnt_from_none_of_our_ratings(shipped: TestClient):
    answer = shipped.get("/model/evaluation").json()
    assert answer["app_ratings"] == {"n_ratings": 0, "n_users": 0, "read_at": None}
    text = about_text()
    assert "has not learnt from any ratings given here on CineMatch yet" in text
    assert f"(version **{answer['model_version']}**)" in text
    assert "This version was trained on **" in text
    assert "6,000 ratings that 200 people gave to 60 films on MovieLens" in text


def test_a_retrained_model_says_how_many_of_our_ratings_it_learnt_from(retrained: TestClient):
    answer = retrained.get("/model/evaluation").json()
    assert answer["app_ratings"] == {"n_ratings": 1234, "n_users": 56,
                                     "read_at": "2026-11-25T03:30:00+00:00"}
    text = about_text()
    assert "learnt from **1,234 ratings** that 56 people gave here on CineMatch" in text
    assert "This version was trained on **25 November 2026**" in text
    assert "2026-11-25T" not in text and f"(version **{answer['model_version']}**)" in text
    assert "6,000 ratings that 200 people gave" in text  # MovieLens alone, app ratings apart
