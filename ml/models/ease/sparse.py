"""EASE's sparse form, the item-item term of the ranking score: rating-weighted, head films.

Why: EASE (Steck 2019) on the rating-weighted matrix (X holds the stars, not 0/1) was the
strongest tuned peer on ml-1m, ml-latest-small and ml-100k, ahead of the factor models alone;
its item-item weights see pairs of films that a low-rank model smooths away. Summed with the
iALS, FunkSVD and popularity terms (``ml.serving.ranking``) it lifts the served list above every
peer (``bench/ranking.py``). Why sparse: EASE's B is dense items × items (30 GB at ml-32m's
87k films). Here:

1. the head: the ``max_items`` most rated films (every film of the MovieLens copies; the
   films that matter at ml-32m size, where the tail beyond the first few thousand is rarely
   anyone's positive);
2. G = XᵀX + λI over the head (accumulated in float64, inverted in float32), X the
   rating-weighted user × film matrix, with λ growing with the number of users (G does too,
   so the ridge keeps its relative strength);
3. B = −P / diag(P), P = G⁻¹, diag(B) = 0 (EASE's closed form), then each film's column
   pruned to its ``neighbours`` largest |weights|: the rated films that move its score most (a
   top-k neighbour list, as SANSA and item-kNN keep). On ml-latest-small's validation split
   (9,000 films) keeping 1,000 per column lost 0.5% NDCG@10 of the full B (500: 2.3%; 1,000
   per row instead: 4.6%).
   Stored as CSR by rated film (row i: the films j whose score r_i·B[i, j] moves), on the
   catalogue's indices.

A user's scores are Σ_i r_i B[i, :] over the head films they rated: a gather of their rows
and one ``bincount``, with no per-user state to learn (fold-in is exact and free). Rows are
stored strongest weight first, so a long history reads only the first
``WEIGHTS_PER_REQUEST`` / n weights of each of its n rows: the work of a request stays
bounded (a 2,000-film history would otherwise read two million weights, ~10 ms), and each
film of a long history still brings its strongest neighbours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.models.matrix import RatingMatrix

log = logging.getLogger(__name__)

#: Rows of B pruned at a time (bounds the temporaries of the top-k selection).
PRUNE_BLOCK = 512
#: Weights one user's scores read at most (module docstring).
WEIGHTS_PER_REQUEST = 200_000


@dataclass(frozen=True)
class SparseEaseParams:
    """Hyper-parameters of the item-item term, saved into ``manifest.json``.

    ``l2_per_user`` × the number of users is EASE's λ; chosen on validation carved from the
    training part of ml-100k (1.5, 3 and 6 per user: 3 was best), and in line with the tuned
    rating-weighted EASE peers, whose λ also grew with the users (8000 / 2000 / 4000 for
    2,999 / 610 / 943 users). ``max_items`` bounds the dense inverse (8,000 films: 0.5 GB,
    under a minute on two cores); ``neighbours`` bounds the served weights per film.
    """

    l2_per_user: float = 3.0
    max_items: int = 8000
    neighbours: int = 1000

    def __post_init__(self) -> None:
        if self.l2_per_user <= 0 or self.max_items < 1 or self.neighbours < 1:
            raise ValueError("l2_per_user, max_items and neighbours must be positive")


CSR = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]


def sparse_scores(indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int32],
                  weights: npt.NDArray[np.float32], item_indices: npt.ArrayLike,
                  ratings: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Σ_i r_i B[i, :] over the rated films (0 for films no rated film reaches), each
    row cut to its share of ``WEIGHTS_PER_REQUEST``; B is the CSR ``indptr``, ``indices``,
    ``weights`` (row i: the films whose score r_i·B[i, j] moves, by |weight|, descending)."""
    n_items = len(indptr) - 1
    items = np.asarray(item_indices, dtype=np.int64)
    starts = indptr[items]
    lengths = indptr[items + 1] - starts
    if int(lengths.sum()) > WEIGHTS_PER_REQUEST:
        share = max(WEIGHTS_PER_REQUEST // max(int(np.count_nonzero(lengths)), 1), 1)
        lengths = np.minimum(lengths, share)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n_items)
    # Positions of every rated film's row, concatenated: one gather, no Python loop.
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    positions = offsets + np.arange(total)
    scaled = weights[positions] * np.repeat(np.asarray(ratings, dtype=np.float32), lengths)
    return np.bincount(indices[positions], weights=scaled,
                       minlength=n_items).astype(np.float64, copy=False)


