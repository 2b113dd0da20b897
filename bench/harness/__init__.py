"""Code the benchmarks and the reliability tests share (not a benchmark: run_all skips folders)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
#: The MovieLens releases beside the repository (``../shared/data/movielens``).
DATA_ROOT = REPO.parent / "shared" / "data" / "movielens"


def verdict(ok: bool) -> str:
    """How every benchmark reports a target."""
    return "met" if ok else "NOT met"


def now() -> str:
    """When a result was made, as every results file records it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_average() -> float:
    """The 1-minute load average: the machine is shared, so every result records it."""
    return round(os.getloadavg()[0], 2)


def arguments(doc: str, quick: str, json_default: str | None = None) -> argparse.ArgumentParser:
    """A benchmark's parser: its docstring's first line, ``--quick`` (``quick`` says what it
    does; ``bench/run_all.py --quick`` passes it to every benchmark), and ``--json PATH`` when it
    writes ``bench/results/<json_default>.json`` (its full runs' default)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    if json_default is not None:
        default = RESULTS / f"{json_default}.json"
        parser.add_argument("--json", type=Path, help=f"write results here (default for full "
                                                      f"runs: {default.relative_to(REPO)})")
    return parser


def model_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--model-dir``: the served model, ``$CINEMATCH_MODEL_DIR`` or ``models/``."""
    default = Path(os.environ.get("CINEMATCH_MODEL_DIR", REPO / "models"))
    parser.add_argument("--model-dir", type=Path, default=default)


def missing_data(root: Path, *releases: str) -> bool:
    """True, after saying which, when one of the MovieLens ``releases`` is not under ``root``."""
    missing = [name for name in releases if not (root / name).is_dir()]
    if missing:
        print(f"error: {', '.join(missing)}: no such data folder under {root} (pass --data-root)",
              file=sys.stderr)
    return bool(missing)


def no_model(model_dir: Path) -> bool:
    """True, after saying so, when ``model_dir`` holds no trained model."""
    if (model_dir / "manifest.json").is_file():
        return False
    print(f"no model in {model_dir}: train one (make train) or pass --model-dir")
    return True


def write_json(path: Path | None, document: Any) -> None:
    """Keep a run's results in ``path`` (nothing when None)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results written to {path}")
