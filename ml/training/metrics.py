"""Accuracy and top-N metrics as small named functions: the one metric code of the project.

Positives are test ratings ≥ ``POSITIVE_RATING``; Recall@k divides by min(k, #positives);
NDCG@k uses binary gains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def rmse(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean((p - a) ** 2)))


def mae(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    return float(np.mean(np.abs(p - a)))


def recall_at_k(ranked: Sequence[int], positives: set[int], k: int = 10) -> float:
    if not positives:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in positives)
    return hits / min(k, len(positives))


def ndcg_at_k(ranked: Sequence[int], positives: set[int], k: int = 10) -> float:
    if not positives:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = sum(discounts[pos] for pos, item in enumerate(ranked[:k]) if item in positives)
    ideal = discounts[: min(k, len(positives))].sum()
    return float(dcg / ideal)


def catalogue_coverage(lists: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the catalogue that appears in at least one recommended list."""
    if n_items == 0:
        return 0.0
    return len({item for items in lists for item in items}) / n_items
