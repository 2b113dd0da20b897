"""Reference rating predictors: the global mean and damped user/item biases.

They are the floor any factor model must beat; the evaluation prints them side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.models.funksvd.model import clip_rating

#: Damping (pseudo-count) of the bias estimates: a film rated once stays close to the mean.
BIAS_DAMPING = 10.0


@dataclass(frozen=True)
class BiasBaseline:
    """r̂ = μ + b_u + b_i with damped means (Koren 2009, eq. 2 by alternating averages)."""

    global_mean: float
    user_bias: npt.NDArray[np.float64]
    item_bias: npt.NDArray[np.float64]

    @classmethod
    def fit(cls, users: npt.NDArray[np.integer], items: npt.NDArray[np.integer],
            ratings: npt.NDArray[np.float64], n_users: int, n_items: int,
            damping: float = BIAS_DAMPING, sweeps: int = 3) -> BiasBaseline:
        mu = float(ratings.mean())
        user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
        item_counts = np.bincount(items, minlength=n_items) + damping
        user_counts = np.bincount(users, minlength=n_users) + damping
        for _ in range(sweeps):
            item_bias = np.bincount(items, ratings - mu - user_bias[users], n_items) / item_counts
            user_bias = np.bincount(users, ratings - mu - item_bias[items], n_users) / user_counts
        return cls(mu, user_bias, item_bias)

    def predict(self, users: npt.NDArray[np.int64],
                items: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Clipped predictions; -1 (unknown) contributes no bias."""
        pred = np.full(len(users), self.global_mean)
        pred[users >= 0] += self.user_bias[users[users >= 0]]
        pred[items >= 0] += self.item_bias[items[items >= 0]]
        return clip_rating(pred)
