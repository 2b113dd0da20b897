"""Train the shipped model: ``python -m ml.train --data DIR [--data DIR ...] --out models``.

A thin CLI: argument parsing over ``ml.pipeline.fit_artifact`` (the library code) and
``ml.evaluate.evaluate_split`` (the metrics saved into the manifest). ``fit_artifact`` and
``FittedModel`` are re-exported for callers written before ``ml.pipeline`` existed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ml.artifacts import save_artifact
from ml.cli import (
    add_params_arguments,
    add_ranking_arguments,
    cli_errors,
    load_training_data,
    params_from_arguments,
    ranking_from_arguments,
)
from ml.evaluate import evaluate_split
from ml.pipeline import VALIDATION_FRACTION, FittedModel, fit_artifact

__all__ = ["FittedModel", "fit_artifact", "main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__)
    parser.add_argument("--data", action="append", required=True, type=Path,
                        help="a MovieLens folder (ml-1m, ml-latest-small, ml-25m, ml-32m…); "
                             "repeat to merge releases (newest last)")
    parser.add_argument("--links", type=Path, help="an extra links.csv (movieId→tmdbId)")
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share held out to measure the shipped metrics (0 to skip)")
    parser.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION,
                        help="share held out to early-stop on, then trained again on all "
                             "(0: one pass of --n-epochs; the full releases never stop early)")
    add_ranking_arguments(parser)
    add_params_arguments(parser)
    args = parser.parse_args(argv)
    implicit, weights = ranking_from_arguments(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with cli_errors():
        params = params_from_arguments(args)
        dataset, sources = load_training_data(args.data, args.links)
        metrics: dict[str, Any] = {}
        if args.test_fraction > 0:
            log.info("measuring on a %.0f%% holdout…", args.test_fraction * 100)
            metrics = evaluate_split(dataset.ratings, dataset.movies, params, args.test_fraction,
                                     args.seed, implicit_params=implicit,
                                     ranking_weights=weights).as_json()
        log.info("training on %d ratings…", len(dataset.ratings))
        started = time.perf_counter()
        fitted = fit_artifact(dataset.ratings, dataset.movies, params, sources,
                              validation_fraction=args.validation_fraction,
                              implicit_params=implicit, ranking_weights=weights)
        fitted.artifact.manifest["metrics"] = metrics
        save_artifact(args.out, fitted.artifact)
        log.info("saved %s (%s) in %.1f s", args.out, fitted.artifact.manifest["model_version"],
                 time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
