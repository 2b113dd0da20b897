"""Is the Spark trainer as good as the one-box one? Both on the same ml-1m split, in one run.

    python bench/spark_quality.py [--data ../shared/data/movielens/ml-1m] [--tune]
                                  [--validation-only [--points JSON]] [--master local[2]]

Test RMSE and served NDCG@10 of both trainers; Spark's settings are chosen on validation
carved from training. Targets: Spark's RMSE within 2% of the one-box RMSE, its NDCG@10 within
3%. Protocol: bench/README.md. Results: ``bench/results/spark_quality.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench.harness import DATA_ROOT, RESULTS, now, write_json
from ml.data import load_dataset
from ml.data.split import random_split, validation_split
from ml.models.funksvd.model import FunkSVDParams
from ml.models.ials.model import ImplicitParams
from ml.serving.ranking import RankingWeights
from ml.serving.recommender import Recommender
from ml.training.evaluate import _top_n, evaluate
from ml.training.spark_train import (
    SparkSettings,
    _jvm_cpu_seconds,
    fit_ranking_model,
    fit_rating_model,
    fit_spark,
    package,
    popularity_of,
    prepare,
    spark_rmse,
    spark_session,
)

#: Every validation trial of the residual ALS run so far (``--validation-only``), by setting.
TUNING_LOG = RESULTS / "spark_quality_tuning.json"
RMSE_TARGET, NDCG_TARGET = 0.02, 0.03
#: The residual ALS's points ``--validation-only`` tries (a coordinate search from the
#: former defaults, every point a Spark fit on a shared machine): rounds of bias refits,
#: rank, λ, iterations and the bias damping. Their results: ``TUNING_LOG``.
RATING_POINTS: list[dict[str, Any]] = [
    {"rank": 32, "reg": 0.1, "iterations": 8},
    {"rank": 32, "reg": 0.1, "iterations": 8, "rounds": 2},
    {"rank": 32, "reg": 0.1, "iterations": 8, "rounds": 3},
    {"rank": 64, "reg": 0.1, "iterations": 10, "rounds": 2},
    {"rank": 32, "reg": 0.12, "iterations": 10, "rounds": 2},
    {"rank": 32, "reg": 0.1, "iterations": 8, "rounds": 2, "bias_damping": 25.0},
    {"rank": 32, "reg": 0.1, "iterations": 8, "rounds": 2, "bias_damping": 5.0},
    {"rank": 64, "reg": 0.1, "iterations": 10, "rounds": 3, "bias_damping": 5.0},
    {"rank": 32, "reg": 0.1, "iterations": 8, "rounds": 2, "bias_damping": 2.0},
]
#: The grids ``--tune`` searches as a product (kept small), around the chosen defaults.
RATING_GRID = {"rank": (64,), "reg": (0.1,), "iterations": (10,), "rounds": (1, 3),
               "bias_damping": (5.0,)}
IMPLICIT_GRID = {"implicit_reg": (0.1, 0.3), "unobserved_weight": (0.3,)}

log = logging.getLogger("bench.spark_quality")


def frame_of(spark: Any, ratings: pd.DataFrame) -> Any:
    return spark.createDataFrame(ratings[["user_id", "movie_id", "rating"]].astype(
        {"user_id": "int64", "movie_id": "int64", "rating": "float32"}))


def served_ndcg(artifact: Any, train: pd.DataFrame, test: pd.DataFrame) -> float:
    """NDCG@10 of the list /recommend serves, each test user folded in from ``train``."""
    rows = _top_n(train, test, Recommender(artifact), len(artifact.items))
    return next(r["ndcg_at_10"] for r in rows if r["model"] == "service_ranking")


def spark_figures(spark: Any, train: pd.DataFrame, test: pd.DataFrame, movies: pd.DataFrame,
                  settings: SparkSettings, implicit: ImplicitParams,
                  weights: RankingWeights) -> dict[str, Any]:
    """Fit on ``train`` with Spark; RMSE on ``test`` in Spark, NDCG@10 of the served list."""
    started = time.perf_counter()
    fit = fit_spark(spark, frame_of(spark, train), movies, settings, implicit, weights)
    seconds = time.perf_counter() - started
    figures = {"rmse": round(spark_rmse(fit.spark_models["prepared"], fit.spark_models["rating"],
                                        frame_of(spark, test)), 4),
               "ndcg_at_10": served_ndcg(fit.artifact, train, test),
               "train_seconds": round(seconds, 1), "stages": fit.artifact.manifest["training"]}
    fit.release()
    return figures


def validation_trials(spark: Any, train: pd.DataFrame, base: SparkSettings,
                      points: list[dict[str, Any]], log_path: Path) -> list[dict[str, Any]]:
    """Validation RMSE of the residual ALS at each of ``points`` (SparkSettings fields over
    ``base``), on ``validation_split(train, 0.05, 0)``; the test part is not read. Trials are
    added to ``log_path`` as they finish, and a point already there is not refitted."""
    logged: dict[str, Any] = json.loads(log_path.read_text()) if log_path.exists() else {
        "on": "validation_split(train, 0.05, seed 0) of the ml-1m split's training part: "
              "the test part is never read", "metric": "validation RMSE (executor side)",
        "trials": []}
    fields = list(asdict(base))

    def key(settings: dict[str, Any]) -> tuple:
        return tuple(settings[f] for f in fields)

    done = {key(t["settings"]) for t in logged["trials"]}
    fit_part, held = validation_split(train, 0.05, 0)
    prepared = prepare(spark, frame_of(spark, fit_part), base)
    held_frame = frame_of(spark, held)
    for point in points:
        settings = replace(base, **point)
        if key(asdict(settings)) in done:
            continue
        cpu = _jvm_cpu_seconds(spark)
        rating = fit_rating_model(prepared, settings)
        rmse = spark_rmse(prepared, rating, held_frame)
        after = _jvm_cpu_seconds(spark)
        rating.release()
        trial: dict[str, Any] = {
            "point": point, "rmse": round(rmse, 4), "seconds": round(rating.seconds, 1),
            "jvm_cpu_seconds": None if cpu is None or after is None else round(after - cpu, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "settings": asdict(settings)}
        logged["trials"].append(trial)
        done.add(key(asdict(settings)))
        log_path.write_text(json.dumps(logged, indent=1) + "\n")
        log.info("%s rmse %.4f (%.0f s)", point, rmse, rating.seconds)
    prepared.release()
    return logged["trials"]


def recorded_tuning(log_path: Path, previous: Path) -> dict[str, Any] | None:
    """How the default settings were chosen, for a run without ``--tune``: the residual ALS's
    validation trials (``--validation-only``'s log) and the implicit ALS's trials the
    previous ``--tune`` run recorded in ``previous``."""
    if not log_path.exists():
        return None
    logged = json.loads(log_path.read_text())
    best = min(logged["trials"], key=lambda t: t["rmse"])
    kept: dict[str, Any] = {}
    if previous.exists():
        tuning = json.loads(previous.read_text()).get("tuning") or {}
        kept = tuning.get("implicit") or {
            "grid": tuning.get("implicit_grid"),
            "trials": [t for t in tuning.get("trials", []) if t.get("stage") == "implicit"]}
    return {"on": logged["on"],
            "rating": {"chosen_by": f"lowest validation RMSE of the trials in {log_path.name} "
                                    "(--validation-only)",
                       "best": {"point": best["point"], "rmse": best["rmse"]},
                       "trials": [{**t["point"], "rmse": t["rmse"], "seconds": t["seconds"]}
                                  for t in logged["trials"]]},
            "implicit": kept}


def tune(spark: Any, train: pd.DataFrame, movies: pd.DataFrame, base: SparkSettings,
         implicit: ImplicitParams, weights: RankingWeights) -> tuple[SparkSettings,
                                                                     ImplicitParams, list]:
    """The rating ALS's rank and λ by validation RMSE, then the implicit ALS's λ and α0 by
    validation NDCG@10 of the served list; validation carved from ``train`` only."""
    fit_part, held = validation_split(train, 0.05, 0)
    prepared = prepare(spark, frame_of(spark, fit_part), base)
    held_frame = frame_of(spark, held)
    trials: list[dict[str, Any]] = []
    scored: list[tuple[float, tuple[Any, ...]]] = []
    for values in itertools.product(*RATING_GRID.values()):
        point: dict[str, Any] = dict(zip(RATING_GRID, values, strict=True))
        rating = fit_rating_model(prepared, replace(base, **point))
        rmse = spark_rmse(prepared, rating, held_frame)
        rating.release()
        trials.append({"stage": "rating", **point, "rmse": round(rmse, 4),
                       "seconds": round(rating.seconds, 1)})
        log.info("%s", trials[-1])
        scored.append((rmse, values))
    chosen = replace(base, **dict[str, Any](zip(RATING_GRID, min(scored)[1], strict=True)))
    rating = fit_rating_model(prepared, chosen)
    popularity, chart = popularity_of(prepared)
    ranked: list[tuple[float, float, float]] = []
    for implicit_reg, alpha0 in itertools.product(*IMPLICIT_GRID.values()):
        settings = replace(chosen, implicit_reg=implicit_reg)
        params = replace(implicit, unobserved_weight=alpha0)
        model, seconds = fit_ranking_model(prepared, settings, params)
        artifact = package(spark, prepared, rating.model, model, popularity, chart, movies,
                           settings, params, weights)
        ndcg = served_ndcg(artifact, fit_part, held)
        trials.append({"stage": "implicit", "implicit_reg": implicit_reg,
                       "unobserved_weight": alpha0, "ndcg_at_10": ndcg,
                       "seconds": round(seconds, 1)})
        log.info("%s", trials[-1])
        ranked.append((-ndcg, implicit_reg, alpha0))
    _, implicit_reg, alpha0 = min(ranked)
    rating.release()
    prepared.release()
    return (replace(chosen, implicit_reg=implicit_reg),
            replace(implicit, unobserved_weight=alpha0), trials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_ROOT / "ml-1m")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--tune", action="store_true",
                        help="choose the Spark settings on validation first")
    parser.add_argument("--rating-grid", type=json.loads, default=RATING_GRID,
                        help="JSON: SparkSettings field → values, searched by validation RMSE")
    parser.add_argument("--implicit-grid", type=json.loads, default=IMPLICIT_GRID,
                        help="JSON: implicit_reg and unobserved_weight values")
    parser.add_argument("--validation-only", action="store_true",
                        help="only the residual ALS's validation trials of RATING_POINTS "
                             "(or --points), added to --tuning-log; no test figures")
    parser.add_argument("--points", type=json.loads,
                        help="JSON list of SparkSettings overrides, instead of the grid")
    parser.add_argument("--tuning-log", type=Path, default=TUNING_LOG)
    parser.add_argument("--out", type=Path, default=RESULTS / "spark_quality.json")
    args = parser.parse_args(argv)
    RATING_GRID.clear()
    RATING_GRID.update(args.rating_grid)
    IMPLICIT_GRID.clear()
    IMPLICIT_GRID.update(args.implicit_grid)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dataset = load_dataset(args.data)
    train, test = random_split(dataset.ratings, args.test_fraction, args.seed)
    spark = spark_session(args.master, conf={"spark.driver.memory": "2g"})
    spark.sparkContext.setLogLevel("ERROR")
    settings, implicit, weights = SparkSettings(), ImplicitParams(), RankingWeights()
    if args.validation_only:
        points = args.points or RATING_POINTS
        validation_trials(spark, train, settings, points, args.tuning_log)
        spark.stop()
        return 0
    trials: list[dict[str, Any]] = []
    if args.tune:
        settings, implicit, trials = tune(spark, train, dataset.movies, settings, implicit,
                                          weights)
    log.info("one-box trainer (ml.training.train's defaults)…")
    started = time.perf_counter()
    report = evaluate(train, test, FunkSVDParams(), dataset.movies, progress=False)
    one_box = {"rmse": next(r["rmse"] for r in report.rating if r["model"] == "funksvd"),
               "ndcg_at_10": next(r["ndcg_at_10"] for r in report.top_n
                                  if r["model"] == "service_ranking"),
               "train_seconds": round(time.perf_counter() - started, 1)}
    log.info("one box: %s", one_box)
    log.info("Spark (%s): %s %s", args.master, settings, implicit)
    on_spark = spark_figures(spark, train, test, dataset.movies, settings, implicit, weights)
    log.info("Spark: %s", on_spark)
    rmse_ratio = on_spark["rmse"] / one_box["rmse"]
    ndcg_ratio = on_spark["ndcg_at_10"] / one_box["ndcg_at_10"]
    result = {
        "generated_at": now(),
        "environment": {"cpus": os.cpu_count(), "spark": spark.version, "master": args.master,
                        "note": "shared machine under load from other jobs; times are "
                                "indicative, the quality figures are not affected"},
        "split": {"data": args.data.name, "test_fraction": args.test_fraction,
                  "seed": args.seed, "n_train": len(train), "n_test": len(test)},
        "targets": {"rmse_within": RMSE_TARGET, "ndcg_within": NDCG_TARGET},
        "one_box": {**one_box, "params": asdict(FunkSVDParams())},
        "spark": {**on_spark, "settings": asdict(settings),
                  "implicit": {"unobserved_weight": implicit.unobserved_weight,
                               "spark_alpha": round(1.0 / implicit.unobserved_weight, 4),
                               "rating_confidence": implicit.rating_confidence,
                               "dislike_below": implicit.dislike_below}},
        "ratios": {"rmse_spark_over_one_box": round(rmse_ratio, 4),
                   "ndcg_spark_over_one_box": round(ndcg_ratio, 4)},
        "met": {"rmse": rmse_ratio <= 1 + RMSE_TARGET, "ndcg": ndcg_ratio >= 1 - NDCG_TARGET},
        "tuning": {"on": "validation_split(train, 0.05, seed 0): test never seen",
                   "rating_grid": RATING_GRID, "implicit_grid": IMPLICIT_GRID,
                   "trials": trials} if args.tune else recorded_tuning(args.tuning_log,
                                                                      args.out),
    }
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("one_box", "spark", "ratios", "met")}, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
