"""The damped bias baseline r̂ = μ + b_u + b_i, the rating floor, per ``ml.models.contract``.

Training is ``ml.models.baseline.model.BiasBaseline.fit`` (alternating damped means). Its last step
sets each user's bias given the item biases, so folding a training user's ratings in with the same
damped mean gives back exactly their trained bias.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ml.models._arrays import fitted, scalar
from ml.models.baseline.model import BIAS_DAMPING, BiasBaseline
from ml.models.contract import IntArray, UserRatings
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import top_n_indices


@dataclass(frozen=True)
class BaselineParams:
    damping: float = BIAS_DAMPING  # pseudo-count pulling sparse biases towards 0
    sweeps: int = 3


class BaselineModel:
    """Scores: μ + b_u + b_i (unclipped). State: the user's bias b_u."""

    name: ClassVar[str] = "bias_baseline"

    def __init__(self, params: BaselineParams | None = None) -> None:
        self.params = params or BaselineParams()
        self._model: BiasBaseline | None = None

    @property
    def model(self) -> BiasBaseline:
        return fitted(self._model, self.name)

    @property
    def n_items(self) -> int:
        return len(self.model.item_bias)

    @property
    def n_users(self) -> int:
        return len(self.model.user_bias)

    def fit(self, matrix: RatingMatrix) -> BaselineModel:
        self._model = BiasBaseline.fit(matrix.users, matrix.items, matrix.ratings,
                                       matrix.n_users, matrix.n_items, self.params.damping,
                                       self.params.sweeps)
        return self

    def fold_in(self, user: UserRatings) -> float:
        """The damped mean of the user's residuals against μ + b_i."""
        m = self.model
        residual = user.ratings - m.global_mean - m.item_bias[user.items]
        return float(residual.sum() / (len(user) + self.params.damping))

    def trained_user(self, user: int) -> float:
        return float(self.model.user_bias[user])

    def scores(self, state: float) -> npt.NDArray[np.float64]:
        return self.model.global_mean + state + self.model.item_bias

    def predict_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> npt.NDArray[Any]:
        return self.model.predict(np.asarray(users, dtype=np.int64),
                                  np.asarray(items, dtype=np.int64))

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float64]]:
        """Items rated alike on average: the smallest |b_i − b_j| (scores are its negative)."""
        closeness = -np.abs(self.model.item_bias - self.model.item_bias[item])
        best = top_n_indices(closeness, n, exclude=[item])
        return best, closeness[best]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        m = self.model
        return {"global_mean": scalar(m.global_mean), "user_bias": m.user_bias,
                "item_bias": m.item_bias}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: BaselineParams | None = None) -> BaselineModel:
        model = cls(params)
        model._model = BiasBaseline(float(arrays["global_mean"][0]),
                                    np.asarray(arrays["user_bias"], dtype=np.float64),
                                    np.asarray(arrays["item_bias"], dtype=np.float64))
        return model
