"""Serving at ml-32m's catalogue size: personal lists' latency and the API's memory.

    nice -n 5 .venv/bin/python bench/serving_87k.py --model DIR --eval DIR [--quick]
                                                    [--eval-users N] [--json PATH] [--profile]
                                                    [--describe TEXT]
                                                    [--train-time LOG [--train-load LOG]]

``--model`` is a model trained on ``bench/scale.py``'s synthetic 32M set, ``--eval`` that set's
evaluation folder. Targets: personal recommend p99 ≤ 5 ms in process, API resident ≤ 1.5 GB;
``make train`` on the set ≤ 15 min and ≤ 8 GB. Protocol: bench/README.md. Results:
``bench/results/serving_87k.json``.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import RESULTS, arguments, now, write_json
from bench.scale import api_memory, evaluate, evaluation_users, timed
from ml.serving.artifacts import load_artifact
from ml.serving.recommender import PERSONAL_POOL, Recommender
from ml.training.metrics import ndcg_at_k

TARGETS = {"api_resident_gb": 1.5, "recommend_p99_ms": 5.0, "train_minutes": 15.0,
           "train_peak_gb": 8.0}
_DECIMAL = re.compile(r"\d+\.\d+")
#: History lengths at which the item-item term's cost is measured.
COST_HISTORIES = (15, 400)


def item_item_cost(model_dir: Path, history: pd.DataFrame,
                   seed: int = 0) -> dict[str, dict[str, float]]:
    """CPU ms per list (median of 200) with and without the item-item term (the same
    artifact served with ``item_item=None``), for histories of each ``COST_HISTORIES``
    length drawn from the evaluation users' films."""
    rng = np.random.default_rng(seed)
    films = history["movieId"].unique()
    artifact = load_artifact(model_dir)
    served = {"with": Recommender(artifact),
              "without": Recommender(replace(artifact, item_item=None))}
    out = {}
    for size in COST_HISTORIES:
        people = [dict(zip(rng.choice(films, size, replace=False).tolist(),
                           rng.choice([2.0, 3.0, 4.0, 5.0], size).tolist(), strict=True))
                  for _ in range(200)]
        figures = {}
        for label, recommender in served.items():
            recommender.recommend(people[0])
            cpu = [c for _, c in timed(recommender.recommend, people)]
            figures[label] = round(float(np.median(cpu)) / 1e6, 2)
        out[f"{size} ratings"] = figures
    return out


def pool_effect(recommender: Recommender, eval_folder: Path, users: int,
                seed: int = 0) -> dict[str, float]:
    """What ranking personal lists among ``PERSONAL_POOL`` films changes: for ``users``
    evaluation users, the share of top-10s that differ from the whole catalogue's, the films
    they share, and NDCG@10 of both on the held-out ratings."""
    positives, histories, chosen = evaluation_users(
        pd.read_csv(eval_folder / "holdout.csv"), pd.read_csv(eval_folder / "history.csv"),
        users, np.random.default_rng(seed))
    pooled = [[r.movie_id for r in recommender.recommend(histories[u], 10).items]
              for u in chosen]
    kept = recommender._pool_blend
    recommender._pool_blend = None
    try:
        full = [[r.movie_id for r in recommender.recommend(histories[u], 10).items]
                for u in chosen]
    finally:
        recommender._pool_blend = kept
    return {
        "users": len(chosen),
        "lists_changed": round(float(np.mean([a != b for a, b in zip(pooled, full,
                                                                        strict=True)])), 4),
        "films_shared": round(float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                             for a, b in zip(pooled, full, strict=True)])), 4),
        "ndcg_at_10_pooled": round(float(np.mean([ndcg_at_k(a, positives[u]) for a, u in
                                                  zip(pooled, chosen, strict=True)])), 4),
        "ndcg_at_10_full": round(float(np.mean([ndcg_at_k(b, positives[u]) for b, u in
                                                zip(full, chosen, strict=True)])), 4),
    }


def training(time_report: Path, load_log: Path | None,
             manifest: dict[str, Any]) -> dict[str, Any]:
    """What ``/usr/bin/time -v`` said of the training command, its load averages, and the
    manifest's stages (``ml.training.pipeline.stage``)."""
    fields = {}
    for line in time_report.read_text().splitlines():
        name, _, value = line.strip().rpartition(": ")
        fields[name] = value
    wall = 0.0
    for part in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    # The 1-, 5- and 15-minute averages: the first three decimals of each line.
    loads = [values for values in ([float(v) for v in line.split() if _DECIMAL.fullmatch(v)][:3]
                                   for line in (load_log.read_text().splitlines()
                                                if load_log is not None else []))
             if len(values) == 3]
    return {
        "command": fields["Command being timed"].strip('"'),
        "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
        "wall_minutes": round(wall / 60, 1), "cpu_minutes": round(cpu / 60, 1),
        "peak_gb": round(int(fields["Maximum resident set size (kbytes)"]) / 2**20, 2),
        "load_average_1min": ({"min": min(v[0] for v in loads), "max": max(v[0] for v in loads),
                               "mean": round(float(np.mean([v[0] for v in loads])), 2),
                               "samples": len(loads)} if loads else None),
        "stages": manifest.get("training", {}).get("stages"),
        "git_commit": str(manifest.get("git_commit", "unknown"))[:10],
    }


