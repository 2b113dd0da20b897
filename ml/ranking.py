"""The personal ranking score, turning a score per item into a top-N, and factor neighbours.

Why a ranking score at all: FunkSVD predicts how much someone will like a film *if* they watch
it, so ranked by that alone a top-10 is obscure films a few people adored (NDCG@10 0.054 on
ml-1m, below popularity's 0.119). The ranking score adds what FunkSVD never sees: which films
this person is likely to choose, from an implicit-feedback model (``ml.implicit``). It is

    z(iALS score) + w_rating · z(FunkSVD predicted rating) + w_pop · z(log(1 + count)),

each term z-scored over the catalogue so the weights are unit-free. The weights were tuned on
validation carved from training, for users with full histories (bench/ranking.py) and for
newcomers with 5–15 ratings (``python -m ml.simulate_onboarding --tune``), and are saved in
``manifest.json``. w_rating = 0.3 helped full histories (+1.7% NDCG@10) and was neutral for
newcomers. A popularity prior, which rescues a rating model, is not needed here: the iALS
fold-in already leans on popular films (its α0·YᵀY term). w_pop = 0.5 gained full histories
1.2% but cost newcomers 1.8% at ten ratings, where the margin over EASE is thinner, so w_pop = 0.

Scoring and ranking are separate steps (as in LensKit): every scorer returns one float per item,
and these functions cut the list. They are vectorised: argpartition picks the N best in linear
time, and only those N are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

#: The scorers a list can be ranked by: Bayesian-average popularity, FunkSVD's predicted
#: rating alone (the trap, kept to measure it), and the ranking score above.
Ranker = Literal["popularity", "rating", "blend"]
RANKERS: tuple[Ranker, ...] = ("popularity", "rating", "blend")


@dataclass(frozen=True)
class RankingWeights:
    """Weights of the ranking score's terms (the iALS term has weight 1)."""

    rating: float = 0.3
    popularity: float = 0.0


def blend_scores(
    choice: npt.NDArray[np.floating], predicted_rating: npt.NDArray[np.floating],
    log_popularity_z: npt.NDArray[np.floating], weights: RankingWeights,
) -> npt.NDArray[np.float64]:
    """The ranking score of every item (see the module docstring)."""
    score = zscore(choice)
    if weights.rating:
        score += weights.rating * zscore(predicted_rating)
    if weights.popularity:
        score += weights.popularity * np.asarray(log_popularity_z, dtype=np.float64)
    return score


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
