"""EASE (Steck 2019), the reference ranker the benchmarks measure against; never served.

B = −P / diag(P) with P = (XᵀX + λI)⁻¹ over the binary user × film matrix, diag(B) = 0, and a
user's scores are x_u B. It is the strongest simple top-N model on MovieLens, but B is dense
items × items (about 100 MB for 3,700 films, 14 GB for 60,000), so CineMatch serves iALS and
keeps EASE as the bar to clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.models.matrix import RatingMatrix

DEFAULT_L2 = 500.0
USER_BLOCK = 1000


@dataclass(frozen=True)
class Ease:
    weights: npt.NDArray[np.float64]  # B, items × items, zero diagonal

    @classmethod
    def fit(cls, matrix: RatingMatrix, l2: float = DEFAULT_L2) -> Ease:
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
        return cls(weights)

    def scores(self, item_indices: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """x_u B for a user who rated ``item_indices``."""
        idx = np.asarray(item_indices, dtype=np.int64)
        return self.weights[idx].sum(axis=0)
