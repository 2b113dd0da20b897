"""Compiled inner loops of training (numba): the per-rating work of both ALS trainers.

Why compiled: every sweep of FunkSVD and iALS visits each rating once per side, and in numpy
that meant either a Python loop over 290k users and films or a gathered copy of the factors
per rating (32M × 18 floats = 2.3 GB at ml-32m size). Here each entity's rows are read in
place from its contiguous segment (``ml.matrix.Segments``), one entity per thread (``prange``;
deterministic, since entities never share an output). Everything that is not per-rating (the
k × k products, the batched solves) stays in numpy/BLAS. Training only: serving never imports
this module, so the API does not need numba.
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
def segment_normal_equations(indptr: Offsets, other: Index, features: Float32,
                             targets: Float32) -> Float32:
    """[X_e, y_e]ᵀ[X_e, y_e] for every entity e: (n, d + 1, d + 1), X_e the ``features`` rows
    of its ratings and y_e their ``targets``; its top-left block is X_eᵀX_e, its last column
    X_eᵀy_e (the rest of the last row is left at zero). float32, like the BLAS products it
    replaces, and full squares: that loop vectorises."""
    n, d = indptr.shape[0] - 1, features.shape[1]
    size = d + 1
    normal = np.zeros((n, size, size), dtype=np.float32)
    for e in nb.prange(n):
        acc = np.zeros((size, size), dtype=np.float32)
        for j in range(indptr[e], indptr[e + 1]):
            row = features[other[j]]
            t = targets[j]
            for a in range(d):
                va = row[a]
                for c in range(d):
                    acc[a, c] += va * row[c]
                acc[a, d] += va * t
        normal[e] = acc
    return normal


@nb.njit(parallel=True, cache=True, fastmath=True)
def pair_dots(users: Index, items: Index, user_factors: Float64,
              item_factors: Float64) -> Float64:
    """p_u · q_i for every (user, item) pair, without gathering the factor rows."""
    out = np.empty(users.shape[0])
    k = user_factors.shape[1]
    for j in nb.prange(users.shape[0]):
        p, q = user_factors[users[j]], item_factors[items[j]]
        s = 0.0
        for a in range(k):
            s += p[a] * q[a]
        out[j] = s
    return out


@nb.njit(parallel=True, cache=True, fastmath=True)
def weighted_sums(indptr: Offsets, other: Index, weights: Float64, fixed: Float64) -> Float64:
    """Σ_j w_j y_j over each entity's ratings j (y_j the ``fixed`` row they point at)."""
    n, k = indptr.shape[0] - 1, fixed.shape[1]
    out = np.zeros((n, k))
    for e in nb.prange(n):
        acc = np.zeros(k)
        for j in range(indptr[e], indptr[e + 1]):
            y, w = fixed[other[j]], weights[j]
            for a in range(k):
                acc[a] += w * y[a]
        out[e] = acc
    return out


@nb.njit(parallel=True, cache=True, fastmath=True)
def weighted_gram_products(indptr: Offsets, other: Index, weights: Float64, fixed: Float64,
                           vectors: Float64) -> Float64:
    """(Σ_j w_j y_j y_jᵀ) v_e for every entity e, in O(n_e·k) without forming the k × k sum:
    the data part of an iALS system times a vector, one conjugate-gradient step's cost."""
    n, k = indptr.shape[0] - 1, fixed.shape[1]
    out = np.zeros((n, k))
    for e in nb.prange(n):
        v = vectors[e]
        acc = np.zeros(k)
        for j in range(indptr[e], indptr[e + 1]):
            y = fixed[other[j]]
            dot = 0.0
            for a in range(k):
                dot += y[a] * v[a]
            dot *= weights[j]
            for a in range(k):
                acc[a] += dot * y[a]
        out[e] = acc
    return out
