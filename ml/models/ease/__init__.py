"""EASE: the dense reference top-N model and the sparse item-item term of the ranking score."""

from ml.models.ease.model import EASE, EaseParams
from ml.models.ease.sparse import SparseEaseParams

__all__ = ["EASE", "EaseParams", "SparseEaseParams"]
