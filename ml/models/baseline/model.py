"""The damped bias baseline r̂ = μ + b_u + b_i: the rating floor any factor model must beat.

Trained by alternating damped means (Koren 2009, eq. 2). The last step sets each user's bias
given the item biases, so folding a training user's ratings in with the same damped mean gives
back exactly their trained bias. The evaluation prints it beside FunkSVD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ml.models.contract import IntArray, NotFittedError, UserRatings, clip_rating
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import top_n_indices

#: Damping (pseudo-count) of the bias estimates: a film rated once stays close to the mean.
BIAS_DAMPING = 10.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BaselineParams:
    damping: float = BIAS_DAMPING  # pseudo-count pulling sparse biases towards 0
    sweeps: int = 3


@dataclass(eq=False)
class BiasBaseline:
    """Scores: μ + b_u + b_i (unclipped). State: the user's bias b_u."""

    name: ClassVar[str] = "bias_baseline"

    params: BaselineParams = field(default_factory=lambda: BaselineParams())
    global_mean: float = 0.0
    user_bias: FloatArray = field(default_factory=lambda: np.zeros(0))
    item_bias: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_items(self) -> int:
        return len(self.item_bias)

    @property
    def n_users(self) -> int:
        return len(self.user_bias)

    def _fitted(self) -> None:
        if self.n_items == 0:
            raise NotFittedError(f"{self.name}: call fit(matrix) first")

    def fit(self, matrix: RatingMatrix) -> BiasBaseline:
        users, items, ratings = matrix.users, matrix.items, matrix.ratings
        damping = self.params.damping
        mu = float(ratings.mean())
        user_bias, item_bias = np.zeros(matrix.n_users), np.zeros(matrix.n_items)
        item_counts = np.bincount(items, minlength=matrix.n_items) + damping
        user_counts = np.bincount(users, minlength=matrix.n_users) + damping
        for _ in range(self.params.sweeps):
            item_bias = np.bincount(items, ratings - mu - user_bias[users],
                                    matrix.n_items) / item_counts
            user_bias = np.bincount(users, ratings - mu - item_bias[items],
                                    matrix.n_users) / user_counts
        self.global_mean, self.user_bias, self.item_bias = mu, user_bias, item_bias
        return self

    def fold_in(self, user: UserRatings) -> float:
        """The damped mean of the user's residuals against μ + b_i."""
        self._fitted()
        residual = user.ratings - self.global_mean - self.item_bias[user.items]
        return float(residual.sum() / (len(user) + self.params.damping))

    def scores(self, state: float) -> FloatArray:
        self._fitted()
        return self.global_mean + state + self.item_bias

    def predict_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
        """Clipped predictions for (user, item) pairs; -1 (unknown) contributes no bias."""
        self._fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        pred = np.full(len(u), self.global_mean)
        pred[u >= 0] += self.user_bias[u[u >= 0]]
        pred[i >= 0] += self.item_bias[i[i >= 0]]
        return clip_rating(pred)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items rated alike on average: the smallest |b_i − b_j| (scores are its negative)."""
        closeness = -np.abs(self.item_bias - self.item_bias[item])
        best = top_n_indices(closeness, n, exclude=[item])
        return best, closeness[best]
