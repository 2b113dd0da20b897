"""Popularity: the newcomers' list and the baseline every ranker must beat.

The Bayesian average v/(v+m)·R + m/(v+m)·C (v a film's rating count, R its mean, C the global
mean, m a prior count). ``order="average"`` ranks by it (ties by count, then index);
``order="count"`` by the raw rating count. The fold-in state is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from ml.models.contract import IntArray, NotFittedError, UserRatings
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import top_n_indices

DEFAULT_PRIOR_PERCENTILE = 90.0

FloatArray = npt.NDArray[np.float64]


def bayesian_average(
    counts: npt.ArrayLike, means: npt.ArrayLike, global_mean: float, prior_count: float,
) -> FloatArray:
    """v/(v+m)·R + m/(v+m)·C for every film (films with no rating get C)."""
    v = np.asarray(counts, dtype=np.float64)
    r = np.nan_to_num(np.asarray(means, dtype=np.float64), nan=global_mean)
    m = float(prior_count)
    if m < 0:
        raise ValueError("prior_count must be non-negative")
    denominator = np.maximum(v + m, 1e-12)
    return (v * r + m * global_mean) / denominator


@dataclass(frozen=True)
class PopularityParams:
    order: Literal["average", "count"] = "average"
    prior_percentile: float = DEFAULT_PRIOR_PERCENTILE  # m = this percentile of the counts

    def __post_init__(self) -> None:
        if self.order not in ("average", "count"):
            raise ValueError(f"order must be 'average' or 'count', got {self.order!r}")


@dataclass(eq=False)
class Popularity:
    """Per-item counts and means, and the Bayesian average derived from them.

    Scores: the Bayesian average (or the count) of every item, with the tie-break of the
    order. State: None. ``Popularity(params)`` is unfitted until ``fit``.
    """

    name: ClassVar[str] = "popularity"

    params: PopularityParams = field(default_factory=lambda: PopularityParams())
    counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    means: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    global_mean: float = 0.0
    prior_count: float = 0.0
    #: The Bayesian average of every item (what a popular list shows).
    average: FloatArray = field(default_factory=lambda: np.zeros(0))
    _ranking: FloatArray | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_ratings(cls, item_indices: npt.ArrayLike, ratings: npt.ArrayLike, n_items: int,
                     params: PopularityParams | None = None) -> Popularity:
        """Count and average the ratings of every item; m is a percentile of the counts."""
        idx = np.asarray(item_indices, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        counts = np.bincount(idx, minlength=n_items).astype(np.int64)
        sums = np.bincount(idx, weights=r, minlength=n_items)
        means = np.divide(sums, counts, out=np.full(n_items, np.nan), where=counts > 0)
        return cls.from_counts(counts, means, float(r.mean()) if len(r) else 0.0, params)

    @classmethod
    def from_counts(cls, counts: npt.ArrayLike, means: npt.ArrayLike, global_mean: float,
                    params: PopularityParams | None = None) -> Popularity:
        params = params or PopularityParams()
        c = np.asarray(counts, dtype=np.int64)
        rated = c[c > 0]
        prior = float(np.percentile(rated, params.prior_percentile)) if len(rated) else 0.0
        mu = np.asarray(means, dtype=np.float64)
        return cls(params, counts=c, means=mu.astype(np.float32), global_mean=global_mean,
                   prior_count=prior, average=bayesian_average(c, mu, global_mean, prior))

    @property
    def n_items(self) -> int:
        return len(self.counts)

    def fit(self, matrix: RatingMatrix) -> Popularity:
        fitted = Popularity.from_ratings(matrix.items, matrix.ratings, matrix.n_items, self.params)
        self.counts, self.means, self.global_mean = fitted.counts, fitted.means, fitted.global_mean
        self.prior_count, self.average, self._ranking = fitted.prior_count, fitted.average, None
        return self

    def fold_in(self, user: UserRatings) -> None:
        return None

    def scores(self, state: None = None) -> FloatArray:
        """The ranking scores: the average (ties by count, then index) or the count."""
        if self._ranking is None:
            if self.n_items == 0:
                raise NotFittedError(f"{self.name}: call fit(matrix) first")
            counts = self.counts.astype(np.float64)
            self._ranking = (counts if self.params.order == "count" else
                             self.average + counts / (counts.max(initial=0.0) + 1.0) * 1e-9)
        return self._ranking

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Popularity knows no likeness: the ``n`` most popular other items."""
        scores = self.scores()
        best = top_n_indices(scores, n, exclude=[item])
        return best, scores[best]
