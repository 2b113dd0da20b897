"""iALS, the model that orders personal lists, in the shape of ``ml.models.contract``.

Training is ``ml.models.ials.model.train_implicit`` (see ``ml.models.ials.model`` for the loss and
the tuning); the fold-in is ``ImplicitModel.fold_in``, the same ridge solve with the newcomer's
shrinkage and the films skipped as "haven't seen it" (``UserRatings.skipped``). ``IALS.served``
carries the served fold-in settings (``RankingWeights``): the ``Recommender`` and evaluation through
this contract (``Artifact.ials``) fold users in through the same code with the same settings.
The trainer returns item factors only, so this model keeps no per-user state: a training
user's state is their fold-in, like anyone's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ml.models._arrays import fitted, scalar
from ml.models.contract import IntArray, UserRatings
from ml.models.ials.model import ImplicitModel, ImplicitParams, train_implicit
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import RankingWeights, normalise_rows, similar_items

#: ``ImplicitModel``'s scalar fields, each saved as a one-element array.
SCALARS = ("unobserved_weight", "reg", "reg_exponent", "rating_confidence", "dislike_below",
           "fold_in_half_ratings")

FloatArray = npt.NDArray[np.float64]


class IALS:
    """Scores: x_u·y_i, unnormalised preference. State: the user's factor vector x_u."""

    name: ClassVar[str] = "ials"

    def __init__(self, params: ImplicitParams | None = None) -> None:
        self.params = params or ImplicitParams()
        self._model: ImplicitModel | None = None
        self._unit: npt.NDArray[np.float32] | None = None

    @classmethod
    def of(cls, model: ImplicitModel, params: ImplicitParams | None = None) -> IALS:
        wrapped = cls(params)
        wrapped._model = model
        return wrapped

    @classmethod
    def served(cls, model: ImplicitModel, weights: RankingWeights,
               params: ImplicitParams | None = None) -> IALS:
        """``model`` with the fold-in the service uses: ``weights``' newcomer ridge and skip
        confidence (the trained model's own h is the training default)."""
        return cls.of(model.serving(weights.fold_in_half_ratings, weights.skip_confidence), params)

    @property
    def model(self) -> ImplicitModel:
        return fitted(self._model, self.name)

    @property
    def n_items(self) -> int:
        return self.model.n_items

    def fit(self, matrix: RatingMatrix) -> IALS:
        self._model, self._unit = train_implicit(matrix, self.params), None
        return self

    def fold_in(self, user: UserRatings) -> FloatArray:
        return self.model.fold_in(user.items, user.ratings, user.skipped)

    def scores(self, state: FloatArray) -> npt.NDArray[np.float32]:
        return self.model.scores(state)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """Items by cosine of their factors (the stored rotation leaves cosines unchanged)."""
        if self._unit is None:
            self._unit = normalise_rows(self.model.item_factors)
        return similar_items(self._unit, item, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        m = self.model
        arrays: dict[str, npt.NDArray[Any]] = {
            "item_factors": np.asarray(m.item_factors, dtype=np.float32),
            "gram_eigenvalues": np.asarray(m.gram_eigenvalues, dtype=np.float64),
        }
        arrays.update({name: scalar(getattr(m, name)) for name in SCALARS})
        if m.skip_confidence:  # a served model's (the shipped directory stores trained ones)
            arrays["skip_confidence"] = scalar(m.skip_confidence)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: ImplicitParams | None = None) -> IALS:
        model = ImplicitModel(
            item_factors=arrays["item_factors"], gram_eigenvalues=arrays["gram_eigenvalues"],
            **{name: float(arrays[name][0]) for name in SCALARS},
            skip_confidence=float(arrays["skip_confidence"][0]) if "skip_confidence" in arrays
            else 0.0,
        )
        return cls.of(model, params)
