"""Compiled inner loops of training (numba): the per-rating work of both ALS trainers.

Each entity's ratings are read in place from its segment (``ml.models.matrix.Segments``), one
entity per thread (``prange``; deterministic, entities never share an output), with its small
dense work (Cholesky solve, CG steps) in the same pass: no gathered copies per rating, no
(entities, k) temporaries. Training only: the API does not need numba.
"""

from __future__ import annotations

import os

# numba's own thread pool, not OpenMP's: on 2 shared cores libgomp's spinning threads made a
# FunkSVD sweep 2x and an iALS fit 3x slower than one thread (ml-100k, load 15); the
# workqueue pool was fastest there. An operator's explicit setting wins.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba as nb
import numpy as np
import numpy.typing as npt

Float64 = npt.NDArray[np.float64]
Float32 = npt.NDArray[np.float32]
Index = npt.NDArray[np.int32]
Offsets = npt.NDArray[np.int64]


@nb.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def segment_ridge_solve(indptr: Offsets, other: Index, factors: Float32, targets: Float32,
                        ridge: Float64, prior_precision: Float64, prior_shift: Float64,
                        noise: Float64, sample: bool) -> Float64:
    """Solve (X_eᵀX_e + diag(ridge_e) + Λ) w_e = X_eᵀy_e + s (+ L_e z_e) for every entity e.

    X_e = [F_e, 1] (the bias column summed apart), y_e the ``targets``, Λ ``prior_precision`` and s
    ``prior_shift``; with ``sample``, L_e z_e is added (L_e the Cholesky factor, z_e the ``noise``
    row), so the solution is a posterior draw. Sums in float32, the system in float64.
    """
    n, k = indptr.shape[0] - 1, factors.shape[1]
    d = k + 1
    out = np.empty((n, d))
    for e in nb.prange(n):
        gram = np.zeros((k, k), dtype=np.float32)
        row_sum = np.zeros(k, dtype=np.float32)
        target_sum = np.zeros(k, dtype=np.float32)
        total = np.float32(0.0)
        for j in range(indptr[e], indptr[e + 1]):
            row = factors[other[j]]
            t = targets[j]
            for a in range(k):
                va = row[a]
                for c in range(k):
                    gram[a, c] += va * row[c]
            for a in range(k):
                row_sum[a] += row[a]
                target_sum[a] += t * row[a]
            total += t
        count = float(indptr[e + 1] - indptr[e])
        acc = np.empty((d, d + 1))
        for a in range(k):
            for c in range(k):
                acc[a, c] = gram[a, c]
            acc[a, k] = row_sum[a]
            acc[k, a] = row_sum[a]
            acc[a, d] = target_sum[a]
        acc[k, k] = count
        acc[k, d] = total
        system = np.empty((d, d))
        rhs = np.empty(d)
        for a in range(d):
            for c in range(d):
                system[a, c] = acc[a, c] + prior_precision[a, c]
            system[a, a] += ridge[e, a]
            rhs[a] = acc[a, d] + prior_shift[a]
        for c in range(d):  # Cholesky, lower triangle in place: system = L Lᵀ
            pivot = system[c, c]
            for m in range(c):
                pivot -= system[c, m] * system[c, m]
            pivot = np.sqrt(max(pivot, 1e-300))
            system[c, c] = pivot
            for a in range(c + 1, d):
                value = system[a, c]
                for m in range(c):
                    value -= system[a, m] * system[c, m]
                system[a, c] = value / pivot
        if sample:
            for a in range(d):
                value = 0.0
                for c in range(a + 1):
                    value += system[a, c] * noise[e, c]
                rhs[a] += value
        for a in range(d):  # L y = rhs
            value = rhs[a]
            for c in range(a):
                value -= system[a, c] * rhs[c]
            rhs[a] = value / system[a, a]
        for a in range(d - 1, -1, -1):  # Lᵀ w = y
            value = rhs[a]
            for c in range(a + 1, d):
                value -= system[c, a] * rhs[c]
            rhs[a] = value / system[a, a]
        out[e] = rhs
    return out


@nb.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def conjugate_gradient_rows(indptr: Offsets, other: Index, weighted_targets: Float64,
                            weights: Float64, fixed: Float32, base: Float64, ridge: Float64,
                            solved: Float64, steps: int) -> None:
    """``steps`` conjugate-gradient steps on every row's iALS system, warm-started from and
    written back into ``solved``: (base + ridge_e I + Σ_j w_j y_j y_jᵀ) x = Σ_j w_j p_j y_j
    (``weighted_targets``: w_j p_j). A row without ratings is set to zero; ``fixed`` rows are
    read in float32 and summed in float64.
    """
    n, k = solved.shape
    for e in nb.prange(n):
        start, stop = indptr[e], indptr[e + 1]
        if start == stop:
            solved[e] = 0.0
            continue
        x = solved[e].copy()
        lam = ridge[e]
        residual = np.empty(k)
        for a in range(k):  # r = b − A x: the dense part first
            value = lam * x[a]
            for c in range(k):
                value += base[a, c] * x[c]
            residual[a] = -value
        for j in range(start, stop):
            y = fixed[other[j]]
            dot = 0.0
            for a in range(k):
                dot += y[a] * x[a]
            scale = weighted_targets[j] - weights[j] * dot
            for a in range(k):
                residual[a] += scale * y[a]
        direction = residual.copy()
        norm = 0.0
        for a in range(k):
            norm += residual[a] * residual[a]
        applied = np.empty(k)
        for _ in range(steps):
            if norm <= 0.0:
                break
            for a in range(k):
                value = lam * direction[a]
                for c in range(k):
                    value += base[a, c] * direction[c]
                applied[a] = value
            for j in range(start, stop):
                y = fixed[other[j]]
                dot = 0.0
                for a in range(k):
                    dot += y[a] * direction[a]
                dot *= weights[j]
                for a in range(k):
                    applied[a] += dot * y[a]
            curvature = 0.0
            for a in range(k):
                curvature += direction[a] * applied[a]
            if curvature <= 0.0:
                break
            step = norm / curvature
            new_norm = 0.0
            for a in range(k):
                x[a] += step * direction[a]
                residual[a] -= step * applied[a]
                new_norm += residual[a] * residual[a]
            ratio = new_norm / norm
            for a in range(k):
                direction[a] = residual[a] + ratio * direction[a]
            norm = new_norm
        solved[e] = x


