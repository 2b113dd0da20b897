"""EASE, the reference top-N model, in the shape of ``ml.models.contract``; never served.

Training is ``ml.models.ease.model.Ease.fit`` (the closed form over which films each user rated; see
``ml.models.ease.model`` for why it is only the bar to clear: B is dense items × items). The user's
state is the set of films they rated, so fold-in is exact and free: EASE has nothing per user to
learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ml.models._arrays import fitted
from ml.models.contract import IntArray, UserRatings
from ml.models.ease.model import DEFAULT_L2, Ease
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import top_n_indices


@dataclass(frozen=True)
class EaseParams:
    l2: float = DEFAULT_L2  # ridge on the item-item weights (λ = 500 on MovieLens)


class EASE:
    """Scores: x_u B (rating values unused). State: the indices of the films rated."""

    name: ClassVar[str] = "ease"

    def __init__(self, params: EaseParams | None = None) -> None:
        self.params = params or EaseParams()
        self._model: Ease | None = None

    @property
    def model(self) -> Ease:
        return fitted(self._model, self.name)

    @property
    def n_items(self) -> int:
        return self.model.weights.shape[0]

    def fit(self, matrix: RatingMatrix) -> EASE:
        self._model = Ease.fit(matrix, self.params.l2)
        return self

    def fold_in(self, user: UserRatings) -> IntArray:
        return user.items

    def scores(self, state: IntArray) -> npt.NDArray[np.float64]:
        return self.model.scores(state)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float64]]:
        """The items whose score rises most when ``item`` is watched: row ``item`` of B."""
        weights = self.model.weights[item]
        best = top_n_indices(weights, n, exclude=[item])
        return best, weights[best]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"weights": self.model.weights}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: EaseParams | None = None) -> EASE:
        model = cls(params)
        model._model = Ease(np.asarray(arrays["weights"], dtype=np.float64))
        return model
