"""Every model CineMatch trains: one class each, holding its math, its training and the contract.

``FunkSVD`` (the ★ shown), ``IALS`` (the order of a personal list), ``EASE`` (the ranking's
item-item term; dense: a reference), ``Popularity`` (newcomers' list) and ``BiasBaseline`` (the
rating floor), each in ``ml.models.<name>`` and keeping ``ml.models.contract``.
"""

from ml.models.baseline import BaselineParams, BiasBaseline
from ml.models.ease import EASE, EaseParams, SparseEaseParams
from ml.models.funksvd import FunkSVD, FunkSVDParams
from ml.models.ials import IALS, ImplicitParams
from ml.models.popularity import Popularity, PopularityParams

__all__ = [
    "EASE", "IALS", "BaselineParams", "BiasBaseline", "EaseParams", "FunkSVD", "FunkSVDParams",
    "ImplicitParams", "Popularity", "PopularityParams", "SparseEaseParams",
]
