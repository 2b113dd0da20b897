"""The generated documentation pages match their sources: ``make docs`` was run after the last
change to a settings class or to ``bench/results/*.json``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _docs_script():
    spec = importlib.util.spec_from_file_location("docs_script", REPO / "scripts" / "docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["configuration.md", "results.md"])
def test_the_generated_page_is_current(page):
    docs = _docs_script()
    generate = {path.name: make for path, make in docs.PAGES.items()}[page]
    committed = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert committed == generate(), f"docs/{page} is stale: run `make docs`"


def test_every_api_setting_is_in_the_configuration_page():
    from api.settings import Settings

    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for field in Settings.model_fields.values():
        assert f"`{field.validation_alias}`" in page
