"""RMSE and training time of CineMatch's FunkSVD beside Surprise's SVD, on the same splits.

    .venv/bin/python bench/rating_accuracy.py [--data-root DIR] [--quick] [--json PATH] [--tune]

Surprise SVD, the bias baseline and CineMatch (Gibbs and ALS) on ml-100k's u1–u5 folds and the
partial ml-1m split; the test set is read only as a finish line for the time-to-RMSE figure.
``--tune`` instead scores FunkSVD's hyper-parameter grid on validation carved from the training
ratings (the test ratings are never read). Protocol: bench/README.md. Results:
``bench/results/rating_accuracy.json``.
"""

from __future__ import annotations

import itertools
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import DATA_ROOT, RESULTS, arguments, missing_data, now, verdict, write_json
from ml.data import load_dataset
from ml.data.split import random_split, validation_split
from ml.models.baseline import BiasBaseline
from ml.models.funksvd.model import FunkSVDParams
from ml.models.funksvd.train import Validation, train_funksvd
from ml.models.matrix import IdMap
from ml.training.evaluate import read_100k_split
from ml.training.metrics import mae, rmse
from ml.training.pipeline import fit_artifact, rating_matrix

try:
    import surprise
except ImportError:  # the CineMatch side still runs; `make bench` installs it
    surprise = None

log = logging.getLogger("bench.rating_accuracy")

ML1M_MAX_USER = 2999  # the partial ratings file holds users 1–2999
ML1M_TEST_FRACTION = 0.1
ML1M_SEED = 42

TARGET_ML100K_RMSE = 0.905
TARGET_ML1M_RMSE = 0.850
TARGET_TRAIN_SECONDS = 15.0

TIME_TO_TARGET_FIRST_SWEEPS = 20
#: ``--tune``: FunkSVD's grid, each point scored on 10% of the training ratings (seed 7).
TUNE_GRID = {"n_factors": (8, 16, 24), "n_epochs": (50, 65, 100), "burn_in": (4, 10)}

REFERENCE = "surprise_svd"
CINEMATCH = {
    "cinematch_gibbs": FunkSVDParams(),
    "cinematch_als": FunkSVDParams(method="als"),
}


@dataclass(frozen=True)
class Fit:
    """One model measured on one split."""

    model: str
    rmse: float
    mae: float
    train_seconds: float

    @classmethod
    def of(cls, model: str, predicted: np.ndarray, test: pd.DataFrame, seconds: float) -> Fit:
        truth = test["rating"].to_numpy(np.float64)
        return cls(model, rmse(predicted, truth), mae(predicted, truth), seconds)


@dataclass(frozen=True)
class TimeToTarget:
    """How long CineMatch's solver took to match Surprise SVD's test RMSE on one split."""

    split: str
    model: str
    target_rmse: float
    surprise_fit_seconds: float
    sweep: int | None  # first sweep at or below the target; None if never reached
    seconds: float | None
    rmse_at_sweep: float | None
    sweeps_run: int


def fit_surprise(train: pd.DataFrame, test: pd.DataFrame) -> tuple[Fit, float]:
    """Surprise SVD with its defaults; also returns the seconds spent in ``fit`` alone."""
    assert surprise is not None
    started = time.perf_counter()
    scale = (float(train["rating"].min()), float(train["rating"].max()))
    data = surprise.Dataset.load_from_df(train[["user_id", "movie_id", "rating"]],
                                         surprise.Reader(rating_scale=scale))
    trainset = data.build_full_trainset()
    algorithm = surprise.SVD(random_state=0)
    fit_started = time.perf_counter()
    algorithm.fit(trainset)
    finished = time.perf_counter()
    testset = zip(test["user_id"].tolist(), test["movie_id"].tolist(), test["rating"].tolist(),
                  strict=True)
    predicted = np.array([p.est for p in algorithm.test(list(testset))])
    return Fit.of(REFERENCE, predicted, test, finished - started), finished - fit_started


