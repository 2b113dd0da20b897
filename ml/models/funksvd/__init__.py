"""FunkSVD: the rating model, r̂ = μ + b_u + b_i + p_u·q_i, in the shape of ``ml.models.contract``.

The name is the one the product and its users know; the training is not Funk's SGD. It is
``ml.models.funksvd.train.train_funksvd``: ALS sweeps whose half-sweeps draw every user and item
vector from its Gaussian posterior (Bayesian MF, Salakhutdinov & Mnih 2008), with the prior over
each side's [factors, bias] — its mean and full precision — drawn from their Normal-Wishart
posterior and the noise precision from a Gamma posterior. The kept samples' p_u·q_i are averaged and
that average is truncated to ``rank`` dimensions by a randomized truncated SVD (Halko et al. 2011):
an approximation, not an exact compression. ``method="als"`` is the MAP fit (ALS-WR). Details
in ``ml.models.funksvd.model.FunkSVDParams``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ml.models._arrays import fitted, scalar
from ml.models.contract import IntArray, UserRatings
from ml.models.funksvd.model import FactorModel, FunkSVDParams, UserVector, clip_rating
from ml.models.funksvd.train import TrainResult, Validation, train_funksvd
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import normalise_rows, similar_items

_ARRAYS = ("user_factors", "user_bias", "item_factors", "item_bias", "fold_in_reg")


class FunkSVD:
    """Scores: unclipped predicted ratings. State: a ``UserVector`` (factors and bias)."""

    name: ClassVar[str] = "funksvd"

    def __init__(self, params: FunkSVDParams | None = None, *, progress: bool = False) -> None:
        self.params = params or FunkSVDParams()
        self.progress = progress
        self._model: FactorModel | None = None
        self._unit: npt.NDArray[np.float32] | None = None
        #: The last ``fit``'s sweeps and timings (None for a loaded model).
        self.result: TrainResult | None = None

    @classmethod
    def of(cls, model: FactorModel, params: FunkSVDParams | None = None) -> FunkSVD:
        """Wrap an already trained ``FactorModel`` (e.g. the one in a model directory)."""
        wrapped = cls(params)
        wrapped._model = model
        return wrapped

    @property
    def model(self) -> FactorModel:
        return fitted(self._model, self.name)

    @property
    def n_items(self) -> int:
        return self.model.n_items

    @property
    def n_users(self) -> int:
        return self.model.n_users

    def fit(self, matrix: RatingMatrix, validation: Validation | None = None) -> FunkSVD:
        """Train on ``matrix``, early-stopping on ``validation`` RMSE when given."""
        self.result = train_funksvd(matrix, self.params, validation, progress=self.progress)
        self._model, self._unit = self.result.model, None
        return self

    def fold_in(self, user: UserRatings) -> UserVector:
        return self.model.fold_in(user.items, user.ratings)

    def trained_user(self, user: int) -> UserVector:
        return self.model.user(user)

    def scores(self, state: UserVector) -> npt.NDArray[np.float32]:
        return self.model.predict_raw(state)

    def predict(self, state: UserVector, items: IntArray | None = None) -> npt.NDArray[Any]:
        """Predicted ratings (of every item, or of ``items``), clipped to the scale shown."""
        return clip_rating(self.model.predict_raw(state, items))

    def predict_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> npt.NDArray[Any]:
        return self.model.predict_pairs(users, items)

    @property
    def unit_item_factors(self) -> npt.NDArray[np.float32]:
        """Item factors scaled to unit length, computed once: cosines are dot products."""
        if self._unit is None:
            self._unit = normalise_rows(self.model.item_factors)
        return self._unit

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """Items by cosine of their factors: liked by the same people."""
        return similar_items(self.unit_item_factors, item, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        m = self.model
        mean = m.fold_in_mean if m.fold_in_mean is not None else np.zeros(m.rank + 1)
        arrays: dict[str, npt.NDArray[Any]] = {
            name: np.asarray(getattr(m, name), dtype=np.float32) for name in _ARRAYS}
        arrays["fold_in_mean"] = np.asarray(mean, dtype=np.float32)
        arrays["global_mean"] = scalar(m.global_mean)
        arrays["fold_in_reg_per_rating"] = scalar(m.fold_in_reg_per_rating)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: FunkSVDParams | None = None) -> FunkSVD:
        model = FactorModel(
            global_mean=float(arrays["global_mean"][0]),
            fold_in_reg_per_rating=float(arrays["fold_in_reg_per_rating"][0]),
            fold_in_mean=arrays["fold_in_mean"],
            **{name: arrays[name] for name in _ARRAYS},
        )
        return cls.of(model, params)
