"""Bayesian-average popularity: the list for people the model does not know yet.

score = v/(v+m)·R + m/(v+m)·C, with v a film's rating count, R its mean, C the global mean and m a
prior count. A film with three perfect ratings stays near C; one with thousands keeps its mean.
The order is computed once and kept, never re-sorted on movie id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.serving.ranking import top_n_indices

DEFAULT_PRIOR_PERCENTILE = 90.0


def bayesian_average(
    counts: npt.ArrayLike, means: npt.ArrayLike, global_mean: float, prior_count: float,
) -> npt.NDArray[np.float64]:
    """v/(v+m)·R + m/(v+m)·C for every film (films with no rating get C)."""
    v = np.asarray(counts, dtype=np.float64)
    r = np.nan_to_num(np.asarray(means, dtype=np.float64), nan=global_mean)
    m = float(prior_count)
    if m < 0:
        raise ValueError("prior_count must be non-negative")
    denominator = np.maximum(v + m, 1e-12)
    return (v * r + m * global_mean) / denominator


@dataclass(frozen=True)
class Popularity:
    """Per-item counts and means, and the Bayesian-average score and order derived from them."""

    counts: npt.NDArray[np.int64]
    means: npt.NDArray[np.float32]
    global_mean: float
    prior_count: float
    scores: npt.NDArray[np.float64]

    @classmethod
    def from_ratings(
        cls, item_indices: npt.ArrayLike, ratings: npt.ArrayLike, n_items: int,
        prior_percentile: float = DEFAULT_PRIOR_PERCENTILE,
    ) -> Popularity:
        """Count and average the ratings of every item; m is a percentile of the counts."""
        idx = np.asarray(item_indices, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        counts = np.bincount(idx, minlength=n_items).astype(np.int64)
        sums = np.bincount(idx, weights=r, minlength=n_items)
        means = np.divide(sums, counts, out=np.full(n_items, np.nan), where=counts > 0)
        return cls.from_counts(counts, means, float(r.mean()) if len(r) else 0.0, prior_percentile)

    @classmethod
    def from_counts(
        cls, counts: npt.ArrayLike, means: npt.ArrayLike, global_mean: float,
        prior_percentile: float = DEFAULT_PRIOR_PERCENTILE,
    ) -> Popularity:
        c = np.asarray(counts, dtype=np.int64)
        rated = c[c > 0]
        prior = float(np.percentile(rated, prior_percentile)) if len(rated) else 0.0
        mu = np.asarray(means, dtype=np.float64)
        return cls(
            counts=c, means=mu.astype(np.float32), global_mean=global_mean, prior_count=prior,
            scores=bayesian_average(c, mu, global_mean, prior),
        )

    def top_n(
        self, n: int, exclude: npt.ArrayLike | None = None,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.int64]:
        """The n best items by Bayesian average, minus ``exclude``, within ``allowed``.

        Ties break by count, then by index, so the order is the same on every call.
        """
        tiebreak = self.counts.astype(np.float64) / (self.counts.max() + 1.0) * 1e-9
        return top_n_indices(self.scores + tiebreak, n, exclude=exclude, allowed=allowed)
