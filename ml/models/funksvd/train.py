"""Training the biased matrix factorisation: vectorised ALS sweeps, MAP or Gibbs-sampled.

Each half-sweep is a closed-form ridge solve per user (then per item), compiled in
``ml.training.kernels``, with no learning rate to tune. Drawing each vector from its posterior
and averaging the samples (Salakhutdinov & Mnih 2008) lowers RMSE on sparse data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from ml.blas import single_threaded_blas
from ml.models.contract import clip_rating
from ml.models.funksvd.model import FunkSVD, FunkSVDParams
from ml.models.matrix import RatingMatrix, Segments
from ml.rules import RATING_MAX, RATING_MIN
from ml.training.metrics import rmse

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Validation:
    """Held-out ratings on dense indices (-1 where the user or item is unseen in training)."""

    users: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    ratings: Array


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_rmse: float
    validation_rmse: float | None
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    model: FunkSVD
    history: list[EpochStats] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int = 0


def train_funksvd(train: RatingMatrix, params: FunkSVDParams,
                  validation: Validation | None = None, progress: bool = True) -> TrainResult:
    """Fit μ + b_u + b_i + p_u·q_i to ``train``; early-stop on ``validation`` RMSE.

    Deterministic for ``params.seed``. Shows a per-sweep tqdm bar with train and validation RMSE.
    Runs with one BLAS thread: its work is thousands of tiny systems (see ``ml.blas``).
    """
    with single_threaded_blas():
        return _train(train, params, validation, progress)


def _train(train: RatingMatrix, params: FunkSVDParams, validation: Validation | None,
           progress: bool) -> TrainResult:
    if len(train) == 0:
        raise ValueError("cannot train on zero ratings")
    started = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    state = _State.initial(train, params, rng)
    averager = _PosteriorAverager(
        train, validation,
        max(params.n_epochs - params.burn_in, 0) if params.method == "gibbs" else 0,
        params.n_factors)
    history: list[EpochStats] = []
    best_rmse, best_epoch, best_map = np.inf, 0, state.copy()
    map_warmup = params.burn_in // 2 if params.method == "gibbs" else params.n_epochs

    bar = tqdm(range(params.n_epochs), desc=f"FunkSVD/{params.method}", disable=not progress,
               unit="sweep", leave=False)
    for epoch in bar:
        sampling = epoch >= map_warmup
        keep = sampling and epoch >= params.burn_in
        train_rmse = state.sweep(train, params, rng, sampling, averager, keep)
        if keep:
            averager.add(state)
        val_rmse = averager.validation_rmse(state)
        history.append(EpochStats(epoch + 1, train_rmse, val_rmse, time.perf_counter() - started))
        shown = "-" if val_rmse is None else f"{val_rmse:.4f}"
        bar.set_postfix(train=f"{train_rmse:.4f}", val=shown)
        if val_rmse is None:
            continue
        # Only count epochs whose figures mean something: the MAP fit, or the running average.
        if params.method == "als" or averager.n_samples > 0:
            if val_rmse < best_rmse - 1e-5:
                best_rmse, best_epoch = val_rmse, epoch + 1
                if params.method == "als":
                    best_map = state.copy()
            elif epoch + 1 - best_epoch >= params.patience:
                log.info("early stop at sweep %d (best %d, val %.4f)", epoch + 1, best_epoch,
                         best_rmse)
                break
    bar.close()

    if params.method == "gibbs" and averager.n_samples > 0:
        model = averager.model(state, params.rank)
    else:
        final = best_map if validation is not None and best_epoch > 0 else state
        model = final.map_model(params.reg)
    if not best_epoch:
        best_epoch = len(history)
    model = replace(model, params=params)
    return TrainResult(model, history, time.perf_counter() - started, best_epoch)


def solve_ridge_batched(
    segments: Segments, factors: Array, targets_sorted: npt.NDArray[np.floating], ridge: Array,
    prior_precision: Array | None = None, prior_shift: Array | None = None,
    noise: Array | None = None,
) -> Array:
    """For every entity solve (X_eᵀX_e + diag(ridge_e) + Λ) w = X_eᵀ y_e + s (+ L_e z_e).

    X_e = [F_e, 1], so the last entry of w is the bias; ``ridge`` (n_entities, d) is the MAP
    ridge; Λ and s carry the sampler's shared Gaussian prior. With ``noise`` z, L_e z_e is added
    (``ml.training.kernels.segment_ridge_solve``): a posterior draw instead of the mode.
    """
    from ml.training.kernels import segment_ridge_solve  # training only: serving needs no numba

    n, d = len(segments.indptr) - 1, factors.shape[1] + 1
    # Per-rating work is memory-bound, so it runs in float32 and reads the rows in place (no
    # gathered copy); the small d × d systems are solved in float64, in the same pass.
    return segment_ridge_solve(
        segments.indptr, segments.other, np.ascontiguousarray(factors, dtype=np.float32),
        np.asarray(targets_sorted, dtype=np.float32),
        np.ascontiguousarray(np.broadcast_to(ridge, (n, d)), dtype=np.float64),
        np.zeros((d, d)) if prior_precision is None else np.asarray(prior_precision, np.float64),
        np.zeros(d) if prior_shift is None else np.asarray(prior_shift, np.float64),
        np.zeros((1, d)) if noise is None else np.ascontiguousarray(noise, dtype=np.float64),
        noise is not None)


@dataclass(frozen=True)
class GaussianPrior:
    """N(mean, precision⁻¹) over an entity's [factors, bias], with a Normal-Wishart hyperprior:
    sampling the mean and full precision lets the data set how strongly each direction shrinks.
    """

    mean: Array
    precision: Array

    @classmethod
    def standard(cls, d: int) -> GaussianPrior:
        return cls(np.zeros(d), np.eye(d))

    @classmethod
    def sample_posterior(cls, vectors: Array, rng: np.random.Generator,
                         beta0: float = 2.0) -> GaussianPrior:
        """Draw (μ, Λ) from the Normal-Wishart posterior; prior μ0 = 0, W0 = I, ν0 = d."""
        n, d = vectors.shape
        mean = vectors.mean(axis=0)
        centred = vectors - mean
        beta = beta0 + n
        scale_inverse = np.eye(d) + centred.T @ centred + (beta0 * n / beta) * np.outer(mean, mean)
        scale = np.linalg.inv(scale_inverse)
        precision = _sample_wishart((scale + scale.T) / 2.0, d + n, rng)
        covariance = np.linalg.inv(beta * precision)
        sampled_mean = rng.multivariate_normal(n * mean / beta, (covariance + covariance.T) / 2.0)
        return cls(sampled_mean, precision)


def _sample_wishart(scale: Array, dof: float, rng: np.random.Generator) -> Array:
    """One draw of W(scale, dof) by the Bartlett decomposition."""
    d = scale.shape[0]
    lower = np.linalg.cholesky(scale)
    bartlett = np.zeros((d, d))
    bartlett[np.diag_indices(d)] = np.sqrt(rng.chisquare(dof - np.arange(d)))
    below = np.tril_indices(d, -1)
    bartlett[below] = rng.standard_normal(len(below[0]))
    factor = lower @ bartlett
    return factor @ factor.T


@dataclass
class _State:
    """Current factors, biases and (for sampling) precisions."""

    mu: float
    user_factors: Array
    user_bias: Array
    item_factors: Array
    item_bias: Array
    user_prior: GaussianPrior  # over [factors, bias]; sampled, Gibbs only
    item_prior: GaussianPrior
    noise_precision: float

    @classmethod
    def initial(cls, train: RatingMatrix, params: FunkSVDParams,
                rng: np.random.Generator) -> _State:
        k = params.n_factors
        return cls(
            mu=float(train.ratings.mean()),
            user_factors=rng.normal(0.0, params.init_std, (train.n_users, k)),
            user_bias=np.zeros(train.n_users),
            item_factors=rng.normal(0.0, params.init_std, (train.n_items, k)),
            item_bias=np.zeros(train.n_items),
            user_prior=GaussianPrior.standard(k + 1),
            item_prior=GaussianPrior.standard(k + 1),
            noise_precision=1.0 / max(float(train.ratings.var()), 1e-6),
        )

    def copy(self) -> _State:
        return _State(
            self.mu, self.user_factors.copy(), self.user_bias.copy(), self.item_factors.copy(),
            self.item_bias.copy(), self.user_prior, self.item_prior, self.noise_precision,
        )

    def sweep(self, train: RatingMatrix, params: FunkSVDParams, rng: np.random.Generator,
              sampling: bool, averager: _PosteriorAverager, keep: bool) -> float:
        """One ALS sweep: users given items, then items given users.

        Then one pass over the training ratings (``_PosteriorAverager.errors``): the residuals
        for the noise precision, the prediction into the running average when ``keep``. Returns
        the training RMSE of the running average (of the current state while there is none).
        """
        from ml.training.kernels import sorted_targets  # training only

        r = train.ratings
        self.user_factors, self.user_bias = self._half_sweep(
            train.by_user, self.item_factors,
            sorted_targets(r, train.by_user.order, train.by_user.other, self.mu,
                           self.item_bias),
            self.user_prior, params, rng, sampling,
        )
        if sampling:
            self.user_prior = GaussianPrior.sample_posterior(
                np.column_stack([self.user_factors, self.user_bias]), rng)
        self.item_factors, self.item_bias = self._half_sweep(
            train.by_item, self.user_factors,
            sorted_targets(r, train.by_item.order, train.by_item.other, self.mu,
                           self.user_bias),
            self.item_prior, params, rng, sampling,
        )
        residual_sq, reported_sq = averager.errors(self, keep)
        if sampling:
            self.item_prior = GaussianPrior.sample_posterior(
                np.column_stack([self.item_factors, self.item_bias]), rng)
            shape = params.prior_shape + len(r) / 2.0
            rate = params.prior_rate + residual_sq / 2.0
            self.noise_precision = float(rng.gamma(shape, 1.0 / rate))
        return float(np.sqrt(reported_sq / len(r)))

    def _half_sweep(self, segments: Segments, other_factors: Array,
                    target_sorted: npt.NDArray[np.float32], prior: GaussianPrior,
                    params: FunkSVDParams, rng: np.random.Generator,
                    sampling: bool) -> tuple[Array, Array]:
        """Draw (or solve for) every entity of ``segments``; ``target_sorted``: its ratings'
        r − μ − b_other in segment order."""
        n, d = len(segments.indptr) - 1, other_factors.shape[1] + 1
        if sampling:
            # Divide the posterior precision τXᵀX + Λ by τ to keep the ridge form (A = LLᵀ).
            # Adding L z/√τ to the right-hand side makes the one solve return a draw:
            # A⁻¹(b + L z/√τ) = A⁻¹b + L⁻ᵀ z/√τ, whose covariance is A⁻¹/τ.
            scaled = prior.precision / self.noise_precision
            noise = rng.standard_normal((n, d)) / np.sqrt(self.noise_precision)
            solution = solve_ridge_batched(
                segments, other_factors, target_sorted, np.zeros((n, d)), scaled,
                scaled @ prior.mean, noise)
        else:  # MAP with count-scaled ridge (ALS-WR): the warm start, or the ALS method
            counts = np.maximum(segments.counts, 1).astype(np.float64)
            ridge = np.outer(counts * params.reg, np.ones(d))
            solution = solve_ridge_batched(segments, other_factors, target_sorted, ridge)
        return solution[:, :-1], solution[:, -1]

    def map_model(self, reg: float) -> FunkSVD:
        k = self.user_factors.shape[1]
        return FunkSVD(
            global_mean=self.mu,
            user_factors=self.user_factors.astype(np.float32),
            user_bias=self.user_bias.astype(np.float32),
            item_factors=self.item_factors.astype(np.float32),
            item_bias=self.item_bias.astype(np.float32),
            fold_in_reg=np.zeros(k + 1, dtype=np.float32),
            fold_in_reg_per_rating=reg,
        )


class _PosteriorAverager:
    """Running averages of predictions and the kept samples of the factors."""

    def __init__(self, train: RatingMatrix, validation: Validation | None,
                 max_samples: int, rank: int) -> None:
        self.train = train
        self.validation = validation
        self.n_samples = 0
        # Samples side by side in float32, allocated once: at ml-32m size 60 samples of 16
        # factors are 1.1 GB, and a list joined at the end would need that twice.
        self.user_samples = np.empty((train.n_users, rank * max_samples), dtype=np.float32)
        self.item_samples = np.empty((train.n_items, rank * max_samples), dtype=np.float32)
        self.rank = rank
        self.user_bias_sum = np.zeros(train.n_users)
        self.item_bias_sum = np.zeros(train.n_items)
        self.noise_variance_sum = 0.0
        self.train_sum = np.zeros(len(train))
        self.val_sum = None if validation is None else np.zeros(len(validation.ratings))

    def errors(self, state: _State, keep: bool) -> tuple[float, float]:
        """The state's squared residuals on the training ratings, and the squared errors of
        the clipped running average (the current prediction while there is none), in one
        compiled pass (``ml.training.kernels.prediction_errors``); with ``keep`` the
        prediction is first added to the average's running sum (``add`` does the rest)."""
        from ml.training.kernels import prediction_errors  # training only

        train = self.train
        residual_sq, reported_sq = prediction_errors(
            train.users, train.items, train.ratings, state.mu, state.user_bias,
            state.item_bias, state.user_factors, state.item_factors, self.train_sum, keep,
            self.n_samples + int(keep), RATING_MIN, RATING_MAX)
        return float(residual_sq), float(reported_sq)

    def add(self, state: _State) -> None:
        """Keep the state as one more sample (its training predictions: ``errors``)."""
        columns = slice(self.n_samples * self.rank, (self.n_samples + 1) * self.rank)
        self.n_samples += 1
        self.user_samples[:, columns] = state.user_factors
        self.item_samples[:, columns] = state.item_factors
        self.user_bias_sum += state.user_bias
        self.item_bias_sum += state.item_bias
        self.noise_variance_sum += 1.0 / state.noise_precision
        if self.validation is not None and self.val_sum is not None:
            self.val_sum += _predict_validation(state, self.validation)

    def validation_rmse(self, state: _State) -> float | None:
        """Validation RMSE of the running average (or of the current state)."""
        if self.validation is None:
            return None
        if self.n_samples and self.val_sum is not None:
            val_pred = self.val_sum / self.n_samples
        else:
            val_pred = _predict_validation(state, self.validation)
        return rmse(clip_rating(val_pred), self.validation.ratings)

    def model(self, state: _State, rank: int) -> FunkSVD:
        """Posterior-mean model: the average of the sampled p_u·q_i, compressed to ``rank`` by a
        randomized range finder with power iterations (Halko et al. 2011) over the concatenated
        factors, never forming the users × items matrix.
        """
        s = self.n_samples
        kept = slice(0, s * self.rank)
        users = self.user_samples[:, kept]
        items = self.item_samples[:, kept]
        users /= np.float32(np.sqrt(s))
        items /= np.float32(np.sqrt(s))
        user_factors, item_factors = _leading_factors(users, items, rank)
        user_bias = self.user_bias_sum / s
        noise_variance = self.noise_variance_sum / s
        # The prior each shipped dimension implies: its mean and spread across the trained users;
        # the ridge is the noise variance over that spread.
        vectors = np.column_stack([user_factors, user_bias])
        prior_mean = vectors.mean(axis=0)
        fold_in_reg = noise_variance / np.maximum(vectors.var(axis=0), 1e-12)
        return FunkSVD(
            global_mean=state.mu,
            user_factors=user_factors.astype(np.float32),
            user_bias=user_bias.astype(np.float32),
            item_factors=item_factors.astype(np.float32),
            item_bias=(self.item_bias_sum / s).astype(np.float32),
            fold_in_reg=fold_in_reg.astype(np.float32),
            fold_in_mean=prior_mean.astype(np.float32),
        )


def _leading_factors(left: npt.NDArray[np.floating], right: npt.NDArray[np.floating],
                     rank: int, oversample: int = 16, power_iterations: int = 4,
                     seed: int = 0) -> tuple[Array, Array]:
    """U√σ and V√σ of the best rank-``rank`` approximation of M = left @ right.T."""
    rank = min(rank, left.shape[0], right.shape[0], left.shape[1])
    width = min(rank + oversample, left.shape[0], right.shape[0])
    probe = np.random.default_rng(seed).standard_normal((right.shape[0], width)).astype(
        np.result_type(left, right))  # float32 samples stay float32: no 2x copy of them
    basis, _ = np.linalg.qr(left @ (right.T @ probe))
    for _ in range(power_iterations):
        back, _ = np.linalg.qr(right @ (left.T @ basis))
        basis, _ = np.linalg.qr(left @ (right.T @ back))
    small = (basis.T @ left) @ right.T  # width × n_right
    u_small, singular, v_t = np.linalg.svd(small, full_matrices=False)
    kept = min(rank, int(np.sum(singular > singular[0] * 1e-9)))
    root = np.sqrt(singular[:kept])
    return (basis @ u_small[:, :kept]) * root, v_t[:kept].T * root


def _predict_validation(state: _State, validation: Validation) -> Array:
    u, i = validation.users, validation.items
    known_u, known_i = u >= 0, i >= 0
    both = known_u & known_i
    pred = np.full(len(u), state.mu)
    pred[known_u] += state.user_bias[u[known_u]]
    pred[known_i] += state.item_bias[i[known_i]]
    pred[both] += np.einsum("ij,ij->i", state.user_factors[u[both]], state.item_factors[i[both]])
    return pred

