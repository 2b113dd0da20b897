"""Turning a score per item into a top-N, and finding neighbours in factor space.

Scoring and ranking are separate steps (as in LensKit): every scorer returns one float per item,
and these functions cut the list. They are vectorised: argpartition picks the N best in linear
time, and only those N are sorted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def top_n_indices(
    scores: npt.NDArray[np.floating], n: int, exclude: npt.ArrayLike | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Indices of the ``n`` highest scores, best first, skipping excluded and disallowed items.

    Equal scores keep index order, so a ranking is deterministic.
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    masked = np.array(scores, dtype=np.float64, copy=True)
    masked[np.isnan(masked)] = -np.inf
    if allowed is not None:
        masked[~allowed] = -np.inf
    if exclude is not None:
        ex = np.asarray(exclude, dtype=np.int64)
        masked[ex[(ex >= 0) & (ex < len(masked))]] = -np.inf
    available = int(np.count_nonzero(np.isfinite(masked)))
    k = min(n, available)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    whole = k >= len(masked)
    candidates = np.arange(len(masked)) if whole else np.argpartition(-masked, k - 1)[:k]
    # Stable order: by score descending, then index ascending.
    order = np.lexsort((candidates, -masked[candidates]))
    return candidates[order][:k].astype(np.int64)


def normalise_rows(factors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Unit-length rows, so a dot product is a cosine; zero rows stay zero."""
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    return (factors / np.maximum(norms, 1e-12)).astype(np.float32)


def similar_items(
    unit_factors: npt.NDArray[np.float32], item_index: int, n: int,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``n`` items with the highest cosine to ``item_index`` (itself excluded)."""
    cosines = unit_factors @ unit_factors[item_index]
    best = top_n_indices(cosines, n, exclude=[item_index], allowed=allowed)
    return best, cosines[best]


def zscore(values: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(x − mean) / std over the finite entries: puts scores of different units on one scale."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros_like(v)
    mean, std = v[finite].mean(), v[finite].std()
    return (v - mean) / (std if std > 1e-12 else 1.0)
