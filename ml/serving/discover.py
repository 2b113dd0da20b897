"""The discover control: move a personal list away from the blockbusters, keep it personal.

The person's ranking score picks a pool of the ``DISCOVER_POOL`` films it likes best; only
inside that pool is the order changed, to

    z(score) − discover · DISCOVER_WEIGHT · z(log(1 + count)),

both z-scores over the pool. Films outside the pool keep their order after it; ``discover = 0``
is the plain list, exactly. A penalty over the whole catalogue jumped to films whose factors are
noise; inside the pool every film is one the person's taste already ranks high. The weight and
pool were chosen on validation by ``bench/discover.py`` (docs/model.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ml.serving.ranking import top_n_indices

#: Weight of the popularity penalty at ``discover = 1`` (z-scores over the pool).
DISCOVER_WEIGHT = 1.5
#: How many of the person's best-scored films the discover order may choose from.
DISCOVER_POOL = 400
#: Films outside the pool are moved below every film in it by this much.
_OUTSIDE_POOL = np.float32(1e4)


def check_discover(discover: float) -> float:
    """``discover`` as a float in [0, 1]; ValueError otherwise (NaN included)."""
    value = float(discover)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"discover must be between 0 and 1 (got {discover!r})")
    return value


def discover_scores(
    scores: npt.NDArray[np.floating], log_counts: npt.NDArray[np.floating], discover: float,
    *, exclude: npt.ArrayLike | None = None, allowed: npt.NDArray[np.bool_] | None = None,
    weight: float = DISCOVER_WEIGHT, pool: int = DISCOVER_POOL,
) -> npt.NDArray[np.float32]:
    """The personal ``scores`` reordered for ``discover`` (0 → returned unchanged).

    ``log_counts`` is log(1 + rating count) per item (any affine transform of it gives the
    same result); ``exclude``/``allowed`` are what the list's cut will apply, so the pool is
    drawn from films the person may actually be shown.
    """
    discover = check_discover(discover)
    if discover == 0.0:
        return scores
    chosen = top_n_indices(scores, pool, exclude=exclude, allowed=allowed)
    result = np.asarray(scores, dtype=np.float32) - _OUTSIDE_POOL
    if len(chosen) == 0:
        return result
    personal = _zscore(np.asarray(scores, dtype=np.float64)[chosen])
    familiar = _zscore(np.asarray(log_counts, dtype=np.float64)[chosen])
    result[chosen] = (personal - (discover * weight) * familiar).astype(np.float32)
    return result


def _zscore(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    std = values.std()
    return (values - values.mean()) / (std if std > 1e-12 else 1.0)