def fit_bias_baseline(train: pd.DataFrame, test: pd.DataFrame) -> Fit:
    started = time.perf_counter()
    users = IdMap.from_values(train["user_id"].to_numpy())
    items = IdMap.from_values(train["movie_id"].to_numpy())
    baseline = BiasBaseline().fit(rating_matrix(train, users, items))
    seconds = time.perf_counter() - started
    predicted = baseline.predict_pairs(users.indices(test["user_id"].to_numpy()),
                                       items.indices(test["movie_id"].to_numpy()))
    return Fit.of("bias_baseline", predicted, test, seconds)


def fit_cinematch(name: str, params: FunkSVDParams, train: pd.DataFrame, test: pd.DataFrame,
                  movies: pd.DataFrame) -> Fit:
    """The exact training and prediction path of ``ml.training.evaluate`` and ``make train``."""
    started = time.perf_counter()
    fitted = fit_artifact(train, movies, params, progress=False)
    seconds = time.perf_counter() - started
    predicted = fitted.artifact.model.predict_pairs(
        fitted.users.indices(test["user_id"].to_numpy()),
        fitted.artifact.items.indices(test["movie_id"].to_numpy()))
    return Fit.of(name, predicted, test, seconds)


def time_to_target(split: str, name: str, params: FunkSVDParams, train: pd.DataFrame,
                   test: pd.DataFrame, target: float,
                   surprise_fit_seconds: float) -> TimeToTarget:
    """Train with the test ratings as ``validation``, purely to time reaching ``target``.

    For Gibbs only sweeps that average posterior samples count (earlier ones are the MAP
    warm-up, which the method never ships), the same rule the trainer's early stopping uses.
    With a fixed seed the first n sweeps do not depend on ``n_epochs``, so short runs are tried
    first (doubling up to ``params.n_epochs``) instead of always paying for the longest one.
    """
    users = IdMap.from_values(train["user_id"].to_numpy())
    items = IdMap.from_values(train["movie_id"].to_numpy())
    matrix = rating_matrix(train, users, items)
    finish_line = Validation(users.indices(test["user_id"].to_numpy()),
                             items.indices(test["movie_id"].to_numpy()),
                             test["rating"].to_numpy(np.float64))
    first_counted = params.burn_in + 1 if params.method == "gibbs" else 1
    sweeps = min(params.n_epochs, max(2 * first_counted, TIME_TO_TARGET_FIRST_SWEEPS))
    while True:
        result = train_funksvd(matrix, replace(params, n_epochs=sweeps), finish_line,
                               progress=False)
        reached = next((stats for stats in result.history if stats.epoch >= first_counted
                        and stats.validation_rmse is not None
                        and stats.validation_rmse <= target), None)
        if reached is not None:
            return TimeToTarget(split, name, target, surprise_fit_seconds, reached.epoch,
                                reached.seconds, reached.validation_rmse, len(result.history))
        if sweeps >= params.n_epochs or len(result.history) < sweeps:  # the end, or early stop
            return TimeToTarget(split, name, target, surprise_fit_seconds, None, None, None,
                                len(result.history))
        sweeps = min(params.n_epochs, 2 * sweeps)


def run_split(split: str, train: pd.DataFrame, test: pd.DataFrame, movies: pd.DataFrame,
              timed: bool) -> tuple[list[Fit], list[TimeToTarget]]:
    """Every model on one split; with ``timed``, also the time-to-Surprise's-RMSE runs."""
    log.info("%s: %d train / %d test ratings", split, len(train), len(test))
    fits: list[Fit] = []
    surprise_fit_seconds = None
    if surprise is not None:
        reference, surprise_fit_seconds = fit_surprise(train, test)
        fits.append(reference)
        log.info("  %-16s RMSE %.4f in %.1f s", reference.model, reference.rmse,
                 reference.train_seconds)
    fits.append(fit_bias_baseline(train, test))
    for name, params in CINEMATCH.items():
        fits.append(fit_cinematch(name, params, train, test, movies))
        log.info("  %-16s RMSE %.4f in %.1f s", name, fits[-1].rmse, fits[-1].train_seconds)
    if not timed or surprise_fit_seconds is None:
        return fits, []
    return fits, [time_to_target(split, name, params, train, test, fits[0].rmse,
                                 surprise_fit_seconds) for name, params in CINEMATCH.items()]


