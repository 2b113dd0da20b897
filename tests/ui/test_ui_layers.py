"""The layering rules of docs/CONTRACT.md: the UI and the wire contract load without the server."""

from __future__ import annotations

import subprocess
import sys

from tests.ui.conftest import ROOT

#: The server's own packages and its framework (Streamlit itself loads starlette, so that one is
#: checked for the contract only).
SERVER_SIDE = ("api", "db", "ml", "fastapi", "sqlalchemy", "uvicorn")


def modules_loaded_by(*imports: str) -> set[str]:
    """Top-level packages a fresh interpreter holds after ``import``ing ``imports``."""
    code = "import sys\n" + "".join(f"import {name}\n" for name in imports) + (
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return set(done.stdout.split())


def test_the_contract_is_pydantic_only() -> None:
    loaded = modules_loaded_by("contract.models")
    assert "pydantic" in loaded
    assert not loaded & {*SERVER_SIDE, "starlette", "streamlit", "requests"}


def test_the_ui_imports_the_contract_but_nothing_of_the_server() -> None:
    loaded = modules_loaded_by("ui.api_client", "ui.account", "ui.components", "ui.posters")
    assert "contract" in loaded
    assert not loaded & set(SERVER_SIDE)
