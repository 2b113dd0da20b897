"""Every model CineMatch trains: one class each, holding its math, its training and the contract.

| name | class | scores | serves |
|---|---|---|---|
| ``funksvd`` | ``FunkSVD`` | unclipped predicted rating μ + b_u + b_i + p_u·q_i | the ★ shown |
| ``ials`` | ``IALS`` | implicit preference x_u·y_i | the order of a personal list |
| ``ease`` | ``EASE`` | x_u B | sparse form: the ranking's item-item term; dense: reference |
| ``popularity`` | ``Popularity`` | Bayesian average (or rating count) | newcomers' list |
| ``bias_baseline`` | ``BiasBaseline`` | μ + b_u + b_i | never: the rating floor |

Each keeps ``ml.models.contract`` (``fit``, ``fold_in``, ``scores``, ``similar_items``) and
lives in its own package: ``ml.models.<name>.model`` (the class), plus its trainer where that
is large (``ml.models.funksvd.train``, ``ml.models.ease.sparse``). The models read
``ml.models.matrix`` (ratings on dense indices).
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
