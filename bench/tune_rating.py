"""Choose FunkSVD's hyper-parameters on validation data carved from training only.

For ml-100k (u1.base) and the ml-1m partial ratings (the 90% training part of the seed-42
split the other benches test on), a further 10% of the TRAINING ratings is held out and every
grid point is scored on it. The test ratings are never read. Prints the grid and the best point.

    .venv/bin/python bench/tune_rating.py [--data-root DIR] [--quick]
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import DATA_ROOT, arguments
from ml.data import load_dataset
from ml.data.split import random_split, validation_split
from ml.models.funksvd.model import FunkSVDParams
from ml.models.funksvd.train import train_funksvd
from ml.models.matrix import IdMap
from ml.training.evaluate import read_100k_split
from ml.training.metrics import rmse
from ml.training.pipeline import rating_matrix

GRID = {"n_factors": (8, 16, 24), "n_epochs": (50, 65, 100), "burn_in": (4, 10)}


def validation_rmse(train: pd.DataFrame, params: FunkSVDParams) -> tuple[float, float]:
    fit, held = validation_split(train, 0.1, seed=7)
    users, items = IdMap.from_values(fit["user_id"]), IdMap.from_values(fit["movie_id"])
    matrix = rating_matrix(fit, users, items)
    result = train_funksvd(matrix, params, progress=False)
    pred = result.model.predict_pairs(users.indices(held["user_id"]),
                                      items.indices(held["movie_id"]))
    return rmse(pred, held["rating"].to_numpy(np.float64)), result.seconds


def main() -> int:
    parser = arguments(__doc__, "ml-100k only, a smaller grid")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args()
    splits = {"ml-100k u1.base": read_100k_split(args.data_root / "ml-100k" / "u1.base")}
    if not args.quick:
        ratings = load_dataset(args.data_root / "ml-1m").ratings
        splits["ml-1m partial, train part"] = random_split(ratings, 0.1, 42)[0]
    grid = list(itertools.product(*GRID.values()))
    if args.quick:
        grid = [g for g in grid if g[1] == 65]
    started = time.perf_counter()
    for name, train in splits.items():
        print(f"\n{name}: validation RMSE (10% of training ratings, seed 7)")
        print(f"  {'factors':>7} {'sweeps':>6} {'burn-in':>7} {'RMSE':>7} {'train s':>7}")
        rows = []
        for k, sweeps, burn in grid:
            params = FunkSVDParams(n_factors=k, n_epochs=sweeps, burn_in=burn)
            score, seconds = validation_rmse(train, params)
            rows.append((score, k, sweeps, burn, seconds))
            print(f"  {k:>7} {sweeps:>6} {burn:>7} {score:>7.4f} {seconds:>7.1f}", flush=True)
        best = min(rows)
        print(f"  best: {best[1]} factors, {best[2]} sweeps, burn-in {best[3]} "
              f"(RMSE {best[0]:.4f})")
    defaults = FunkSVDParams()
    print(f"\nshipped defaults: {defaults.n_factors} factors, {defaults.n_epochs} sweeps, "
          f"burn-in {defaults.burn_in}; whole run {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