def fit_sparse_ease(matrix: RatingMatrix, params: SparseEaseParams) -> CSR:
    """The pruned rating-weighted EASE of ``matrix`` (module docstring), as CSR arrays:
    ``indptr``, ``indices``, ``weights`` (``EASE.fit`` with ``SparseEaseParams``)."""
    import numba

    from ml.training.kernels import head_gram  # training only: serving needs no numba

    started = time.perf_counter()
    head = head_films(matrix.by_item.counts, params)
    n_head = len(head)
    head_of = np.full(matrix.n_items, -1, dtype=np.int32)
    head_of[head] = np.arange(n_head, dtype=np.int32)
    by_user = matrix.by_user
    gram = head_gram(by_user.indptr, by_user.other,
                     matrix.ratings[by_user.order].astype(np.float32), head_of, n_head,
                     numba.get_num_threads())
    return from_gram(gram, head, matrix.n_items, matrix.n_users, params, started)


def head_films(counts: npt.ArrayLike, params: SparseEaseParams) -> npt.NDArray[np.int64]:
    """The ``max_items`` most rated films (catalogue indices), most rated first, ties by index;
    ``counts``: each film's number of ratings."""
    counts = np.asarray(counts)
    n_head = min(params.max_items, int(np.count_nonzero(counts)))
    return np.argsort(-counts, kind="stable")[:n_head].astype(np.int64)


def from_gram(gram: npt.NDArray[np.float64], head: npt.NDArray[np.int64], n_items: int,
              n_users: int, params: SparseEaseParams, started: float | None = None) -> CSR:
    """The term (``fit_sparse_ease``'s CSR arrays) from XᵀX over the ``head`` films (float64,
    rows and columns in ``head``'s order; the ridge is added in place) of ``n_users`` users
    and a catalogue of ``n_items`` films: the solve and the pruning, wherever XᵀX was summed."""
    started = time.perf_counter() if started is None else started
    n_head = len(head)
    gram[np.diag_indices(n_head)] += params.l2_per_user * n_users
    # Inverted in float32: half the memory and time of float64 (8,000 films: 0.25 GB), and
    # the ridge keeps the system well conditioned (its smallest eigenvalue is at least λ).
    # One BLAS thread: on two shared cores it was 3x faster than two (3,000 films: 8.7 s
    # against 29 s), as for the small solves of ``ml.blas``.
    with single_threaded_blas():
        precision = spd_inverse(gram.astype(np.float32))
    del gram
    precision /= -np.diag(precision)  # B = −P / diag(P), column by column
    precision[np.diag_indices(n_head)] = 0.0
    # Column j of B, pruned, is row j of Bᵀ: each film's strongest sources.
    sources, values = _prune_rows(precision.T, min(params.neighbours, max(n_head - 1, 1)))
    del precision
    targets = np.repeat(np.arange(n_head), sources.shape[1])
    sources, weights = head[sources.ravel()], values.ravel()
    # CSR by source film in catalogue order, each row strongest weight first.
    order = np.lexsort((-np.abs(weights), sources))
    lengths = np.bincount(sources, minlength=n_items)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    csr = (indptr, head[targets[order]].astype(np.int32), weights[order].astype(np.float32))
    log.info("item-item term: %d head films, %d weights, %.1f s", n_head, len(csr[2]),
             time.perf_counter() - started)
    return csr


def spd_inverse(gram: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """G⁻¹ of a symmetric positive definite G, as L⁻ᵀL⁻¹ from its Cholesky factor L.

    Every step but the Cholesky is a matrix product (L⁻¹ by blocks, below): 2-4x faster here
    than ``np.linalg.inv``'s LU on 3,000-film matrices, on one thread or two.
    """
    inverse = _lower_inverse(np.linalg.cholesky(gram))
    return inverse.T @ inverse


def _lower_inverse(lower: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """L⁻¹ of a lower-triangular L: [[A, 0], [C, D]]⁻¹ = [[A⁻¹, 0], [−D⁻¹CA⁻¹, D⁻¹]]."""
    n = lower.shape[0]
    if n <= 256:
        return np.linalg.inv(lower)
    half = n // 2
    first, second = _lower_inverse(lower[:half, :half]), _lower_inverse(lower[half:, half:])
    out = np.zeros_like(lower)
    out[:half, :half] = first
    out[half:, half:] = second
    out[half:, :half] = -(second @ (lower[half:, :half] @ first))
    return out


def _prune_rows(weights: npt.NDArray[np.floating],
                k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``k`` largest |weights|, strongest first: columns and values, (n, k) each."""
    n = weights.shape[0]
    k = min(k, n)
    columns = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, k), dtype=np.float32)
    for first in range(0, n, PRUNE_BLOCK):
        block = weights[first:first + PRUNE_BLOCK]
        magnitude = np.abs(block)
        keep = (np.argpartition(-magnitude, k - 1, axis=1)[:, :k] if k < n
                else np.broadcast_to(np.arange(n), block.shape))
        keep = np.take_along_axis(keep, np.argsort(
            -np.take_along_axis(magnitude, keep, axis=1), axis=1, kind="stable"), axis=1)
        columns[first:first + len(block)] = keep
        values[first:first + len(block)] = np.take_along_axis(block, keep, axis=1)
    return columns, values
