"""Settings come from the environment, with safe defaults and no wildcard CORS."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import DEFAULT_CORS_ORIGINS, Settings

VARIABLES = (
    "CINEMATCH_MODEL_DIR",
    "DATABASE_URL",
    "CINEMATCH_CORS_ORIGINS",
    "CINEMATCH_PROFILE_CACHE_SIZE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_local_and_safe():
    settings = Settings()
    assert settings.model_dir == Path("models")
    assert settings.database_url == "sqlite:///data/cinematch.db"
    assert settings.cors_origins == DEFAULT_CORS_ORIGINS
    assert set(DEFAULT_CORS_ORIGINS) == {"http://localhost:8501", "http://127.0.0.1:8501"}


def test_the_environment_overrides_every_setting(monkeypatch):
    monkeypatch.setenv("CINEMATCH_MODEL_DIR", "/srv/models")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/cinematch")
    monkeypatch.setenv("CINEMATCH_CORS_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("CINEMATCH_PROFILE_CACHE_SIZE", "5")
    settings = Settings()
    assert settings.model_dir == Path("/srv/models")
    assert settings.database_url == "postgresql://db/cinematch"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.profile_cache_size == 5


@pytest.mark.parametrize("origins", ["*", "https://a.example,*"])
def test_a_wildcard_origin_is_refused(monkeypatch, origins):
    monkeypatch.setenv("CINEMATCH_CORS_ORIGINS", origins)
    with pytest.raises(ValidationError, match="explicitly"):
        Settings()
