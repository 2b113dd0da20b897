"""Implicit-feedback ALS (iALS): the factor model that ranks, beside FunkSVD that rates.

FunkSVD is fitted to rating values, so nothing in its loss says which films people *pick*. iALS
(Hu, Koren & Volinsky 2008, tuned as Rendle et al. 2021) fits a 1 to every rated film and a 0,
with a small weight α0, to every film. Two changes use the stars: a rating's confidence c grows
with its distance from 3★, and a rating below ``dislike_below`` is fitted to 0 ("seen, not for
me"). With p_ui that 1 or 0:

    Σ_rated c_ui (x_u·y_i − p_ui)² + α0 Σ_all (x_u·y_i)² + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²,
    λ_u = λ (n_u + α0 N_items)^ν.

A newcomer is folded in by the same ridge solve (``IALS.fold_in``), with λ_u scaled by
n / (n + h) and each skipped film fitted to 0 with ``skip_confidence``; the served h and skip
confidence are ranking settings (``RankingWeights``) that ``IALS.serving`` puts on the model.
The item factors are stored in the eigenbasis of YᵀY, so α0 YᵀY + λ_u I is diagonal and a
newcomer with n < k ratings needs one n × n solve (Woodbury).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from ml.models.contract import IntArray, NotFittedError, UserRatings
from ml.models.matrix import RatingMatrix, Segments
from ml.serving.ranking import normalise_rows, similar_items

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: The rating that says plain "seen": confidence grows with the distance from it.
NEUTRAL_RATING = 3.0
#: Confidence never drops below this, so the Woodbury fold-in (which divides by it) stays
#: defined.
MIN_CONFIDENCE = 0.05


@dataclass(frozen=True)
class ImplicitParams:
    """Hyper-parameters of iALS, saved into ``manifest.json``; tuned on validation carved
    from the ml-1m training part (docs/model.md, "Ranking"). ``make train`` passes
    its own β for the shipped sources (``--rating-confidence``, Makefile ``SHIPPED_RANKING``).
    """

    n_factors: int = 128
    unobserved_weight: float = 0.3  # α0: weight of the zero target on every film
    reg: float = 0.01  # λ: ridge scale
    reg_exponent: float = 1.0  # ν: ridge grows as (n_rated + α0 N)^ν (Rendle et al. 2021)
    rating_confidence: float = 0.25  # β: confidence grows by β per star away from 3
    dislike_below: float = 2.0  # ratings below this are fitted to 0: "seen, not for me"
    fold_in_half_ratings: float = 50.0  # fold-in ridge × n / (n + this); 0 keeps λ_u
    n_epochs: int = 8
    cg_steps: int = 3  # conjugate-gradient steps per row and sweep (warm-started)
    init_std: float = 0.1  # divided by √k
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_factors < 1 or self.n_epochs < 1 or self.cg_steps < 1:
            raise ValueError("n_factors, n_epochs and cg_steps must be positive")
        if self.unobserved_weight <= 0 or self.reg < 0:
            raise ValueError("unobserved_weight must be positive and reg non-negative")


def targets_and_confidence(ratings: npt.ArrayLike, rating_confidence: float,
                           dislike_below: float) -> tuple[FloatArray, FloatArray]:
    """What each rating asks the model to fit (1 = would pick, 0 = would not) and how hard."""
    r = np.asarray(ratings, dtype=np.float64)
    liked = r >= dislike_below
    distance = r - NEUTRAL_RATING
    c = np.where(liked, 1.0 + rating_confidence * distance,
                 1.0 + rating_confidence * np.abs(distance))
    return liked.astype(np.float64), np.maximum(c, MIN_CONFIDENCE)


#: ``IALS``'s scalar fields, each saved as a one-element array.
SCALARS = ("unobserved_weight", "reg", "reg_exponent", "rating_confidence", "dislike_below",
           "fold_in_half_ratings")


@dataclass(eq=False)
class IALS:
    """Item factors in the eigenbasis of YᵀY, the eigenvalues, and what the fold-in needs.

    Scores: x_u·y_i, unnormalised preference. State: the user's factor vector x_u. The trainer
    returns item factors only, so the model keeps no per-user state: a training user's state is
    their fold-in, like anyone's. ``IALS(params)`` is unfitted until ``fit``/``from_arrays``.
    """

    name: ClassVar[str] = "ials"

    params: ImplicitParams = field(default_factory=lambda: ImplicitParams())
    #: (n_items, k), rotated: YᵀY is diag(gram_eigenvalues)
    item_factors: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    gram_eigenvalues: FloatArray = field(default_factory=lambda: np.zeros(0))  # (k,)
    unobserved_weight: float = 0.0
    reg: float = 0.0
    reg_exponent: float = 0.0
    rating_confidence: float = 0.0
    dislike_below: float = 0.0
    fold_in_half_ratings: float = 0.0
    #: Confidence of the 0 fitted to a skipped film in the fold-in (0: skips unused). A
    #: serving setting, not a trained array: see ``serving``.
    skip_confidence: float = 0.0
    _unit: npt.NDArray[np.float32] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.gram_eigenvalues.shape != (self.item_factors.shape[1],):
            raise ValueError("gram_eigenvalues must have one entry per factor")

    @property
    def n_items(self) -> int:
        return self.item_factors.shape[0]

    @property
    def rank(self) -> int:
        return self.item_factors.shape[1]

    def _fitted(self) -> None:
        if self.n_items == 0:
            raise NotFittedError(f"{self.name}: call fit(matrix) or from_arrays(...) first")

    def fit(self, matrix: RatingMatrix) -> IALS:
        trained = train_implicit(matrix, self.params)
        for name in ("item_factors", "gram_eigenvalues", *SCALARS, "skip_confidence"):
            setattr(self, name, getattr(trained, name))
        self._unit = None
        return self

    def ridge(self, n_rated: int) -> float:
        """The training λ_u of a user with ``n_rated`` films."""
        return self.reg * (n_rated + self.unobserved_weight * self.n_items) ** self.reg_exponent

    def fold_in_ridge(self, n_rated: int) -> float:
        """The fold-in's λ_u: the training ridge scaled by n / (n + h), so a newcomer's few
        ratings are shrunk less (α0·YᵀY still regularises them); tuned on newcomers."""
        if self.fold_in_half_ratings <= 0:
            return self.ridge(n_rated)
        return self.ridge(n_rated) * n_rated / (n_rated + self.fold_in_half_ratings)

    def serving(self, half_ratings: float, skip_confidence: float) -> IALS:
        """This model with the served fold-in settings (the same item factors); the served
        ones are ``ml.serving.ranking.RankingWeights``' ``fold_in_half_ratings`` and
        ``skip_confidence`` (the trained model's own h is the training default)."""
        return replace(self, fold_in_half_ratings=half_ratings, skip_confidence=skip_confidence)

    def fold_in(self, user: UserRatings) -> FloatArray:
        """The user vector x_u for these ratings and skipped films, item factors fixed.

        A skipped film is one more row with target 0 and confidence ``skip_confidence``; a film
        both rated and skipped counts as rated. With no rating the vector is zero: skips alone
        say what someone does not pick, never what they do. With D = α0 Λ + λ_u I diagonal,
        x = D⁻¹ Z_Rᵀ (C⁻¹ + Z_R D⁻¹ Z_Rᵀ)⁻¹ p (Woodbury): an n × n solve while the rows are
        fewer than the factors, the k × k one above that; both give the same vector.
        """
        self._fitted()
        idx, skipped = user.items, user.skipped
        p, c = targets_and_confidence(user.ratings, self.rating_confidence, self.dislike_below)
        n_rated = len(idx)
        if n_rated == 0:
            return np.zeros(self.rank)
        if self.skip_confidence > 0 and np.size(skipped):
            skips = np.setdiff1d(skipped, idx)
            idx = np.concatenate([idx, skips])
            p = np.concatenate([p, np.zeros(len(skips))])
            c = np.concatenate([c, np.full(len(skips), float(self.skip_confidence))])
        diagonal = self.unobserved_weight * self.gram_eigenvalues + self.fold_in_ridge(n_rated)
        if len(idx) < self.rank:
            z = self.item_factors[idx].astype(np.float64)
            scaled = z / diagonal  # Z_R D⁻¹
            system = scaled @ z.T
            system[np.diag_indices_from(system)] += 1.0 / c
            return scaled.T @ np.linalg.solve(system, p)
        # A long history: Z_Rᵀ C Z_R is summed in float32, the factors' own precision (half the
        # time of float64 for 3,000 films at 87k), then solved in float64.
        z32 = self.item_factors[idx]
        system = ((z32.T * c.astype(np.float32)) @ z32).astype(np.float64)
        system[np.diag_indices_from(system)] += diagonal
        # numpy's stubs type solve() as floating[Any] even for two float64 operands.
        return cast(FloatArray, np.linalg.solve(system, z32.T.astype(np.float64) @ (c * p)))

    def scores(self, state: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """x_u · y_i for every film: how likely the user is to pick it (unnormalised)."""
        self._fitted()
        return self.item_factors @ np.asarray(state, dtype=np.float32)

    def similar_items(self, item: int, n: int) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """Items by cosine of their factors (the stored rotation leaves cosines unchanged)."""
        if self._unit is None:
            self._fitted()
            self._unit = normalise_rows(self.item_factors)
        return similar_items(self._unit, item, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        self._fitted()
        arrays: dict[str, npt.NDArray[Any]] = {
            "item_factors": np.asarray(self.item_factors, dtype=np.float32),
            "gram_eigenvalues": np.asarray(self.gram_eigenvalues, dtype=np.float64),
        }
        arrays.update({name: np.array([getattr(self, name)], dtype=np.float64)
                       for name in SCALARS})
        if self.skip_confidence:  # a served model's (the shipped directory stores trained ones)
            arrays["skip_confidence"] = np.array([self.skip_confidence], dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: ImplicitParams | None = None) -> IALS:
        return cls(
            params or ImplicitParams(),
            item_factors=arrays["item_factors"], gram_eigenvalues=arrays["gram_eigenvalues"],
            **{name: float(arrays[name][0]) for name in SCALARS},
            skip_confidence=float(arrays["skip_confidence"][0]) if "skip_confidence" in arrays
            else 0.0,
        )


def train_implicit(matrix: RatingMatrix, params: ImplicitParams) -> IALS:
    """Fit iALS to which films each user rated (with rating-scaled confidence).

    Alternating ridge solves, users then items, ``n_epochs`` times; each row's system takes
    ``cg_steps`` conjugate-gradient steps warm-started from the previous sweep (Takács et al.
    2011), so a sweep is linear in ratings and items.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    k = params.n_factors
    std = params.init_std / np.sqrt(k)
    user_factors = rng.normal(0.0, std, (matrix.n_users, k))
    item_factors = rng.normal(0.0, std, (matrix.n_items, k))
    p, c = targets_and_confidence(matrix.ratings, params.rating_confidence,
                                  params.dislike_below)
    # c·p and c in each side's segment order, once: every sweep reads them as they are.
    weighted = c * p
    sides = ((matrix.by_user, weighted[matrix.by_user.order], c[matrix.by_user.order]),
             (matrix.by_item, weighted[matrix.by_item.order], c[matrix.by_item.order]))
    del weighted
    for epoch in range(params.n_epochs):
        _conjugate_gradient(*sides[0], item_factors, user_factors, params)
        _conjugate_gradient(*sides[1], user_factors, item_factors, params)
        log.debug("iALS sweep %d: %.1f s", epoch + 1, time.perf_counter() - started)
    return rotate(item_factors, params)


def _conjugate_gradient(segments: Segments, weighted_target: FloatArray, conf: FloatArray,
                        fixed: FloatArray, solved: FloatArray, params: ImplicitParams) -> None:
    """Move every row of ``solved`` towards its ridge solution against ``fixed``, in place:
    A_e = α0 YᵀY + λ_e I + Σ_j c_j y_j y_jᵀ, b_e = Σ_j c_j p_j y_j (``weighted_target``: c_j p_j).
    """
    from ml.training.kernels import conjugate_gradient_rows  # training only

    alpha = params.unobserved_weight
    base = alpha * (fixed.T @ fixed)
    ridge = params.reg * (segments.counts + alpha * fixed.shape[0]) ** params.reg_exponent
    conjugate_gradient_rows(segments.indptr, segments.other, weighted_target, conf,
                            fixed.astype(np.float32), base, ridge.astype(np.float64), solved,
                            params.cg_steps)


def rotate(item_factors: FloatArray, params: ImplicitParams) -> IALS:
    """Express the factors in the eigenbasis of YᵀY (an orthogonal change: scores unchanged)."""
    eigenvalues, basis = np.linalg.eigh(item_factors.T @ item_factors)
    return IALS(
        params, item_factors=(item_factors @ basis).astype(np.float32),
        gram_eigenvalues=np.maximum(eigenvalues, 0.0),
        unobserved_weight=params.unobserved_weight, reg=params.reg,
        reg_exponent=params.reg_exponent, rating_confidence=params.rating_confidence,
        dislike_below=params.dislike_below, fold_in_half_ratings=params.fold_in_half_ratings,
    )
