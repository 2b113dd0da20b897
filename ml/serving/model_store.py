"""Versioned model directories and the ``current`` symlink the service serves.

    STORE/versions/20261126T142501Z-funksvd-8d1c80dbb9/   one trained artifact per folder
    STORE/current -> versions/<one of them>              what CINEMATCH_MODEL_DIR points at
    STORE/history.json                                    every promotion, oldest first

Switching the symlink with ``rename(2)`` is atomic, so a reload sees the old model or the new
one, never a mix. Version folders never change after they are added: a rollback is a switch.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

VERSIONS = "versions"
CURRENT = "current"
HISTORY = "history.json"
#: Versions kept by ``prune`` unless told otherwise (the current one is always kept).
DEFAULT_KEEP = 5


class ModelStoreError(RuntimeError):
    """A store operation that cannot be done (no such version, nothing to roll back to)."""


@dataclass(frozen=True)
class Promotion:
    version: str
    at: str


class ModelStore:
    """The versions of one deployment's model, and which one is served."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def current_link(self) -> Path:
        return self.root / CURRENT

    def versions(self) -> list[str]:
        """Version folder names, oldest first (names start with their UTC creation time)."""
        folder = self.root / VERSIONS
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def current(self) -> str | None:
        """The served version's name, or None when nothing was promoted yet."""
        link = self.current_link
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def path_of(self, version: str) -> Path:
        path = self.root / VERSIONS / version
        if not path.is_dir():
            raise ModelStoreError(f"{path}: no such model version")
        return path

    def new_version_dir(self, label: str, now: datetime | None = None) -> Path:
        """A fresh, not yet existing folder for a training to write into."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        path = self.root / VERSIONS / f"{stamp}-{label}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = self.root / VERSIONS / f"{stamp}-{label}-{suffix}"
        return path

    def add(self, directory: str | Path, label: str) -> str:
        """Copy a trained model directory into the store as a new version; its name."""
        target = self.new_version_dir(label)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(directory, target)
        return target.name

    def history(self) -> list[Promotion]:
        path = self.root / HISTORY
        if not path.exists():
            return []
        return [Promotion(**entry) for entry in json.loads(path.read_text())]

    def promote(self, version: str) -> None:
        """Serve ``version`` from now on: switch ``current`` atomically and record it."""
        self.path_of(version)
        self._switch(version)
        history = [*self.history(), Promotion(version, datetime.now(UTC).isoformat())]
        self._write_history(history)

    def rollback(self) -> str:
        """Switch back to the version served before the current one; its name."""
        history = self.history()
        current = self.current()
        earlier = [p.version for p in history if p.version != current]
        if current is None or not earlier:
            raise ModelStoreError(f"{self.root}: no earlier version to roll back to")
        previous = earlier[-1]
        self.path_of(previous)
        self._switch(previous)
        # The rolled-back version leaves the history, so a second rollback goes further back.
        self._write_history([p for p in history if p.version != current])
        return previous

    def prune(self, keep: int = DEFAULT_KEEP) -> list[str]:
        """Delete all but ``keep`` versions besides the current one; what went.

        Versions served before (the ones ``rollback`` goes back to, latest first) are kept
        before candidates that were never served, so refused candidates go first.
        """
        current = self.current()
        served = [p.version for p in reversed(self.history())]
        others = [v for v in reversed(self.versions()) if v != current]
        ranked = sorted(others, key=lambda v: served.index(v) if v in served else len(served))
        doomed = sorted(ranked[keep:])
        for version in doomed:
            shutil.rmtree(self.root / VERSIONS / version)
        return doomed

    def _switch(self, version: str) -> None:
        temporary = self.root / f".{CURRENT}.{os.getpid()}"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(Path(VERSIONS) / version)
        os.replace(temporary, self.current_link)

    def _write_history(self, history: list[Promotion]) -> None:
        path = self.root / HISTORY
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps([p.__dict__ for p in history], indent=1))
        os.replace(temporary, path)