@nb.njit(cache=True)
def _head_rows(indptr: Offsets, other: Index, values: Float32,
               head_of: Index) -> tuple[Offsets, Index, Float32]:
    """Each user's head items (as head indices, ascending) and their values, as CSR."""
    n_users = len(indptr) - 1
    counts = np.zeros(n_users + 1, dtype=np.int64)
    for u in range(n_users):
        for p in range(indptr[u], indptr[u + 1]):
            if head_of[other[p]] >= 0:
                counts[u + 1] += 1
    starts = np.cumsum(counts)
    heads = np.empty(starts[-1], dtype=np.int32)
    kept = np.empty(starts[-1], dtype=np.float32)
    for u in range(n_users):
        n = starts[u]
        for p in range(indptr[u], indptr[u + 1]):
            h = head_of[other[p]]
            if h >= 0:
                heads[n] = h
                kept[n] = values[p]
                n += 1
        order = np.argsort(heads[starts[u]:n])
        heads[starts[u]:n] = heads[starts[u]:n][order]
        kept[starts[u]:n] = kept[starts[u]:n][order]
    return starts, heads, kept


@nb.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def head_gram(indptr: Offsets, other: Index, values: Float32, head_of: Index, n_head: int,
              n_stripes: int) -> Float64:
    """XᵀX over the head items: G[a, b] = Σ_u x_ua x_ub for the users' rows of ``values``.

    ``head_of`` maps an item to its head index (-1 outside). The upper triangle is summed and
    mirrored; row a belongs to thread a mod ``n_stripes``, so the sum is deterministic.
    """
    starts, heads, kept = _head_rows(indptr, other, values, head_of)
    gram = np.zeros((n_head, n_head))
    n_users = len(starts) - 1
    for stripe in nb.prange(n_stripes):
        for u in range(n_users):
            for a in range(starts[u], starts[u + 1]):
                row = heads[a]
                if row % n_stripes != stripe:
                    continue
                va = kept[a]
                for b in range(a, starts[u + 1]):
                    gram[row, heads[b]] += va * kept[b]
    for a in range(n_head):
        for b in range(a + 1, n_head):
            gram[b, a] = gram[a, b]
    return gram


@nb.njit(parallel=True, cache=True, error_model="numpy")
def sorted_targets(ratings: Float64, order: Index, other: Index, mu: float,
                   other_bias: Float64) -> Float32:
    """r − μ − b_other for each rating, in ``order`` (an entity's segment order, ``other``
    the other side's index at each sorted position), as float32: the right-hand sides of a
    half-sweep in one parallel pass instead of four numpy passes and a gathered copy on one
    core. The same float64 operations in the same order as the numpy expression."""
    out = np.empty(order.shape[0], dtype=np.float32)
    for j in nb.prange(order.shape[0]):
        out[j] = np.float32((ratings[order[j]] - mu) - other_bias[other[j]])
    return out


@nb.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def prediction_errors(users: Index, items: Index, ratings: Float64, mu: float,
                      user_bias: Float64, item_bias: Float64, user_factors: Float64,
                      item_factors: Float64, running_sum: Float64, accumulate: bool,
                      n_samples: int, low: float, high: float) -> tuple[float, float]:
    """One pass over the training ratings after a sweep: the squared residuals of the current
    prediction μ + b_u + b_i + p_u·q_i (for the noise precision), the prediction added to
    ``running_sum`` when ``accumulate``, and the squared errors the training RMSE reports (the
    running average over ``n_samples`` samples, else the current prediction, clipped to
    [``low``, ``high``])."""
    k = user_factors.shape[1]
    residual_sq = 0.0
    reported_sq = 0.0
    for j in nb.prange(users.shape[0]):
        p, q = user_factors[users[j]], item_factors[items[j]]
        dot = 0.0
        for a in range(k):
            dot += p[a] * q[a]
        predicted = mu + user_bias[users[j]] + item_bias[items[j]] + dot
        residual = ratings[j] - predicted
        residual_sq += residual * residual
        if accumulate:
            running_sum[j] += predicted
        shown = running_sum[j] / n_samples if n_samples > 0 else predicted
        shown = min(max(shown, low), high)
        error = shown - ratings[j]
        reported_sq += error * error
    return residual_sq, reported_sq
