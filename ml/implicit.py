"""Implicit-feedback ALS (iALS): the factor model that ranks, beside FunkSVD that rates.

Why a second model: FunkSVD is fitted to rating values on the films people rated, so nothing in
its loss says which films people *pick*; ranked by predicted rating its top-10 is obscure films
(NDCG@10 0.054 against popularity's 0.119 on ml-1m). iALS (Hu, Koren & Volinsky 2008) fits a 1
to every rated film and a 0, with a small weight α0, to every film, so its score predicts what a
person will choose to watch. Tuned as Rendle et al. (2021) tune it (the unobserved weight, a
frequency-scaled ridge, enough dimensions) it matches EASE on MovieLens at a cost linear in
items. Loss, with c_ui the confidence of a rated film (higher for a higher rating):

    Σ_rated c_ui (x_u·y_i − 1)² + α0 Σ_all (x_u·y_i)² + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²,
    λ_u = λ (n_u + α0 N_items)^ν,

so each half-sweep is one ridge solve per row, x_u = (α0 YᵀY + Y_Rᵀ C_R Y_R + λ_u I)⁻¹ Y_Rᵀ c_R,
and a newcomer is that same solve: the fold-in.

The item factors are stored rotated into the eigenbasis of YᵀY (dot products do not change),
so α0 YᵀY + λ_u I is diagonal for any λ_u and a newcomer with n ≤ k ratings is folded in by
Woodbury's identity with one n × n solve instead of a k × k one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.matrix import RatingMatrix, Segments

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]

#: Confidence never drops below this, so a 0.5★ rating still says "seen" a little and the
#: Woodbury fold-in (which divides by confidence) stays defined.
MIN_CONFIDENCE = 0.05


@dataclass(frozen=True)
class ImplicitParams:
    """Hyper-parameters of iALS, saved into ``manifest.json``; defaults were tuned on
    validation carved from the ml-1m training part (see bench/ranking.py)."""

    n_factors: int = 128
    unobserved_weight: float = 0.1  # α0: weight of the zero target on every film
    reg: float = 0.01  # λ: ridge scale
    reg_exponent: float = 1.0  # ν: ridge grows as (n_rated + α0 N)^ν (Rendle et al. 2021)
    rating_confidence: float = 0.0  # β: c = 1 + β (r − NEUTRAL_RATING), floored
    n_epochs: int = 12
    init_std: float = 0.1  # divided by √k
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_factors < 1 or self.n_epochs < 1:
            raise ValueError("n_factors and n_epochs must be positive")
        if self.unobserved_weight <= 0 or self.reg < 0:
            raise ValueError("unobserved_weight must be positive and reg non-negative")


#: The rating that counts as plain "seen": higher ratings get more confidence, lower less.
NEUTRAL_RATING = 3.0


def confidence(ratings: npt.ArrayLike, rating_confidence: float) -> FloatArray:
    """c = 1 + β (r − 3), at least MIN_CONFIDENCE: a loved film counts more than a hated one."""
    r = np.asarray(ratings, dtype=np.float64)
    return np.maximum(1.0 + rating_confidence * (r - NEUTRAL_RATING), MIN_CONFIDENCE)


@dataclass(frozen=True)
class ImplicitModel:
    """Item factors in the eigenbasis of YᵀY, the eigenvalues, and what the fold-in needs."""

    item_factors: npt.NDArray[np.float32]  # (n_items, k), rotated: YᵀY is diag(gram_eigenvalues)
    gram_eigenvalues: FloatArray  # (k,)
    unobserved_weight: float
    reg: float
    reg_exponent: float
    rating_confidence: float

    def __post_init__(self) -> None:
        if self.gram_eigenvalues.shape != (self.item_factors.shape[1],):
            raise ValueError("gram_eigenvalues must have one entry per factor")

    @property
    def n_items(self) -> int:
        return self.item_factors.shape[0]

    @property
    def rank(self) -> int:
        return self.item_factors.shape[1]

    def ridge(self, n_rated: int) -> float:
        """λ_u for a user with ``n_rated`` films."""
        return self.reg * (n_rated + self.unobserved_weight * self.n_items) ** self.reg_exponent

    def fold_in(self, item_indices: npt.ArrayLike, ratings: npt.ArrayLike) -> FloatArray:
        """The user vector x_u for these ratings, item factors fixed (the training solve).

        With D = α0 Λ + λ_u I diagonal, x = D⁻¹ Z_Rᵀ (C⁻¹ + Z_R D⁻¹ Z_Rᵀ)⁻¹ 1 (Woodbury): an
        n × n solve while n < k, the k × k one above that; both give the same vector.
        """
        idx = np.asarray(item_indices, dtype=np.int64)
        c = confidence(ratings, self.rating_confidence)
        if idx.ndim != 1 or idx.shape != c.shape:
            raise ValueError("item_indices and ratings must be 1-D and the same length")
        if len(idx) == 0:
            return np.zeros(self.rank)
        diagonal = self.unobserved_weight * self.gram_eigenvalues + self.ridge(len(idx))
        z = self.item_factors[idx].astype(np.float64)
        if len(idx) < self.rank:
            scaled = z / diagonal  # Z_R D⁻¹
            system = scaled @ z.T
            system[np.diag_indices_from(system)] += 1.0 / c
            return scaled.T @ np.linalg.solve(system, np.ones(len(idx)))
        system = (z.T * c) @ z
        system[np.diag_indices_from(system)] += diagonal
        return np.linalg.solve(system, z.T @ c)

    def scores(self, user_vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """x_u · y_i for every film: how likely the user is to pick it (unnormalised)."""
        return self.item_factors @ np.asarray(user_vector, dtype=np.float32)


def train_implicit(matrix: RatingMatrix, params: ImplicitParams) -> ImplicitModel:
    """Fit iALS to which films each user rated (with rating-scaled confidence).

    Alternating exact ridge solves, users then items, ``n_epochs`` times; cost per sweep is
    O(nnz·k² + (users + items)·k³), linear in the number of items.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    k = params.n_factors
    std = params.init_std / np.sqrt(k)
    user_factors = rng.normal(0.0, std, (matrix.n_users, k))
    item_factors = rng.normal(0.0, std, (matrix.n_items, k))
    c = confidence(matrix.ratings, params.rating_confidence)
    user_conf = c[matrix.by_user.order]
    item_conf = c[matrix.by_item.order]
    for epoch in range(params.n_epochs):
        with single_threaded_blas():  # thousands of k × k solves: threads only get in the way
            user_factors = _solve_side(item_factors, matrix.by_user, user_conf, params)
            item_factors = _solve_side(user_factors, matrix.by_item, item_conf, params)
        log.debug("iALS sweep %d: %.1f s", epoch + 1, time.perf_counter() - started)
    return rotate(item_factors, params)


