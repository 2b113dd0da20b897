"""Latency of folding a new user in and ranking for them, beside a naive same-process reference.

    .venv/bin/python bench/fold_in_speed.py [--model-dir models] [--quick]

Times ``FunkSVD.fold_in`` against ``np.linalg.lstsq`` on one BLAS thread, the served fold-in,
and a whole ``Recommender.recommend`` against a Python-loop ranker. Targets: fold-in < 1 ms for
5–200 ratings, ranking a new user ≤ 2 ms. Protocol: bench/README.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bench.harness import arguments, model_dir_option, verdict
from ml.blas import single_threaded_blas
from ml.models.contract import UserRatings
from ml.models.funksvd import FunkSVD, UserVector
from ml.rules import RATING_VALUES
from ml.serving.artifacts import ArtifactError, load_artifact
from ml.serving.recommender import Recommender

IndexArray = npt.NDArray[np.int64]
RatingArray = npt.NDArray[np.float64]

SIZES = (5, 15, 50, 200)
PERSONAL_RATINGS = 15
TOP_N = 10
TARGET_FOLD_IN_US = 1000.0
TARGET_RANK_US = 2000.0


def median_us(call: Callable[[], object], runs: int) -> float:
    """Median wall time of ``call`` in µs, after a short warm-up."""
    for _ in range(min(20, runs)):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def fold_in_lstsq(model: FunkSVD, items: IndexArray, ratings: RatingArray) -> UserVector:
    """The same ridge problem as ``fold_in``: min ‖Xw − y‖² + Σ λ_j (w_j − m_j)², solved as
    least squares on X stacked over √λ·I (and y over √λ·m)."""
    features = np.hstack([model.item_factors[items].astype(np.float64), np.ones((len(items), 1))])
    ridge = model.fold_in_reg.astype(np.float64) + model.fold_in_reg_per_rating * len(items)
    prior = (np.zeros(model.rank + 1) if model.fold_in_mean is None
             else model.fold_in_mean.astype(np.float64))
    system = np.vstack([features, np.diag(np.sqrt(ridge))])
    target = np.concatenate([ratings - model.global_mean - model.item_bias[items],
                             np.sqrt(ridge) * prior])
    solution = np.linalg.lstsq(system, target, rcond=None)[0]
    return UserVector(solution[:-1].astype(np.float32), float(solution[-1]))


def rank_naively(model: FunkSVD, items: IndexArray, ratings: RatingArray) -> list[int]:
    """lstsq fold-in, then one Python-level dot product per film and a full sort."""
    user = fold_in_lstsq(model, items, ratings)
    rated = set(items.tolist())
    base = model.global_mean + user.bias
    scores = []
    for i in range(model.n_items):
        if i not in rated:
            score = base + float(model.item_bias[i]) + float(np.dot(model.item_factors[i],
                                                                    user.factors))
            scores.append((score, i))
    scores.sort(reverse=True)
    return [i for _, i in scores[:TOP_N]]


def sample_ratings(
    recommender: Recommender, n: int, rng: np.random.Generator
) -> tuple[IndexArray, RatingArray]:
    """``n`` distinct films drawn by popularity, with ratings drawn from the scale."""
    counts = recommender.popularity.counts.astype(np.float64)
    items = rng.choice(len(counts), size=n, replace=False, p=counts / counts.sum())
    scale = np.array(RATING_VALUES)
    return items.astype(np.int64), rng.choice(scale, size=n)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "fewer timed runs")
    model_dir_option(parser)
    args = parser.parse_args(argv)
    try:
        artifact = load_artifact(args.model_dir)
    except ArtifactError as error:
        print(f"error: {error}\nBuild the model first: `make train` (writes models/), or pass "
              "--model-dir DIR.", file=sys.stderr)
        return 2
    recommender = Recommender(artifact)
    model = artifact.model
    # The references are 10-50x slower, so fewer of their calls keep the run short.
    runs, lstsq_runs, naive_runs = (300, 50, 10) if args.quick else (2000, 200, 30)
    rng = np.random.default_rng(0)
    print(f"model {args.model_dir} ({artifact.manifest.get('model_version', '?')}): "
          f"{model.n_items} films, rank {model.rank}; {os.cpu_count()} CPUs (shared); "
          f"median of {runs} calls (lstsq: {lstsq_runs}, naive: {naive_runs})")
    print()
    print(f"{'fold-in (1 BLAS thread)':<28} {'FunkSVD µs':>10} {'lstsq µs':>10} {'ratio':>7} "
          f"{'served µs':>10}  target < {TARGET_FOLD_IN_US:.0f} µs (served: FunkSVD + iALS)")
    fold_in_ok = True
    for n in SIZES:
        items, ratings = sample_ratings(recommender, n, rng)
        user = UserRatings.of(items, ratings)
        ours, naive = model.fold_in(user), fold_in_lstsq(model, items, ratings)
        if not np.allclose(ours.factors, naive.factors, atol=1e-3):
            print(f"error: fold_in and lstsq disagree for {n} ratings", file=sys.stderr)
            return 1
        rated = {int(artifact.items.ids[i]): float(r) for i, r in zip(items, ratings, strict=True)}
        with single_threaded_blas():
            fast = median_us(lambda u=user: model.fold_in(u), runs)
            slow = median_us(lambda i=items, r=ratings: fold_in_lstsq(model, i, r), lstsq_runs)
        served = median_us(lambda r=rated: recommender.profile(r), runs)  # sets its own BLAS
        fold_in_ok &= served < TARGET_FOLD_IN_US
        print(f"{f'{n} ratings':<28} {fast:>10.1f} {slow:>10.1f} {slow / fast:>6.1f}x "
              f"{served:>10.1f}  {verdict(served < TARGET_FOLD_IN_US)}")

    print()
    print(f"{'recommend top 10':<28} {'CineMatch µs':>12} {'naive µs':>10} {'ratio':>7}  "
          f"target <= {TARGET_RANK_US:.0f} µs")
    items, ratings = sample_ratings(recommender, PERSONAL_RATINGS, rng)
    profile = {int(artifact.items.ids[i]): float(r) for i, r in zip(items, ratings, strict=True)}
    personal = median_us(lambda: recommender.recommend(profile, TOP_N), runs)
    cold = median_us(lambda: recommender.recommend({}, TOP_N), runs)
    naive = median_us(lambda: rank_naively(model, items, ratings), naive_runs)
    print(f"{f'personal ({PERSONAL_RATINGS} ratings)':<28} {personal:>12.1f} {naive:>10.0f} "
          f"{naive / personal:>6.1f}x  {verdict(personal <= TARGET_RANK_US)}")
    print(f"{'cold (0 ratings, popularity)':<28} {cold:>12.1f} {'-':>10} {'-':>7}  "
          f"{verdict(cold <= TARGET_RANK_US)}")
    print()
    print(f"fold-in < {TARGET_FOLD_IN_US:.0f} µs for {SIZES[0]}–{SIZES[-1]} ratings: "
          f"{verdict(fold_in_ok)}; ranking a new user <= {TARGET_RANK_US:.0f} µs: "
          f"{verdict(personal <= TARGET_RANK_US)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
