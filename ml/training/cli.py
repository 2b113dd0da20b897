"""What the command-line tools share: one-line errors and loading the training data."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.data import (
    AppRatingsError,
    DataFormatError,
    Dataset,
    DownloadError,
    describe_sources,
    load_dataset,
)
from ml.data import merge_datasets as merge
from ml.models.funksvd.model import FunkSVDParams
from ml.models.ials.model import ImplicitParams
from ml.serving.artifacts import ArtifactError
from ml.serving.ranking import RankingWeights

#: Default share of MovieLens users held out for the promote gate: ~200 people of ml-1m +
#: ml-latest-small, enough for paired figures, at a cost of 3% of the training ratings.
GATE_USERS = 0.03
#: Default salt of the held-out rule; models compared by the gate must share it.
GATE_SALT = 20261126


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn expected failures into ``error: <message>`` on stderr and exit status 2."""
    try:
        yield
    except (CliError, DataFormatError, ArtifactError, AppRatingsError, DownloadError, OSError,
            ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def exit_code_of(action: Callable[[], object]) -> int:
    """Run ``action`` under ``cli_errors`` and return the exit status instead of exiting."""
    try:
        with cli_errors():
            action()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2
    return 0


def load_training_data(
    folders: Sequence[Path], links: Path | None,
) -> tuple[Dataset, list[dict[str, Any]]]:
    """Load one or several releases (merged, users namespaced) and describe their files."""
    if not folders:
        raise CliError("no data folder given (pass --data DIR)")
    for folder in folders:
        if not folder.is_dir():
            raise CliError(f"{folder}: no such data folder (pass --data DIR, or download one "
                           "with `python -m ml.data download ml-latest-small --to DIR`)")
    if links is not None and not links.is_file():
        raise CliError(f"{links}: no such links file")
    datasets = [load_dataset(folder, links=links) for folder in folders]
    dataset = datasets[0] if len(datasets) == 1 else merge(datasets)
    return dataset, list(describe_sources(folders, links))


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a trainer writes the model, and the promote gate's held-out users."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, default=Path("models"),
                        help="model folder to write (default: models)")
    target.add_argument("--store", type=Path,
                        help="a model store: write a NEW version folder in it (printed)")
    parser.add_argument("--gate-users", type=float, default=GATE_USERS,
                        help="share of MovieLens users held out for the promote gate "
                             f"(default {GATE_USERS}; 0: none, and ml.training.promote cannot "
                             "compare)")
    parser.add_argument("--gate-salt", type=int, default=GATE_SALT,
                        help="salt of the held-out rule (models compared must share it)")


def add_ranking_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for the ranking model's data-dependent settings (``make train`` passes the
    shipped sources' iALS rating confidence, ``SHIPPED_RANKING`` in the Makefile)."""
    implicit, weights = ImplicitParams(), RankingWeights()
    parser.add_argument("--rating-confidence", type=float, default=implicit.rating_confidence,
                        help="iALS confidence per star away from 3 (ImplicitParams)")
    parser.add_argument("--rating-weight", type=float, default=weights.rating,
                        help="the ranking score's predicted-rating weight for a full history "
                             "(RankingWeights.rating)")
    parser.add_argument("--popularity-weight", type=float, default=weights.popularity,
                        help="the ranking score's popularity prior for a full history "
                             "(RankingWeights.popularity)")


def ranking_from_arguments(args: argparse.Namespace) -> tuple[ImplicitParams, RankingWeights]:
    """The iALS parameters and ranking weights the flags of ``add_ranking_arguments`` set."""
    return (replace(ImplicitParams(), rating_confidence=args.rating_confidence),
            replace(RankingWeights(), rating=args.rating_weight,
                    popularity=args.popularity_weight))


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """Hyper-parameter flags shared by the train and evaluate CLIs."""
    defaults = FunkSVDParams()
    parser.add_argument("--method", choices=["gibbs", "als"], default=defaults.method)
    parser.add_argument("--n-factors", type=int, default=defaults.n_factors)
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--n-epochs", type=int, default=defaults.n_epochs)
    parser.add_argument("--burn-in", type=int, default=defaults.burn_in)
    parser.add_argument("--reg", type=float, default=defaults.reg)
    parser.add_argument("--seed", type=int, default=defaults.seed)


def params_from_arguments(args: argparse.Namespace) -> FunkSVDParams:
    return FunkSVDParams(method=args.method, n_factors=args.n_factors, rank=args.rank,
                         n_epochs=args.n_epochs, burn_in=args.burn_in, reg=args.reg,
                         seed=args.seed)
