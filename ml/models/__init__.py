"""Every model CineMatch trains, each a thin class over its math that keeps ``ml.models.contract``.

| name | class | scores | serves |
|---|---|---|---|
| ``funksvd`` | ``FunkSVD`` | unclipped predicted rating μ + b_u + b_i + p_u·q_i | the ★ shown |
| ``ials`` | ``IALS`` | implicit preference x_u·y_i | the order of a personal list |
| ``ease`` | ``EASE`` | x_u B | never: the reference top-N model |
| ``popularity`` | ``PopularityModel`` | Bayesian average (or rating count) | newcomers' list |
| ``bias_baseline`` | ``BaselineModel`` | μ + b_u + b_i | never: the rating floor |

The classes delegate training to the existing functions (``ml.models.funksvd.train.train_funksvd``,
``ml.models.ials.model.train_implicit``, ``ml.models.ease.model.Ease.fit``…): they add the
contract's shape, not new math.
"""

from ml.models.baseline import BaselineModel, BaselineParams
from ml.models.contract import Model
from ml.models.ease import EASE, EaseParams
from ml.models.funksvd import FunkSVD
from ml.models.ials import IALS
from ml.models.popularity import PopularityModel, PopularityParams

#: Registry name → class, for ``ml.serving.artifacts.load_model``.
MODELS: dict[str, type[Model]] = {
    cls.name: cls for cls in (FunkSVD, IALS, EASE, PopularityModel, BaselineModel)
}

__all__ = [
    "EASE", "IALS", "MODELS", "BaselineModel", "BaselineParams", "EaseParams", "FunkSVD",
    "PopularityModel", "PopularityParams",
]
