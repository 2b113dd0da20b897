"""Shared fixtures for the UI tests: an isolated environment, the real API on a small trained
model behind the UI's client, and an AppTest factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import built_once
from tests.ui.real_api import RealApi, serve, write_ui_model
from ui import api_client

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "streamlit_app.py"
#: AppTest's default is 3 s per run; a first run imports pandas/altair, slow on 2 cores.
RUN_TIMEOUT = 30

AppFactory = Callable[..., AppTest]


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real TMDB key, API URL or cache folder leaks in from the developer's machine."""
    for name in ("TMDB_API_KEY", "TMDB_READ_TOKEN", "TMDB_API_BASE", "CINEMATCH_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CINEMATCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def ui_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted tiny model on the UI catalogue (``tests/ui/real_api.py``); read-only."""
    return built_once(tmp_path_factory, "ui-model", write_ui_model)


@pytest.fixture
def api(ui_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[RealApi]:
    """The real API on the UI model and a fresh database, installed as every page's client."""
    with serve(ui_model_dir, tmp_path / "ui.db") as real:
        client = real.ui_client()
        monkeypatch.setattr(api_client, "get_client", lambda: client)
        yield real


@pytest.fixture
def make_app(api: RealApi) -> AppFactory:
    """``make_app(user=(id, token), page="ui/pages/x.py")`` → an AppTest that has run once."""

    def factory(user: tuple[int, str] | None = None, page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT)
        if user is not None:
            at.query_params["uid"] = str(user[0])
            at.query_params["token"] = user[1]
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return factory
