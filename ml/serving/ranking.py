"""The personal ranking score, turning a score per item into a top-N, and factor neighbours.

FunkSVD predicts how much someone will like a film once seen; ranked by that alone a top-10 is
obscure films a few people adored. The ranking score adds which films this person is likely to
choose (iALS, ``ml.models.ials.model``) and an item-item term (``ml.models.ease.sparse``):

    z(iALS score) + w_rating(n) · z(FunkSVD predicted rating) + w_pop(n) · z(log(1 + count))
                  + w_item(n) · z(item-item score),

each term z-scored over the catalogue, each weight moving from its value at five ratings to its
full-history value as the user rates more (n ratings):

    w(n) = w_full + (w_at_threshold − w_full) · min(1, (5 / n)^decay).

docs/ranking.md gives the reasons and the tuning. Scoring and ranking are separate steps: every
scorer returns one float per item and ``top_n_indices`` cuts the list. ``BlendScorer`` computes
the score in one matrix-vector product: a z-score is affine in the user's vector (mean(Y·x) =
ȳ·x, var(Y·x) = xᵀ Cov(Y) x), so the moments are precomputed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ml.rules import PERSONALISATION_THRESHOLD

#: The scorers a list can be ranked by: Bayesian-average popularity, FunkSVD's predicted
#: rating alone (the trap, kept to measure it), and the ranking score above.
Ranker = Literal["popularity", "rating", "blend"]
RANKERS: tuple[Ranker, ...] = ("popularity", "rating", "blend")


@dataclass(frozen=True)
class RankingWeights:
    """The ranking stage's tuned parameters (the iALS term has weight 1), saved in the manifest.

    ``rating``, ``popularity`` and ``item_item`` are the weights for a full history,
    ``*_at_threshold`` those at five ratings; ``decay`` is how fast the first give way to the
    second. ``fold_in_half_ratings`` and ``skip_confidence`` shape the iALS fold-in
    (``IALS.fold_in``). Fields missing from an older manifest take these defaults. Chosen on
    validation only (``bench/ranking.py --tune``, ``bench/newcomers.py --tune``; docs/ranking.md).
    """

    rating: float = 0.3
    popularity: float = 0.05
    rating_at_threshold: float = 1.5
    popularity_at_threshold: float = 4.0
    decay: float = 2.0
    fold_in_half_ratings: float = 1.0
    skip_confidence: float = 30.0
    item_item: float = 0.7
    item_item_at_threshold: float = 0.0

    @classmethod
    def of_manifest(cls, manifest: Mapping[str, Any]) -> RankingWeights:
        """The weights a model's manifest holds (``ranking.weights``); missing fields take the
        defaults here, unknown ones are ignored."""
        saved = manifest.get("ranking", {}).get("weights", {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})

    def at(self, n_ratings: int) -> tuple[float, float]:
        """(w_rating, w_pop) for a user with ``n_ratings`` ratings."""
        newness = min(1.0, (PERSONALISATION_THRESHOLD / max(n_ratings, 1)) ** self.decay)
        return (self.rating + (self.rating_at_threshold - self.rating) * newness,
                self.popularity + (self.popularity_at_threshold - self.popularity) * newness)

    def item_item_at(self, n_ratings: int) -> float:
        """w_item for a user with ``n_ratings`` ratings (the same decay as ``at``)."""
        newness = min(1.0, (PERSONALISATION_THRESHOLD / max(n_ratings, 1)) ** self.decay)
        return self.item_item + (self.item_item_at_threshold - self.item_item) * newness


def blend_scores(
    choice: npt.NDArray[np.floating], predicted_rating: npt.NDArray[np.floating],
    log_popularity_z: npt.NDArray[np.floating], weights: RankingWeights, n_ratings: int,
    item_item: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.float64]:
    """The ranking score of every item (see the module docstring); ``item_item`` None: the
    model has no item-item term."""
    w_rating, w_popularity = weights.at(n_ratings)
    score = zscore(choice)
    if w_rating:
        score += w_rating * zscore(predicted_rating)
    if w_popularity:
        score += w_popularity * np.asarray(log_popularity_z, dtype=np.float64)
    w_item = weights.item_item_at(n_ratings)
    if w_item and item_item is not None:
        score += w_item * zscore(item_item)
    return score


@dataclass(frozen=True)
class RowScores:
    """A term's scores at a scorer's rows only, with their mean and standard deviation over
    every item: what ``BlendScorer.scores`` needs of a term most items score 0 in (the
    item-item term outside its head films), without a catalogue-sized array."""

    values: npt.NDArray[np.float32]
    mean: float
    std: float

    @classmethod
    def of_head(cls, head_scores: npt.NDArray[np.floating] | None, n_items: int,
                head_of_rows: npt.NDArray[np.int64]) -> RowScores:
        """From the scores of the head items (every other item scores 0; None: every item
        does) and each row's position in the head (``len(head_scores)`` for a row outside
        it)."""
        if head_scores is None:
            return cls(np.zeros(len(head_of_rows), dtype=np.float32), 0.0, 0.0)
        head = np.asarray(head_scores, dtype=np.float64)
        mean = float(head.sum()) / n_items
        centred = head - mean
        variance = (float(centred @ centred) + (n_items - len(head)) * mean * mean) / n_items
        padded = np.append(np.asarray(head_scores, dtype=np.float32), np.float32(0.0))
        return cls(padded[head_of_rows], mean, float(np.sqrt(max(variance, 0.0))))


class BlendScorer:
    """The ranking score of ``blend_scores`` for every item, in one matrix-vector product.

    Built once from the choice model's item factors ``Y`` (iALS), the rating model's item
    factors ``Q`` and biases ``b`` (FunkSVD) and the z-scored log popularity. Equal to
    ``blend_scores`` up to float32 rounding (a contract test holds it to that).
    """

    def __init__(
        self, choice_factors: npt.NDArray[np.floating], rating_factors: npt.NDArray[np.floating],
        rating_bias: npt.NDArray[np.floating], log_popularity_z: npt.NDArray[np.floating],
        weights: RankingWeights, rows: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """``rows``: the items ``scores`` scores (default all), z-scored over every item.

        With ``rows`` the factors are stored by column, so the product runs down contiguous
        columns (2.7x faster) in another float32 summation order. Every item's scorer keeps
        item rows: the shipped lists were recorded with its rounding
        (``tests/ml/test_served_lists.py``)."""
        y = np.asarray(choice_factors, dtype=np.float64)
        # The predicted rating minus the user's constant (global mean + user bias), which no
        # z-score sees: Z·[p; 1] with Z = [Q | b].
        z = np.column_stack([np.asarray(rating_factors, dtype=np.float64),
                             np.asarray(rating_bias, dtype=np.float64)])
        self.weights = weights
        self._choice_moments = _moments(y)
        self._rating_moments = _moments(z)
        self._k_choice = y.shape[1]
        self.rows = rows
        stacked = np.column_stack([y, z, np.asarray(log_popularity_z, dtype=np.float64)])
        self._stacked = np.ascontiguousarray(stacked if rows is None else stacked[rows].T,
                                             dtype=np.float32)

    def scores(
        self, choice_vector: npt.ArrayLike, rating_factors: npt.ArrayLike, n_ratings: int,
        item_item: npt.NDArray[np.floating] | RowScores | None = None,
    ) -> npt.NDArray[np.float32]:
        """z(Y·x) + w_rating(n) · z(Q·p + b) + w_pop(n) · z(log(1 + count))
        (+ w_item(n) · z(``item_item``), the user's item-item scores of every item, or of
        the constructor's ``rows`` with their moments over every item, when given), for the
        constructor's ``rows``."""
        x = np.asarray(choice_vector, dtype=np.float64)
        p1 = np.append(np.asarray(rating_factors, dtype=np.float64), 1.0)
        x_mean, x_std = _affine_moments(self._choice_moments, x)
        r_mean, r_std = _affine_moments(self._rating_moments, p1)
        w_rating, w_popularity = self.weights.at(n_ratings)
        vector = np.concatenate([x / x_std, (w_rating / r_std) * p1, [w_popularity]])
        offset = x_mean / x_std + w_rating * r_mean / r_std
        score = (self._stacked @ vector.astype(np.float32) if self.rows is None
                 else vector.astype(np.float32) @ self._stacked)
        score -= np.float32(offset)
        w_item = self.weights.item_item_at(n_ratings)
        if w_item and item_item is not None:
            if isinstance(item_item, RowScores):
                mean, std, rows = item_item.mean, item_item.std, item_item.values
            else:
                mean, std = float(item_item.mean()), float(item_item.std())
                rows = item_item if self.rows is None else item_item[self.rows]
            score += ((w_item / (std if std > 1e-12 else 1.0))
                      * (rows - mean)).astype(np.float32)
        return score


def _moments(rows: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64],
                                                     npt.NDArray[np.float64]]:
    """Column means and the population covariance of ``rows``."""
    mean = rows.mean(axis=0)
    centred = rows - mean
    return mean, centred.T @ centred / len(rows)