def mean_fits(folds: list[list[Fit]]) -> list[Fit]:
    frame = pd.DataFrame([asdict(fit) for fold in folds for fit in fold])
    means = frame.groupby("model", sort=False).mean()
    return [Fit(str(name), float(row.rmse), float(row.mae), float(row.train_seconds))
            for name, row in means.iterrows()]


def ratios(fits: list[Fit]) -> dict[str, tuple[float, float] | None]:
    """(RMSE ratio, time ratio) of each model against Surprise SVD on the same split."""
    reference = next((f for f in fits if f.model == REFERENCE), None)
    if reference is None:
        return dict.fromkeys((f.model for f in fits), None)
    return {f.model: (f.rmse / reference.rmse, f.train_seconds / reference.train_seconds)
            for f in fits}


def table(title: str, fits: list[Fit]) -> str:
    lines = [title,
             f"  {'model':<16} {'RMSE':>7} {'MAE':>7} {'train s':>8} {'RMSE/SVD':>9} "
             f"{'time/SVD':>9}"]
    for fit, ratio in zip(fits, ratios(fits).values(), strict=True):
        shown = "        -         -" if ratio is None else f"{ratio[0]:>9.3f} {ratio[1]:>8.2f}x"
        lines.append(f"  {fit.model:<16} {fit.rmse:>7.4f} {fit.mae:>7.4f} "
                     f"{fit.train_seconds:>8.2f} {shown}")
    return "\n".join(lines)


def fold_table(folds: dict[str, list[Fit]]) -> str:
    names = list(folds)
    lines = ["  RMSE per fold", f"  {'model':<16} " + " ".join(f"{n:>7}" for n in names)]
    for model in (f.model for f in next(iter(folds.values()))):
        values = [next(f.rmse for f in folds[n] if f.model == model) for n in names]
        lines.append(f"  {model:<16} " + " ".join(f"{v:>7.4f}" for v in values))
    return "\n".join(lines)


def best_cinematch(fits: list[Fit]) -> Fit:
    return min((f for f in fits if f.model in CINEMATCH), key=lambda f: f.rmse)


def targets(ml100k_mean: list[Fit], ml100k_label: str, ml1m: list[Fit] | None,
            timings: list[TimeToTarget]) -> str:
    best = best_cinematch(ml100k_mean)
    lines = ["Targets", f"  {ml100k_label} RMSE <= {TARGET_ML100K_RMSE:.3f}: {best.model} "
                        f"{best.rmse:.4f}  {verdict(best.rmse <= TARGET_ML100K_RMSE)}"]
    if ml1m is None:
        lines.append(f"  ml-1m RMSE <= {TARGET_ML1M_RMSE:.3f}: not run (--quick)")
        timed_split, timed_best = ml100k_label, best
    else:
        timed_split, timed_best = "ml-1m", best_cinematch(ml1m)
        lines.append(f"  ml-1m RMSE <= {TARGET_ML1M_RMSE:.3f}: {timed_best.model} "
                     f"{timed_best.rmse:.4f}  {verdict(timed_best.rmse <= TARGET_ML1M_RMSE)}")
    lines.append(f"  best model trained in <= {TARGET_TRAIN_SECONDS:.0f} s ({timed_split}): "
                 f"{timed_best.model} {timed_best.train_seconds:.1f} s  "
                 f"{verdict(timed_best.train_seconds <= TARGET_TRAIN_SECONDS)}")
    if timings:
        lines += ["  time for CineMatch to reach Surprise SVD's test RMSE, against Surprise's "
                  "own fit time",
                  "  (these runs use the test set only as a fixed finish line, never to tune)"]
    for t in timings:
        head = f"    {t.split:<10} {t.model:<16} target {t.target_rmse:.4f}:"
        if t.sweep is None or t.seconds is None:
            lines.append(f"{head} not reached in {t.sweeps_run} sweeps")
        else:
            lines.append(f"{head} sweep {t.sweep} (RMSE {t.rmse_at_sweep:.4f}) at "
                         f"{t.seconds:.2f} s vs Surprise fit {t.surprise_fit_seconds:.2f} s = "
                         f"{t.seconds / t.surprise_fit_seconds:.2f}x")
    return "\n".join(lines)


