"""EASE (Steck 2019): item-item weights from a closed form, in its two forms.

B = −P / diag(P) with P = (XᵀX + λI)⁻¹, diag(B) = 0, and a user's scores are x_u B: the fold-in
is exact and free. The dense form (``EaseParams``, X binary) is the benchmarks' reference, never
served (B is dense items × items); the sparse form (``ml.models.ease.sparse``) is the served
ranking's item-item term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ml.models.contract import IntArray, NotFittedError, UserRatings
from ml.models.ease.sparse import SparseEase, SparseEaseParams, fit_sparse_ease
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import top_n_indices

DEFAULT_L2 = 500.0
USER_BLOCK = 1000

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EaseParams:
    """The dense reference form."""

    l2: float = DEFAULT_L2  # ridge on the item-item weights (λ = 500 on MovieLens)


@dataclass(eq=False)
class EASE:
    """Scores: x_u B. State: the user's ratings (the dense form reads only which films).

    Dense: ``weights`` is B, items × items. Sparse: ``sparse`` holds B's pruned rows as CSR
    (``ml.models.ease.sparse.SparseEase``: 16-bit head positions, float16 weights).
    """

    name: ClassVar[str] = "ease"

    params: EaseParams | SparseEaseParams = field(default_factory=lambda: EaseParams())
    weights: npt.NDArray[np.floating] = field(default_factory=lambda: np.zeros((0, 0)))
    sparse: SparseEase | None = None

    @property
    def n_items(self) -> int:
        return self.sparse.n_items if self.sparse is not None else self.weights.shape[0]

    def _fitted(self) -> None:
        if self.n_items <= 0:
            raise NotFittedError(f"{self.name}: call fit(matrix) or from_arrays(...) first")

    def fit(self, matrix: RatingMatrix) -> EASE:
        if isinstance(self.params, SparseEaseParams):
            self.sparse = fit_sparse_ease(matrix, self.params)
        else:
            self.sparse = None
            self.weights = _dense_weights(matrix, self.params.l2)
        return self

    def fold_in(self, user: UserRatings) -> UserRatings:
        return user

    def scores(self, state: UserRatings) -> npt.NDArray[np.floating]:
        """Σ_i r_i B[i, :] over the rated films (sparse), Σ_i B[i, :] (dense)."""
        self._fitted()
        if self.sparse is None:
            return np.asarray(self.weights[state.items].sum(axis=0), dtype=np.float64)
        return self.sparse.scores(state.items, state.ratings)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """The items whose score rises most when ``item`` is watched: row ``item`` of B."""
        self._fitted()
        if self.sparse is None:
            row = np.asarray(self.weights[item], dtype=np.float64)
        else:
            start, stop = self.sparse.indptr[item], self.sparse.indptr[item + 1]
            row = np.zeros(self.n_items)
            row[self.sparse.indices[start:stop]] = self.sparse.weights[start:stop]
        best = top_n_indices(row, n, exclude=[item])
        return best, row[best]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        self._fitted()
        if self.sparse is None:
            return {"weights": self.weights}
        return self.sparse.arrays()

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: EaseParams | SparseEaseParams | None = None) -> EASE:
        if "indptr" not in arrays:
            return cls(params or EaseParams(), np.asarray(arrays["weights"], dtype=np.float64))
        return cls(params or SparseEaseParams(), sparse=SparseEase.from_arrays(arrays))


def _dense_weights(matrix: RatingMatrix, l2: float) -> FloatArray:
    """Closed form on which films each user rated (ratings' values are not used)."""
    gram = np.zeros((matrix.n_items, matrix.n_items))
    for first in range(0, matrix.n_users, USER_BLOCK):  # bounded memory: one block dense
        last = min(first + USER_BLOCK, matrix.n_users)
        block = np.zeros((last - first, matrix.n_items), dtype=np.float32)
        indptr = matrix.by_user.indptr[first:last + 1]
        owners = np.repeat(np.arange(last - first), np.diff(indptr))
        block[owners, matrix.by_user.other[indptr[0]:indptr[-1]]] = 1.0
        gram += block.T @ block
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / -np.diag(precision)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights
