"""FunkSVD: the rating model, r̂ = μ + b_u + b_i + p_u·q_i, its fold-in, and its training.

The name is the one the product and its users know; the training (``ml.models.funksvd.train``)
is Bayesian MF by Gibbs sampling (``FunkSVDParams``), or ALS-WR with ``method="als"``. A fitted
model is plain arrays, saved to ``.npz`` without pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from ml.models.contract import IntArray, NotFittedError, UserRatings, clip_rating
from ml.models.matrix import RatingMatrix
from ml.serving.ranking import normalise_rows, similar_items

if TYPE_CHECKING:
    from ml.models.funksvd.train import TrainResult, Validation

FloatArray = npt.NDArray[np.float32]

_ARRAYS = ("user_factors", "user_bias", "item_factors", "item_bias", "fold_in_reg")


def _empty(*shape: int) -> FloatArray:
    return np.zeros(shape, dtype=np.float32)


@dataclass(frozen=True)
class FunkSVDParams:
    """Hyper-parameters of the biased matrix factorisation, saved into ``manifest.json``.

    ``method="gibbs"`` (the default):

    1. ``burn_in // 2`` MAP warm-up sweeps: ALS with a ridge of ``reg`` per rating (ALS-WR);
    2. sampling sweeps (Salakhutdinov & Mnih 2008): each user's [p_u, b_u] drawn from its
       Gaussian posterior, then the user prior's mean and full precision from their
       Normal-Wishart posterior (μ0 = 0, β0 = 2, W0 = I, ν0 = n_factors + 1); the same for
       items; then the noise precision from its Gamma(``prior_shape``, ``prior_rate``) posterior;
    3. from sweep ``burn_in`` on, the samples are averaged, the mean of the sampled products
       P_s Q_sᵀ truncated to ``rank`` dimensions by a randomized truncated SVD (Halko et al.
       2011): an approximation, so the served model is still one μ + b_u + b_i + p_u·q_i.

    Early stopping on validation RMSE of the running average picks the number of sweeps.
    ``method="als"`` is the MAP baseline (ALS-WR).
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
    """A user's factors and bias, from training or from fold-in: FunkSVD's user state."""

    factors: FloatArray
    bias: float


@dataclass(eq=False)
class FunkSVD:
    """Trained biases and factors on dense indices, plus the fold-in ridge.

    Scores: unclipped predicted ratings. State: a ``UserVector``. ``fold_in_reg`` has
    ``rank + 1`` entries (factors, then bias) and ``fold_in_mean`` the prior mean: for the Gibbs
    model a diagonal Gaussian fitted to the shipped user vectors; the ALS-WR model instead scales
    one ridge by the user's rating count (``fold_in_reg_per_rating``). The solve adds both.
    """

    name: ClassVar[str] = "funksvd"

    params: FunkSVDParams = field(default_factory=lambda: FunkSVDParams())
    global_mean: float = 0.0
    user_factors: FloatArray = field(default_factory=lambda: _empty(0, 0))
    user_bias: FloatArray = field(default_factory=lambda: _empty(0))
    item_factors: FloatArray = field(default_factory=lambda: _empty(0, 0))
    item_bias: FloatArray = field(default_factory=lambda: _empty(0))
    fold_in_reg: FloatArray = field(default_factory=lambda: _empty(1))
    fold_in_reg_per_rating: float = 0.0
    fold_in_mean: FloatArray | None = None  # prior mean of [p; b_u]; None means zero
    #: Show a progress bar while fitting.
    progress: bool = field(default=False, repr=False)
    #: The last ``fit``'s sweeps and timings (None for a loaded model).
    result: TrainResult | None = field(default=None, repr=False)
    _unit: FloatArray | None = field(default=None, init=False, repr=False)

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

    def _fitted(self) -> None:
        if self.n_items == 0:
            raise NotFittedError(f"{self.name}: call fit(matrix) or from_arrays(...) first")

    def fit(self, matrix: RatingMatrix, validation: Validation | None = None) -> FunkSVD:
        """Train on ``matrix``, early-stopping on ``validation`` RMSE when given."""
        from ml.models.funksvd.train import train_funksvd  # training only

        result = train_funksvd(matrix, self.params, validation, progress=self.progress)
        trained = result.model
        for name in (*_ARRAYS, "global_mean", "fold_in_reg_per_rating", "fold_in_mean"):
            setattr(self, name, getattr(trained, name))
        self.result, self._unit = result, None
        return self

    def fold_in(self, user: UserRatings) -> UserVector:
        """The MAP user vector and bias for these ratings, item factors and biases held fixed.

        Solves (X_Rᵀ X_R + diag(λ)) [p; b_u] = X_Rᵀ (r − μ − b_i) + diag(λ) m, X = [Q, 1], m the
        prior mean: one (k+1)² solve, so a new user is personal at once without retraining.
        """
        self._fitted()
        idx, r = user.items, user.ratings
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

    def scores(self, state: UserVector, items: IntArray | None = None) -> FloatArray:
        """Unclipped predicted rating of every item (or of ``items`` only): the ranking stage
        needs the full range; a served list needs its ten films'."""
        self._fitted()
        factors, bias = (
            (self.item_factors, self.item_bias)
            if items is None
            else (self.item_factors[items], self.item_bias[items])
        )
        return factors @ state.factors + np.float32(self.global_mean + state.bias) + bias

    def predict(self, state: UserVector, items: IntArray | None = None) -> npt.NDArray[Any]:
        """Predicted ratings (of every item, or of ``items``), clipped to the scale shown."""
        return clip_rating(self.scores(state, items))

    def predict_pairs(self, users: npt.ArrayLike, items: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Clipped predictions for (user index, item index) pairs; -1 means unknown.

        An unknown user or item falls back to the biases that are known (Surprise does the
        same), so a cold pair gets μ + b_i, μ + b_u or μ rather than an error.
        """
        self._fitted()
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

    @property
    def unit_item_factors(self) -> FloatArray:
        """Item factors scaled to unit length, computed once: cosines are dot products."""
        if self._unit is None:
            self._fitted()
            self._unit = normalise_rows(self.item_factors)
        return self._unit

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items by cosine of their factors: liked by the same people."""
        return similar_items(self.unit_item_factors, item, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        self._fitted()
        mean = self.fold_in_mean if self.fold_in_mean is not None else np.zeros(self.rank + 1)
        arrays: dict[str, npt.NDArray[Any]] = {
            name: np.asarray(getattr(self, name), dtype=np.float32) for name in _ARRAYS}
        arrays["fold_in_mean"] = np.asarray(mean, dtype=np.float32)
        arrays["global_mean"] = np.array([self.global_mean], dtype=np.float64)
        arrays["fold_in_reg_per_rating"] = np.array([self.fold_in_reg_per_rating],
                                                    dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]],
                    params: FunkSVDParams | None = None) -> FunkSVD:
        return cls(
            params or FunkSVDParams(),
            global_mean=float(arrays["global_mean"][0]),
            user_factors=arrays["user_factors"], user_bias=arrays["user_bias"],
            item_factors=arrays["item_factors"], item_bias=arrays["item_bias"],
            fold_in_reg=arrays["fold_in_reg"],
            fold_in_reg_per_rating=float(arrays["fold_in_reg_per_rating"][0]),
            fold_in_mean=arrays["fold_in_mean"],
        )
