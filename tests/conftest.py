"""Shared fixtures: a tiny real model on planted data, and the shared MovieLens folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