def as_json(fits: list[Fit]) -> list[dict[str, Any]]:
    return [{"model": fit.model, "rmse": round(fit.rmse, 4), "mae": round(fit.mae, 4),
             "train_seconds": round(fit.train_seconds, 2),
             "rmse_ratio_vs_surprise": None if ratio is None else round(ratio[0], 4),
             "time_ratio_vs_surprise": None if ratio is None else round(ratio[1], 3)}
            for fit, ratio in zip(fits, ratios(fits).values(), strict=True)]


def validation_rmse(train: pd.DataFrame, params: FunkSVDParams) -> tuple[float, float]:
    """RMSE on 10% of ``train`` held out (seed 7) after training on the rest; solver seconds."""
    fit, held = validation_split(train, 0.1, seed=7)
    users, items = IdMap.from_values(fit["user_id"]), IdMap.from_values(fit["movie_id"])
    result = train_funksvd(rating_matrix(fit, users, items), params, progress=False)
    predicted = result.model.predict_pairs(users.indices(held["user_id"]),
                                           items.indices(held["movie_id"]))
    return rmse(predicted, held["rating"].to_numpy(np.float64)), result.seconds


def tune(splits: dict[str, pd.DataFrame], quick: bool) -> None:
    """Print ``TUNE_GRID``'s validation RMSE on each training set, and the best point."""
    grid = [point for point in itertools.product(*TUNE_GRID.values())
            if not quick or point[1] == 65]
    for name, train in splits.items():
        print(f"\n{name}: validation RMSE (10% of training ratings, seed 7)")
        print(f"  {'factors':>7} {'sweeps':>6} {'burn-in':>7} {'RMSE':>7} {'train s':>7}")
        rows = []
        for k, sweeps, burn in grid:
            score, seconds = validation_rmse(
                train, FunkSVDParams(n_factors=k, n_epochs=sweeps, burn_in=burn))
            rows.append((score, k, sweeps, burn, seconds))
            print(f"  {k:>7} {sweeps:>6} {burn:>7} {score:>7.4f} {seconds:>7.1f}", flush=True)
        best = min(rows)
        print(f"  best: {best[1]} factors, {best[2]} sweeps, burn-in {best[3]} "
              f"(RMSE {best[0]:.4f})")
    defaults = FunkSVDParams()
    print(f"\nshipped defaults: {defaults.n_factors} factors, {defaults.n_epochs} sweeps, "
          f"burn-in {defaults.burn_in}")


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "ml-100k u1 only (with --tune, a smaller grid)",
                       "rating_accuracy")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT,
                        help="folder holding ml-100k/ and ml-1m/")
    parser.add_argument("--tune", action="store_true",
                        help="FunkSVD's grid on validation carved from training; nothing written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    folder_100k, folder_1m = args.data_root / "ml-100k", args.data_root / "ml-1m"
    if missing_data(args.data_root, *(["ml-100k"] if args.quick else ["ml-100k", "ml-1m"])):
        return 2
    if args.tune:
        splits = {"ml-100k u1.base": read_100k_split(folder_100k / "u1.base")}
        if not args.quick:
            ratings = load_dataset(folder_1m).ratings
            splits["ml-1m partial, train part"] = random_split(ratings, ML1M_TEST_FRACTION,
                                                               ML1M_SEED)[0]
        tune(splits, args.quick)
        return 0
    if surprise is None:
        print("warning: scikit-surprise is not installed (make bench installs it); running "
              "the CineMatch side only, without ratios", file=sys.stderr)
    started = time.perf_counter()
    surprise_version = getattr(surprise, "__version__", "not installed")
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"{os.cpu_count()} CPUs (shared); OPENBLAS_NUM_THREADS {blas_threads}; "
          f"Python {platform.python_version()}; numpy {np.__version__}; "
          f"scikit-surprise {surprise_version}")
    print(f"CineMatch params: gibbs {CINEMATCH['cinematch_gibbs']}")
    print(f"                  als   {CINEMATCH['cinematch_als']}\n")

    movies_100k = load_dataset(folder_100k).movies
    folds: dict[str, list[Fit]] = {}
    timings: list[TimeToTarget] = []
    fold_sizes: dict[str, dict[str, int]] = {}
    for name in ["u1"] if args.quick else [f"u{k}" for k in range(1, 6)]:
        train = read_100k_split(folder_100k / f"{name}.base")
        test = read_100k_split(folder_100k / f"{name}.test")
        fold_sizes[name] = {"n_train": len(train), "n_test": len(test)}
        folds[name], timed = run_split(f"ml-100k {name}", train, test, movies_100k,
                                       timed=name == "u1")
        timings += timed
    mean_100k = mean_fits(list(folds.values()))
    label_100k = "ml-100k u1" if args.quick else "ml-100k mean of u1–u5"

    ml1m: list[Fit] | None = None
    ml1m_split: dict[str, Any] | None = None
    if not args.quick:
        dataset = load_dataset(folder_1m)
        ratings = dataset.ratings[dataset.ratings["user_id"] <= ML1M_MAX_USER]
        train, test = random_split(ratings, ML1M_TEST_FRACTION, seed=ML1M_SEED)
        ml1m_split = {"users": f"1–{ML1M_MAX_USER}", "test_fraction": ML1M_TEST_FRACTION,
                      "seed": ML1M_SEED, "n_train": len(train), "n_test": len(test)}
        ml1m, timed = run_split("ml-1m", train, test, dataset.movies, timed=True)
        timings += timed

    print("\n" + table(f"{label_100k} (official folds)", mean_100k))
    if len(folds) > 1:
        print(fold_table(folds))
    if ml1m is not None:
        print("\n" + table("ml-1m users 1–2999, random 90/10 split (seed 42)", ml1m))
    print("\n" + targets(mean_100k, label_100k, ml1m, timings))
    elapsed = time.perf_counter() - started
    print(f"\nwhole benchmark: {elapsed:.0f} s")

    write_json(args.json or (None if args.quick else RESULTS / "rating_accuracy.json"), {
        "generated_at": now(),
        "environment": {"cpus": os.cpu_count(), "openblas_num_threads": blas_threads,
                        "python": platform.python_version(), "numpy": np.__version__,
                        "scikit_surprise": None if surprise is None else surprise_version},
        "params": {name: asdict(p) for name, p in CINEMATCH.items()},
        "targets": {"ml100k_mean_rmse": TARGET_ML100K_RMSE, "ml1m_rmse": TARGET_ML1M_RMSE,
                    "train_seconds": TARGET_TRAIN_SECONDS},
        "ml100k": {"folds": {n: {**fold_sizes[n], "models": as_json(f)} for n, f in folds.items()},
                   "mean": as_json(mean_100k)},
        "ml1m": None if ml1m is None else {"split": ml1m_split, "models": as_json(ml1m)},
        "time_to_surprise_rmse": [
            {**{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(t).items()},
             "note": "test set used only as a fixed finish line, not for tuning"}
            for t in timings],
        "seconds": round(elapsed, 1),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
