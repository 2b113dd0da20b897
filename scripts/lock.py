"""Compile ``constraints.txt``: the exact version of every package that any extra of
``pyproject.toml`` installs (``make lock``).

pip resolves ``.[bench]`` (which holds every other extra) against the current
``constraints.txt``, so its pins hold unless a line is edited or removed; pip then adds what new
dependencies pull in and drops what nothing needs any more. To move a package, change or delete
its line here and run ``make lock``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
HEADER = """\
# Compiled by `make lock` (scripts/lock.py) from pyproject.toml's extras: every package any of
# them installs, at one exact version. Installs pass it with -c; pyproject.toml names no versions.
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                   "--ignore-installed", "--report", str(report)]
        if CONSTRAINTS.exists():
            command += ["-c", str(CONSTRAINTS)]
        subprocess.run([*command, f"{REPO}[bench]"], check=True)
        installs = json.loads(report.read_text())["install"]
    return {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
        if canonical(item["metadata"]["name"]) != "cinematch"
    }


def main() -> int:
    pins = resolve()
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    CONSTRAINTS.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{CONSTRAINTS.name}: {len(lines)} pins")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