def profile(recommender: Recommender, history: pd.DataFrame, users: int) -> str:
    """The top of cProfile's cumulative table over ``users`` evaluation users' lists."""
    histories = [dict(zip(g["movieId"].tolist(), g["rating"].tolist(), strict=True))
                 for _, g in history.groupby("userId")][:users]
    recommender.recommend(histories[0])
    profiler = cProfile.Profile()
    profiler.enable()
    for ratings in histories:
        recommender.recommend(ratings)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "100 evaluation users, nothing written", "serving_87k")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--eval-users", type=int, default=1000)
    parser.add_argument("--describe", help="how --model was made, when not by make train "
                                           "on the synthetic 32M set (saved as 'model')")
    parser.add_argument("--profile", action="store_true",
                        help="print where the time goes; nothing is written")
    parser.add_argument("--train-time", type=Path,
                        help="/usr/bin/time -v's report of the make train that made --model")
    parser.add_argument("--train-load", type=Path,
                        help="/proc/loadavg lines taken while it ran (first field a time)")
    args = parser.parse_args(argv)
    if args.quick:
        args.eval_users = 100
    load_before = os.getloadavg()
    if args.profile:
        recommender = Recommender.load(args.model)
        print(profile(recommender, pd.read_csv(args.eval / "history.csv"), args.eval_users))
        return 0
    started = time.process_time()
    figures = evaluate(args.model, args.eval, args.eval_users)
    recommender = Recommender.load(args.model)
    cost = item_item_cost(args.model, pd.read_csv(args.eval / "history.csv"))
    pool = pool_effect(recommender, args.eval, args.eval_users)
    evaluate_cpu = time.process_time() - started
    with tempfile.TemporaryDirectory(prefix="cinematch-serving-") as work:
        resident, peak = api_memory(args.model, Path(work))
    manifest = recommender.manifest
    item_item = recommender.item_item
    # The served weights: the sparse term's (a dense B is only ever fitted on small sets).
    weights = (0 if item_item is None else len(item_item.sparse.weights)
               if item_item.sparse is not None else int(item_item.weights.size))
    record: dict[str, Any] = {
        "generated_at": now(),
        "what": "serving at ml-32m's catalogue size with the item-item term",
        "model": args.describe or (
            "make train DATA=<bench/scale.py's synthetic 32M set> (default flags); figures "
            "from bench/scale.py's evaluate() (evaluation users' full histories, 300 "
            "newcomers with 15 ratings) and api_memory()"),
        "git_commit": str(manifest.get("git_commit", "unknown"))[:10],
        "cpus": os.cpu_count(), "shared_machine": True,
        "films": recommender.n_movies, "ratings": manifest["data"]["n_ratings"],
        "item_item_weights": weights,
        "item_item_seconds": manifest["ranking"].get("item_item_seconds"),
        **figures,
        "item_item_cost_ms_cpu": cost,
        "personal_pool": {"films": PERSONAL_POOL, **pool},
        "api_resident_gb": round(resident, 3), "api_peak_gb": round(peak, 3),
        "model_megabytes": round(sum(f.stat().st_size for f in args.model.iterdir()
                                     if f.name != "holdout.npz") / 1e6, 1),
        "bench_cpu_seconds": round(evaluate_cpu, 1),
        "load_average": {"before": [round(v, 2) for v in load_before],
                         "after": [round(v, 2) for v in os.getloadavg()]},
        "targets": TARGETS,
    }
    if args.train_time is not None:
        record["train"] = training(args.train_time, args.train_load, manifest)
    personal = record["recommend_ms"]["eval users (full histories)"]
    print(json.dumps(record, indent=2))
    print(f"personal p99: {personal['p99']:.2f} ms wall, {personal['cpu_p99']:.2f} ms CPU "
          f"(target {TARGETS['recommend_p99_ms']} ms); API resident {resident:.2f} GB; load "
          f"{load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")
    write_json(args.json or (None if args.quick else RESULTS / "serving_87k.json"), record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
