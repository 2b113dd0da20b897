"""The gate: serve a retrained model only if it is no worse.

    python -m ml.training.promote STORE/versions/<candidate> [--tolerance 0.02] [--keep 5]
    python -m ml.training.promote --rollback --store STORE

The candidate and the served model are both scored on the candidate's held-out MovieLens users
(``ml.training.evaluate.held_out_users``: held out of training by a rule of their id, folded
in as the service folds in its users, on films both models know): RMSE of hidden ratings,
ranking NDCG@10, newcomer NDCG@10 at 5 ratings and the popular chart's NDCG@10. The gate
refuses to compare (exit 2) unless both manifests name the same held-out rule, held-out
ratings and MovieLens files (hashes). Each figure may be worse by ``--tolerance`` (relative;
default 2%; another training seed moves each by at most 0.35%) before the candidate is refused.

The table is printed either way; exit 0: promoted (``STORE/current`` switched atomically),
1: refused, 2: an error. A running service picks a promotion up at its next
``CINEMATCH_MODEL_WATCH_S`` check or at ``POST /admin/reload``. ``--rollback`` switches back to
the version served before. Versions beyond the newest ``--keep`` are then deleted (never the
served one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.serving.artifacts import GATE_HOLDOUT_KEY, load_artifact, load_holdout
from ml.serving.model_store import DEFAULT_KEEP, VERSIONS, ModelStore, ModelStoreError
from ml.serving.recommender import Recommender
from ml.training.cli import CliError, cli_errors
from ml.training.evaluate import HeldOutFigures, held_out_users

log = logging.getLogger(__name__)

#: Default relative slack per figure before a candidate counts as worse.
TOLERANCE = 0.02
#: Exit statuses.
PROMOTED, REFUSED = 0, 1
#: Environment variable naming the store when ``--store`` is not given.
STORE_ENV = "CINEMATCH_MODEL_STORE"
#: (figure, label, lower is better)
FIGURES = (
    ("rmse", "RMSE (lower is better)", True),
    ("ndcg_at_10", "ranking NDCG@10", False),
    ("newcomer_ndcg_at_10", "newcomer NDCG@10, 5 ratings", False),
    ("chart_ndcg_at_10", "popular chart NDCG@10", False),
)


@dataclass(frozen=True)
class Row:
    label: str
    current: float
    candidate: float
    change: float  # relative, signed so that positive is better
    worse: bool


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    current: HeldOutFigures
    candidate: HeldOutFigures
    n_ratings: int

    @property
    def passed(self) -> bool:
        return not any(row.worse for row in self.rows)


def comparable(current: dict[str, Any], candidate: dict[str, Any]) -> None:
    """Raise ``CliError`` unless neither model can have trained on the candidate's held-out
    users (module docstring)."""
    ours, theirs = candidate.get(GATE_HOLDOUT_KEY), current.get(GATE_HOLDOUT_KEY)
    if not theirs:
        raise CliError("cannot compare: the served model holds no users out (trained before "
                       "the gate or with --gate-users 0), so it may have trained on the test "
                       "users; retrain it with `python -m ml.training.train` and promote that "
                       "first")
    if not ours:
        raise CliError("cannot compare: the candidate holds no users out (--gate-users 0)")
    keys = ("users_fraction", "salt", "sha256")
    if any(ours.get(k) != theirs.get(k) for k in keys):
        raise CliError("cannot compare: the two models held out different users "
                       f"(candidate {_rule(ours)}, served {_rule(theirs)})")
    files = [sorted(s.get("sha256", "") for s in m.get("data", {}).get("sources", []))
             for m in (candidate, current)]
    if files[0] != files[1]:
        raise CliError("cannot compare: the two models were trained on different MovieLens "
                       "files, so their held-out users are not the same people")


def compare(current: Recommender, candidate: Recommender, held: pd.DataFrame, seed: int,
            tolerance: float) -> Comparison:
    """Both models' figures on the same held-out ratings (films both know), row by row."""
    both = np.intersect1d(current.items.ids, candidate.items.ids)
    held = held[held["movie_id"].isin(both)]
    figures = [held_out_users(r, held, seed) for r in (current, candidate)]
    rows = []
    for key, label, lower_better in FIGURES:
        before, after = getattr(figures[0], key), getattr(figures[1], key)
        change = (after - before) / before if before else (0.0 if after == before else 1.0)
        better = -change if lower_better else change
        rows.append(Row(label, before, after, better, better < -tolerance))
    return Comparison(rows, figures[0], figures[1], len(held))


