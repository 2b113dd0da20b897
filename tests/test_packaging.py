"""The project installs itself: dependencies declared once in pyproject.toml's extras, one
exact version each in constraints.txt, and no module that edits ``sys.path`` to find another."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def name_of(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[;<>=!~ ]", requirement, maxsplit=1)[0]).lower()


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert name_of(name) not in found, f"{name} is pinned twice"
            found[name_of(name)] = version
    return found


def expanded(extra: str) -> set[str]:
    """Every package name an extra installs, following ``cinematch[...]`` references."""
    names: set[str] = set()
    for requirement in EXTRAS[extra]:
        if name_of(requirement) == "cinematch":
            inner = requirement[requirement.index("[") + 1 : requirement.index("]")]
            for other in inner.split(","):
                names |= expanded(other.strip())
        else:
            names.add(name_of(requirement))
    return names


def test_the_extras_are_the_layers():
    assert {"api", "ui", "train", "spark", "dev", "bench"} <= set(EXTRAS)
    assert PYPROJECT["project"]["dependencies"] == []
    assert "prometheus-client" in expanded("api")
    assert expanded("spark") == {"pyspark"}
    assert expanded("api") | expanded("ui") | expanded("train") | expanded("spark") <= expanded(
        "dev"
    )


@pytest.mark.parametrize("image_extra", ["api", "ui"])
def test_the_images_get_no_spark_and_no_test_tools(image_extra):
    installed = expanded(image_extra)
    assert "pyspark" not in installed
    assert not installed & {"pytest", "ruff", "mypy", "playwright"}


def test_pyproject_names_no_versions_and_constraints_pin_every_name_once():
    pinned = pins()
    for extra, requirements in EXTRAS.items():
        for requirement in requirements:
            assert not re.search(r"[<>=!~]=?\s*\d", requirement.split(";")[0]), (
                f"{extra}: {requirement} carries a version; pins live in constraints.txt"
            )
            name = name_of(requirement)
            assert name == "cinematch" or name in pinned, f"{name} has no pin in constraints.txt"
    assert pinned["prometheus-client"] == "0.26.0"
    assert pinned["pyspark"] == "4.3.0"


def test_make_installs_the_project_with_the_pins():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert 'pip install --quiet -e ".[dev]" -c constraints.txt' in makefile
    assert not list(REPO.glob("requirements_*.txt"))


def test_no_module_edits_sys_path():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        path
        for path in tracked
        if re.search(r"sys\.path\.(insert|append)|PYTHONPATH", (REPO / path).read_text())
        and path != "tests/test_packaging.py"
    ]
    assert offenders == []
