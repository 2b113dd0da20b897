"""The layers: ``ml`` never imports the web, database or UI code (data flows ui → api → db/ml)."""

from __future__ import annotations

import ast
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
FORBIDDEN = ("db", "api", "ui", "streamlit_app", "bench", "sqlalchemy", "fastapi", "streamlit")


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_ml_imports_no_db_api_or_ui_code():
    offenders = {str(p.relative_to(ML.parent)): sorted(imported_roots(p) & set(FORBIDDEN))
                 for p in sorted(ML.rglob("*.py"))}
    assert {path: bad for path, bad in offenders.items() if bad} == {}


def test_the_check_sees_an_offending_import(tmp_path: Path):
    module = tmp_path / "bad.py"
    module.write_text("from db.app_ratings import read_app_ratings\nimport api.main\n")
    assert imported_roots(module) & set(FORBIDDEN) == {"db", "api"}