def format_table(comparison: Comparison, tolerance: float) -> str:
    lines = [f"{'figure':<30} {'served':>8} {'candidate':>10} {'change':>8}  verdict"]
    for row in comparison.rows:
        verdict = f"WORSE (beyond {tolerance:.1%})" if row.worse else "ok"
        lines.append(f"{row.label:<30} {row.current:>8.4f} {row.candidate:>10.4f} "
                     f"{row.change:>+8.2%}  {verdict}")
    c = comparison.candidate
    lines.append(f"(change: + is better; on {c.n_users} held-out users neither model trained "
                 f"on, {c.n_test_ratings} hidden ratings, {c.n_newcomers} newcomers)")
    return "\n".join(lines)


def resolve_store(candidate: Path | None, store: Path | None) -> ModelStore:
    if store is None and candidate is not None and candidate.resolve().parent.name == VERSIONS:
        store = candidate.resolve().parent.parent
    if store is None and os.environ.get(STORE_ENV):
        store = Path(os.environ[STORE_ENV])
    if store is None:
        raise CliError(f"which model store? pass --store STORE (or set {STORE_ENV})")
    return ModelStore(store)


def promote(candidate: Path, store: ModelStore, tolerance: float) -> int:
    if not candidate.is_dir():
        raise CliError(f"{candidate}: no such model directory")
    new = load_artifact(candidate)  # refuse a broken candidate before anything else
    if candidate.resolve().parent == (store.root / VERSIONS).resolve():
        version = candidate.resolve().name
    else:
        version = store.add(candidate, str(new.manifest.get("model_version", "model")))
    served = store.current()
    if served is None:
        store.promote(version)
        print(f"nothing was served yet: promoted {version} without a comparison")
        _picked_up(store)
        return PROMOTED
    if served == version:
        raise CliError(f"{version} is already the served model")
    current = load_artifact(store.path_of(served))
    comparable(current.manifest, new.manifest)
    holdout = load_holdout(candidate)
    held = pd.DataFrame(holdout.arrays())
    log.info("scoring both models on %d held-out users…", held["user_id"].nunique())
    comparison = compare(Recommender(current), Recommender(new), held, holdout.salt, tolerance)
    print(f"served: {served}\ncandidate: {version}")
    print(format_table(comparison, tolerance))
    if not comparison.passed:
        print(f"refused: {served} stays served")
        return REFUSED
    store.promote(version)
    print(f"promoted {version}: {store.current_link} -> {VERSIONS}/{version}")
    _picked_up(store)
    return PROMOTED


def _picked_up(store: ModelStore) -> None:
    print(f"a service with CINEMATCH_MODEL_DIR={store.current_link} loads it at its next "
          "CINEMATCH_MODEL_WATCH_S check, or now with POST /admin/reload")


def _rule(section: dict[str, Any]) -> str:
    return (f"{section.get('users_fraction')} of users, salt {section.get('salt')}, "
            f"ratings {str(section.get('sha256'))[:10]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.promote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", nargs="?", type=Path,
                        help="a trained model directory (a store version, or any: copied in)")
    parser.add_argument("--rollback", action="store_true",
                        help="serve the version served before the current one")
    parser.add_argument("--store", type=Path,
                        help=f"the model store (default: the candidate's, or ${STORE_ENV})")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help=f"relative slack per figure (default {TOLERANCE})")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help=f"versions kept after the run (default {DEFAULT_KEEP}; the served "
                             "one always)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        if args.rollback == (args.candidate is not None):
            raise CliError("give a CANDIDATE directory or --rollback (one of them)")
        if args.keep < 1 or args.tolerance < 0:
            raise CliError("--keep must be at least 1 and --tolerance at least 0")
        store = resolve_store(args.candidate, args.store)
        try:
            if args.rollback:
                previous = store.rollback()
                print(f"rolled back: {store.current_link} -> {VERSIONS}/{previous}")
                _picked_up(store)
                return PROMOTED
            status = promote(args.candidate, store, args.tolerance)
        except ModelStoreError as error:
            raise CliError(str(error)) from None
        for gone in store.prune(args.keep):
            print(f"deleted old version {gone} (--keep {args.keep})")
        return status


if __name__ == "__main__":
    sys.exit(main())
