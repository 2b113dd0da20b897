"""The rating model as it is served: r̂ = μ + b_u + b_i + p_u·q_i, and fold-in of new users.

``FactorModel`` is plain arrays, so it saves to ``.npz`` without pickle and loads in milliseconds.
The trainer (``ml.models.funksvd.train``) produces it; the API only ever calls ``fold_in`` and
``score_items`` on it, so a person who signs up is scored by exactly the code that evaluation
measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from ml.rules import RATING_MAX, RATING_MIN

Floating = TypeVar("Floating", bound=np.floating)

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FunkSVDParams:
    """Hyper-parameters of the biased matrix factorisation, saved into ``manifest.json``.

    The model is FunkSVD's μ + b_u + b_i + p_u·q_i (the name the product and its users know),
    but it is not trained by Funk's SGD. ``method="gibbs"`` (the default) does this:

    1. ``burn_in // 2`` MAP warm-up sweeps: ALS with a ridge of ``reg`` per rating (ALS-WR);
    2. sampling sweeps (Bayesian probabilistic MF, Salakhutdinov & Mnih 2008): each user's
       [p_u, b_u] is drawn from its Gaussian posterior given the item side, the user prior and
       the noise precision; then the user prior's mean and *full* precision matrix are drawn
       from their Normal-Wishart posterior (μ0 = 0, β0 = 2, W0 = I, ν0 = n_factors + 1); the
       same for items; then the noise precision from its Gamma(``prior_shape``,
       ``prior_rate``) posterior;
    3. from sweep ``burn_in`` on, the samples are averaged: biases directly, and the mean of
       the sampled ``n_factors``-dimensional products P_s Q_sᵀ is truncated to ``rank``
       dimensions by a randomized truncated SVD (Halko et al. 2011: range finder, 4 power
       iterations, SVD of the small core). That is an approximation of the average, not an
       exact compression, so the served model is still one μ + b_u + b_i + p_u·q_i.

    Early stopping on validation RMSE of the running average picks the number of sweeps.
    The fold-in prior is not the sampled one: it is a diagonal Gaussian fitted to the shipped
    user vectors (see ``FactorModel``). Averaging is what beats the MAP fit on sparse data:
    each obscure film's vector is an average over its plausible values, not its overfitted
    best one. ``method="als"`` is the MAP baseline (ALS-WR), kept to measure that claim.
    """

    method: Literal["gibbs", "als"] = "gibbs"
    n_factors: int = 16  # latent dimensions of each posterior sample
    rank: int = 64  # dimensions of the shipped (posterior mean) factors
    n_epochs: int = 65  # sweeps, including burn_in
    burn_in: int = 4  # sweeps before samples are averaged (the first half are MAP warm-up)
    reg: float = 0.1  # ridge per rating: method "als", and the MAP warm-up of "gibbs"
    prior_shape: float = 1.0  # Gamma(a0, b0) hyperprior on the noise precision
    prior_rate: float = 1.0
    init_std: float = 0.1
    patience: int = 40  # stop when validation RMSE has not improved for this many sweeps
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("gibbs", "als"):
            raise ValueError(f"method must be 'gibbs' or 'als', got {self.method!r}")
        if self.n_factors < 1 or self.rank < 1 or self.n_epochs < 1:
            raise ValueError("n_factors, rank and n_epochs must be positive")
        if not 0 <= self.burn_in < self.n_epochs:
            raise ValueError("burn_in must be in [0, n_epochs)")


@dataclass(frozen=True)
class UserVector:
    """A user's factors and bias, from training or from fold-in."""

    factors: FloatArray
    bias: float


