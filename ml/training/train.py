"""Train the shipped model.

``python -m ml.training.train --data DIR [--data DIR ...] --out models``: the command line over
``ml.training.pipeline.fit_artifact``. ``--app-ratings DATABASE_URL`` adds the service's own
ratings (``ml.data.app``; users with fewer than ``--app-min-ratings`` left out), recorded under
``app_ratings`` in the manifest. ``--store STORE`` writes a new version folder of a model store
instead of ``--out`` and prints it, for ``python -m ml.training.promote``. ``--test-fraction``
holds ratings out to measure the manifest's metrics on a second model (of a sample of users
above ``--test-max-ratings``). ``--gate-users`` holds MovieLens users out of training entirely,
by a rule of their id, and saves their ratings beside the model (``holdout.npz``) for the
promote gate; the service's own users are never held out.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data import APP_SOURCE, Dataset, add_app_ratings, fetch_app_ratings
from ml.data.split import hashed_users_holdout
from ml.rules import PERSONALISATION_THRESHOLD
from ml.serving.artifacts import APP_RATINGS_KEY, AppRatings, Artifact, GateHoldout, save_artifact
from ml.serving.model_store import ModelStore
from ml.training.cli import (
    CliError,
    add_output_arguments,
    add_params_arguments,
    add_ranking_arguments,
    cli_errors,
    load_training_data,
    params_from_arguments,
    ranking_from_arguments,
)
from ml.training.evaluate import evaluate_split
from ml.training.pipeline import VALIDATION_FRACTION, fit_artifact, stage

log = logging.getLogger(__name__)

#: Default of ``--app-min-ratings``: the service's own threshold for a personal list. A user
#: below it has told the service too little to be placed among tastes (they still get the
#: popular list), and such drive-by accounts are the likeliest to be tests or noise.
APP_MIN_RATINGS = PERSONALISATION_THRESHOLD
#: Default of ``--test-max-ratings``: above it the held-out metrics' model learns from a
#: random sample of users holding about this many ratings, so ml-32m is not trained twice over.
TEST_MAX_RATINGS = 2_000_000


def hold_out_gate_users(dataset: Dataset, fraction: float,
                        salt: int) -> tuple[GateHoldout, Dataset]:
    """Split the promote gate's held-out MovieLens users off ``dataset`` (never app users).

    A function of its own so that the full frame is freed when it returns (0.6 GB at 32M)."""
    ratings = dataset.ratings
    eligible = (np.ones(len(ratings), dtype=bool) if "source" not in ratings.columns
                else (ratings["source"] != APP_SOURCE).to_numpy())
    kept, held = hashed_users_holdout(ratings, fraction, salt, eligible)
    holdout = GateHoldout(fraction, salt, held["user_id"].to_numpy(),
                          held["movie_id"].to_numpy(), held["rating"].to_numpy())
    log.info("held out for the promote gate: %d users (%d ratings)",
             held["user_id"].nunique(), len(held))
    return holdout, replace(dataset, ratings=kept)


def sample_users(ratings: pd.DataFrame, max_ratings: int,
                 seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All of ``ratings`` when they are at most ``max_ratings``; otherwise every rating of a
    seeded random set of users holding about that many (users in random order, taken while
    the count stays within it). The second value describes the sample, for the manifest."""
    user_ids = ratings["user_id"].to_numpy()
    if len(ratings) <= max_ratings:
        return ratings, {}
    users, counts = np.unique(user_ids, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(users))
    taken = order[np.cumsum(counts[order]) <= max_ratings]
    chosen = np.isin(user_ids, users[taken])
    sample = {"users_sampled": len(taken), "users": len(users), "max_ratings": max_ratings,
              "ratings_sampled": int(chosen.sum()), "ratings": len(ratings)}
    log.info("held-out metrics on a sample: %d of %d users (%d of %d ratings)",
             len(taken), len(users), sample["ratings_sampled"], len(ratings))
    return ratings[chosen], sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, type=Path,
                        help="a MovieLens folder (ml-1m, ml-latest-small, ml-25m, ml-32m…); "
                             "repeat to merge releases (newest last)")
    parser.add_argument("--links", type=Path, help="an extra links.csv (movieId→tmdbId)")
    add_output_arguments(parser)
    parser.add_argument("--app-ratings", metavar="DATABASE_URL",
                        help="also train on the ratings stored by the service at this URL")
    parser.add_argument("--app-min-ratings", type=int, default=APP_MIN_RATINGS,
                        help="leave out app users with fewer ratings on known films "
                             f"(default {APP_MIN_RATINGS}: the personal-list threshold)")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share held out to measure the shipped metrics (0 to skip)")
    parser.add_argument("--test-max-ratings", type=int, default=TEST_MAX_RATINGS,
                        help="above this many ratings the shipped metrics come from a model "
                             "of a random sample of users holding about as many "
                             f"(default {TEST_MAX_RATINGS:,})")
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
        if args.app_min_ratings < 1:
            raise CliError("--app-min-ratings must be at least 1")
        if args.test_max_ratings < 1:
            raise CliError("--test-max-ratings must be at least 1")
        stages: dict[str, dict[str, float]] = {}
        with stage(stages, "load"):
            dataset, sources = load_training_data(args.data, args.links)
        app_receipt = None
        if args.app_ratings is not None:
            app, app_receipt = fetch_app_ratings(args.app_ratings, dataset.movies["movie_id"],
                                                 args.app_min_ratings)
            if app_receipt.n_ratings == 0:
                raise CliError(
                    "no app ratings to learn from: no user has "
                    f"{args.app_min_ratings} ratings of known films "
                    f"({app_receipt.n_users_left_out} users have fewer)")
            log.info("app ratings: %d of %d users (read at %s, %d users below %d left out)",
                     app_receipt.n_ratings, app_receipt.n_users, app_receipt.read_at,
                     app_receipt.n_users_left_out, app_receipt.min_ratings)
            dataset = add_app_ratings(dataset, app)
        holdout = None
        if args.gate_users > 0:
            holdout, dataset = hold_out_gate_users(dataset, args.gate_users, args.gate_salt)
        metrics: dict[str, Any] = {}
        if args.test_fraction > 0:
            log.info("measuring on a %.0f%% holdout…", args.test_fraction * 100)
            with stage(stages, "held_out_metrics"):
                measured, sample = sample_users(dataset.ratings, args.test_max_ratings,
                                                args.seed)
                metrics = evaluate_split(measured, dataset.movies, params, args.test_fraction,
                                         args.seed, implicit_params=implicit,
                                         ranking_weights=weights).as_json()
                metrics["split"].update(sample)
                del measured
        log.info("training on %d ratings…", len(dataset.ratings))
        started = time.perf_counter()
        with stage(stages, "fit"):
            fitted = fit_artifact(dataset.ratings, dataset.movies, params, sources,
                                  validation_fraction=args.validation_fraction,
                                  implicit_params=implicit, ranking_weights=weights)
        fitted.artifact.manifest["metrics"] = metrics
        # The command's own stages beside the fit's (``stages.fit`` holds all of those).
        fitted.artifact.manifest["training"]["stages"] = {
            **stages, **fitted.artifact.manifest["training"]["stages"]}
        save_trained(fitted.artifact, holdout, app_receipt, args.out, args.store, started)
    return 0


def save_trained(artifact: Artifact, holdout: GateHoldout | None,
                 app_receipt: AppRatings | None, out: Path, store: Path | None,
                 started: float) -> Path:
    """Write a trained model to ``out``, or to a new version folder of ``store`` (its path
    printed on stdout, for ``python -m ml.training.promote``), with the app ratings' receipt."""
    manifest = artifact.manifest
    manifest[APP_RATINGS_KEY] = None if app_receipt is None else app_receipt.as_json()
    if store is not None:
        out = ModelStore(store).new_version_dir(manifest["model_version"])
    save_artifact(out, artifact, holdout)
    log.info("saved %s (%s) in %.1f s", out, manifest["model_version"],
             time.perf_counter() - started)
    if store is not None:
        print(out)
    return out


if __name__ == "__main__":
    sys.exit(main())