def rotate(item_factors: FloatArray, params: ImplicitParams) -> ImplicitModel:
    """Express the factors in the eigenbasis of YᵀY (an orthogonal change: scores unchanged)."""
    eigenvalues, basis = np.linalg.eigh(item_factors.T @ item_factors)
    return ImplicitModel(
        item_factors=(item_factors @ basis).astype(np.float32),
        gram_eigenvalues=np.maximum(eigenvalues, 0.0),
        unobserved_weight=params.unobserved_weight, reg=params.reg,
        reg_exponent=params.reg_exponent, rating_confidence=params.rating_confidence,
    )


def _solve_side(fixed: FloatArray, segments: Segments, conf: FloatArray,
                params: ImplicitParams) -> FloatArray:
    """One ridge solve per owner (user or item) against the ``fixed`` side's factors."""
    n_owners, k = len(segments.indptr) - 1, fixed.shape[1]
    alpha = params.unobserved_weight
    base = alpha * (fixed.T @ fixed)
    ridge = params.reg * (segments.counts + alpha * fixed.shape[0]) ** params.reg_exponent
    solved = np.zeros((n_owners, k))
    for owner in range(n_owners):
        start, stop = segments.indptr[owner], segments.indptr[owner + 1]
        if start == stop:
            continue
        rows = fixed[segments.other[start:stop]]
        weights = conf[start:stop]
        system = (rows.T * weights) @ rows + base
        system[np.diag_indices(k)] += ridge[owner]
        solved[owner] = np.linalg.solve(system, rows.T @ weights)
    return solved