@dataclass(frozen=True)
class FactorModel:
    """Trained biases and factors on dense indices, plus the fold-in ridge.

    ``fold_in_reg`` has ``rank + 1`` entries (factors, then bias) and ``fold_in_mean`` the
    prior mean: for the Gibbs-trained model, a diagonal Gaussian fitted to the shipped user
    vectors (their mean, and mean noise variance / their variance in each dimension). It is an
    approximation of the sampled Normal-Wishart prior, which lives in the ``n_factors``-dim
    sample space, not in the shipped basis; folding a user in is the MAP estimate under it.
    The MAP (ALS-WR) model instead scales one ridge by the user's rating count:
    ``fold_in_reg_per_rating``. The solve adds both.
    """

    global_mean: float
    user_factors: FloatArray
    user_bias: FloatArray
    item_factors: FloatArray
    item_bias: FloatArray
    fold_in_reg: FloatArray
    fold_in_reg_per_rating: float = 0.0
    fold_in_mean: FloatArray | None = None  # prior mean of [p; b_u]; None means zero

    def __post_init__(self) -> None:
        n_users, rank = self.user_factors.shape
        n_items, item_rank = self.item_factors.shape
        if item_rank != rank:
            raise ValueError(f"user rank {rank} != item rank {item_rank}")
        if self.user_bias.shape != (n_users,) or self.item_bias.shape != (n_items,):
            raise ValueError("bias shapes do not match the factor shapes")
        if self.fold_in_reg.shape != (rank + 1,):
            raise ValueError(f"fold_in_reg must have {rank + 1} entries")
        if self.fold_in_mean is not None and self.fold_in_mean.shape != (rank + 1,):
            raise ValueError(f"fold_in_mean must have {rank + 1} entries")

    @property
    def n_users(self) -> int:
        return self.user_factors.shape[0]

    @property
    def n_items(self) -> int:
        return self.item_factors.shape[0]

    @property
    def rank(self) -> int:
        return self.item_factors.shape[1]

    def user(self, user_index: int) -> UserVector:
        return UserVector(self.user_factors[user_index], float(self.user_bias[user_index]))

    def fold_in(self, item_indices: npt.ArrayLike, ratings: npt.ArrayLike) -> UserVector:
        """The MAP user vector and bias for these ratings, item factors and biases held fixed.

        Solves (X_Rᵀ X_R + diag(λ)) [p; b_u] = X_Rᵀ (r − μ − b_i) + diag(λ) m, X = [Q, 1], m the
        prior mean: one (k+1)² solve, so a new user is personal at once without retraining.
        """
        idx = np.asarray(item_indices, dtype=np.int64)
        r = np.asarray(ratings, dtype=np.float64)
        if idx.ndim != 1 or idx.shape != r.shape:
            raise ValueError("item_indices and ratings must be 1-D and the same length")
        if len(idx) == 0:
            prior = np.zeros(self.rank + 1) if self.fold_in_mean is None else self.fold_in_mean
            return UserVector(prior[:-1].astype(np.float32), float(prior[-1]))
        # X_Rᵀ X_R is summed in float32, the factors' own precision (half the time of float64
        # for a long history), and solved in float64.
        features = np.empty((len(idx), self.rank + 1), dtype=np.float32)
        features[:, :-1] = self.item_factors[idx]
        features[:, -1] = 1.0
        target = r - self.global_mean - self.item_bias[idx]
        gram = (features.T @ features).astype(np.float64)
        ridge = self.fold_in_reg + self.fold_in_reg_per_rating * len(idx)
        gram[np.diag_indices_from(gram)] += ridge
        rhs = features.T.astype(np.float64) @ target
        if self.fold_in_mean is not None:
            rhs += ridge * self.fold_in_mean
        solution = np.linalg.solve(gram, rhs)
        return UserVector(solution[:-1].astype(np.float32), float(solution[-1]))

    def predict_raw(
        self, user: UserVector, items: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float32]:
        """Unclipped predicted rating of every item (or of ``items`` only): the ranking stage
        needs the full range; a served list needs its ten films'."""
        factors, bias = (
            (self.item_factors, self.item_bias)
            if items is None
            else (self.item_factors[items], self.item_bias[items])
        )
        return factors @ user.factors + np.float32(self.global_mean + user.bias) + bias

    def predict(self, user: UserVector) -> npt.NDArray[np.float32]:
        """Predicted rating of every item, clipped to the rating scale people see."""
        return clip_rating(self.predict_raw(user))

    def predict_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Clipped predictions for (user index, item index) pairs; -1 means unknown.

        An unknown user or item falls back to the biases that are known (Surprise does the
        same), so a cold pair gets μ + b_i, μ + b_u or μ rather than an error.
        """
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        known_u, known_i = u >= 0, i >= 0
        both = known_u & known_i
        pred = np.full(len(u), self.global_mean, dtype=np.float64)
        pred[known_u] += self.user_bias[u[known_u]]
        pred[known_i] += self.item_bias[i[known_i]]
        pred[both] += np.einsum(
            "ij,ij->i", self.user_factors[u[both]].astype(np.float64),
            self.item_factors[i[both]].astype(np.float64),
        )
        return clip_rating(pred)


def clip_rating(values: npt.NDArray[Floating]) -> npt.NDArray[Floating]:
    """Clip predictions to the rating scale people see (a raw prediction can pass 5 stars)."""
    return np.clip(values, RATING_MIN, RATING_MAX)