def _affine_moments(
    moments: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], v: npt.NDArray[np.float64],
) -> tuple[float, float]:
    """Mean and standard deviation over items of rows·v (1 for a flat score, as ``zscore``)."""
    mean, cov = moments
    std = float(np.sqrt(max(float(v @ cov @ v), 0.0)))
    return float(mean @ v), std if std > 1e-12 else 1.0


def top_n_indices(
    scores: npt.NDArray[np.floating], n: int, exclude: npt.ArrayLike | None = None,
    allowed: npt.NDArray[np.bool_] | None = None, rows: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Indices of the ``n`` highest scores, best first, skipping excluded and disallowed items.

    Equal scores keep index order, at the cut as well, so a ranking is deterministic.
    ``rows``: the items ``scores`` are of (ascending indices; default every item), as a
    personal list's pool (``ml.serving.recommender.PERSONAL_POOL``); ``exclude``, ``allowed``
    and the result are item indices either way, and the result is the one of the same scores
    spread over every item with -inf elsewhere, without a catalogue-sized pass.
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if rows is not None:
        best = top_n_indices(scores, n, None if exclude is None else positions_in(rows, exclude),
                             None if allowed is None else allowed[rows])
        return rows[best]
    # float32 scores stay float32: this copy and the partition are half of a request's work.
    dtype = np.result_type(np.asarray(scores).dtype, np.float32)
    masked = np.array(scores, dtype=dtype, copy=True)
    if allowed is not None:
        masked[~allowed] = -np.inf
    if exclude is not None:
        ex = np.asarray(exclude, dtype=np.int64)
        masked[ex[(ex >= 0) & (ex < len(masked))]] = -np.inf
    finite = np.isfinite(masked)  # NaN, and films filtered or excluded, are never picked
    n_finite = int(np.count_nonzero(finite))
    k = min(n, n_finite)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if 16 * (len(masked) - n_finite) <= len(masked):
        # Nearly every film still in play (a personal list minus a history): partition the
        # scores where they are, the few others at -inf, without gathering a copy.
        if n_finite < len(masked):
            masked[~finite] = -np.inf
        positions, values = None, masked
    else:
        # Partition only the films still in play: argpartition over thousands of equal -inf
        # (a narrow genre or year filter) was 20-40x slower than over the few that remain.
        positions = np.flatnonzero(finite)
        values = masked[positions]
    if k < len(values):
        # The k-th best value (finite: k ≤ the films in play), then everything above it and,
        # of the items tied with it, the lowest indices: ties at the cut are decided by index
        # too, not by argpartition.
        kth = values[np.argpartition(values, len(values) - k)[len(values) - k]]
        above = values > kth
        tied = np.flatnonzero(values == kth)[: k - int(above.sum())]
        chosen = np.concatenate([np.flatnonzero(above), tied])
    else:
        chosen = np.arange(len(values))
    candidates = chosen if positions is None else positions[chosen]
    # Stable order: by score descending, then index ascending.
    order = np.lexsort((candidates, -masked[candidates]))
    return candidates[order][:k].astype(np.int64)


def positions_in(rows: npt.NDArray[np.int64], items: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The positions in ``rows`` (ascending item indices) of those ``items`` it holds."""
    wanted = np.asarray(items, dtype=np.int64)
    if len(rows) == 0 or wanted.size == 0:
        return np.empty(0, dtype=np.int64)
    found = np.minimum(np.searchsorted(rows, wanted), len(rows) - 1)
    return found[rows[found] == wanted]


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
