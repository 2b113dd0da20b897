"""The item-item term of the ranking score: rating-weighted EASE, sparse, on the head films.

EASE (Steck 2019) on the rating-weighted matrix (X holds the stars, not 0/1) sees pairs of
films that a low-rank model smooths away; its dense B is items × items (30 GB at ml-32m), so:

1. the head: the ``max_items`` most rated films;
2. G = XᵀX + λI over the head (accumulated in float64, inverted in float32), λ growing with
   the number of users;
3. B = −P / diag(P), P = G⁻¹, diag(B) = 0, then each film's column pruned to its
   ``neighbours`` largest |weights| (and ``max_weights`` / head films at most), stored as CSR
   by rated film with 16-bit head positions and float16 weights.

A user's scores are Σ_i r_i B[i, :] over the head films they rated, with no per-user state.
Rows are stored strongest weight first, so a long history reads only the first
``WEIGHTS_PER_REQUEST`` / n weights of each of its n rows, and the gather runs ``GATHER_CHUNK``
weights at a time (bitwise the same sums as one ``bincount``) so a request allocates no large
temporaries. docs/ranking.md has the measurements.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.models.matrix import RatingMatrix

log = logging.getLogger(__name__)

#: Rows of B pruned at a time (bounds the temporaries of the top-k selection).
PRUNE_BLOCK = 512
#: Weights one user's scores read at most (module docstring).
WEIGHTS_PER_REQUEST = 200_000
#: Head films addressable by 16-bit positions; a larger head stores int32 positions.
UINT16_HEAD = 2**16
#: Weights one step of a user's scores gathers (module docstring): each step's temporaries
#: stay near 0.5 MB, which the allocator keeps between steps and between requests.
GATHER_CHUNK = 32_768


@dataclass(frozen=True)
class SparseEaseParams:
    """Hyper-parameters of the item-item term, saved into ``manifest.json``.

    ``l2_per_user`` × the number of users is EASE's λ (chosen on validation carved from ml-100k's
    training part). ``max_items`` bounds the dense inverse (8,000 films: 0.5 GB); a head of n
    films keeps min(``neighbours``, ``max_weights`` / n) sources per film, which keeps the shipped
    ``factors.npz`` under 20 MB and a request's work bounded at any catalogue size.
    """

    l2_per_user: float = 3.0
    max_items: int = 8000
    neighbours: int = 1000
    max_weights: int = 4_000_000

    def __post_init__(self) -> None:
        if (self.l2_per_user <= 0 or self.max_items < 1 or self.neighbours < 1
                or self.max_weights < 1):
            raise ValueError("l2_per_user, max_items, neighbours and max_weights must be "
                             "positive")

    def sources_per_film(self, n_head: int) -> int:
        """How many sources each of ``n_head`` head films keeps (at least one)."""
        return max(min(self.neighbours, self.max_weights // max(n_head, 1), n_head - 1), 1)


@dataclass(frozen=True)
class SparseEase:
    """Pruned EASE weights as CSR: row i holds the films whose score r_i·B[i, j] moves.

    The films a row reaches are ``head`` positions (``targets``: 16-bit while the head has at
    most 65,536 films), each row strongest |weight| first, ties by position; weights are
    float16 (a model written before kept float32 weights and is served as it was).
    """

    indptr: npt.NDArray[np.int64]  # (n_items + 1,)
    head: npt.NDArray[np.int64]  # (n_head,) catalogue index of each head position
    targets: npt.NDArray[np.integer]  # head positions, uint16 (or int32 past 65,536)
    weights: npt.NDArray[np.floating]  # float16; each row by |weight|, descending
    #: ``weights`` as float32, what a request multiplies (float16 × float32 is float32 anyway).
    served_weights: npt.NDArray[np.float32] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "served_weights", np.asarray(self.weights, dtype=np.float32))

    @property
    def n_items(self) -> int:
        return len(self.indptr) - 1

    @property
    def indices(self) -> npt.NDArray[np.int64]:
        """The catalogue index of every weight's target film."""
        return self.head[self.targets]

    def scores(self, item_indices: npt.ArrayLike,
               ratings: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Σ_i r_i B[i, :] over the rated films (0 for films no rated film reaches), each
        row cut to its share of ``WEIGHTS_PER_REQUEST``."""
        head_scores = self.head_scores(item_indices, ratings)
        out = np.zeros(self.n_items, dtype=np.float32)
        if head_scores is not None:
            out[self.head] = head_scores
        return out

    def head_scores(self, item_indices: npt.ArrayLike,
                    ratings: npt.ArrayLike) -> npt.NDArray[np.float32] | None:
        """``scores`` at the head films only (every other film scores 0), None when no rated
        film has a row: what the ranking score needs, without a catalogue-sized array."""
        items = np.asarray(item_indices, dtype=np.int64)
        starts = self.indptr[items]
        lengths = self.indptr[items + 1] - starts
        if int(lengths.sum()) > WEIGHTS_PER_REQUEST:
            share = max(WEIGHTS_PER_REQUEST // max(int(np.count_nonzero(lengths)), 1), 1)
            lengths = np.minimum(lengths, share)
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        if total == 0:
            return None
        values = np.asarray(ratings, dtype=np.float32)
        # Σ in float64, each product added in row order: what one bincount of every product
        # adds (``np.add.at`` is as fast as bincount on intp positions and float64 values).
        out = np.zeros(len(self.head))
        # The rated films in runs of whole rows of about GATHER_CHUNK weights each.
        cuts = np.searchsorted(ends, np.arange(GATHER_CHUNK, total, GATHER_CHUNK), side="left")
        bounds = np.unique(np.concatenate([[0], cuts + 1, [len(ends)]])).tolist()
        for first, stop in itertools.pairwise(bounds):
            step = lengths[first:stop]
            before = int(ends[first - 1]) if first else 0
            # Positions of these rows' kept weights, concatenated: one gather per run.
            positions = np.repeat(starts[first:stop] - (ends[first:stop] - step - before), step)
            positions += np.arange(int(ends[stop - 1]) - before)
            products = self.served_weights[positions] * np.repeat(values[first:stop], step)
            np.add.at(out, self.targets[positions].astype(np.intp),
                      products.astype(np.float64))
        return out.astype(np.float32)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The saved layout: each row's targets in position order, as gaps from the previous
        one (small numbers, which compress to a third of the positions' size), and the
        weights in that order; ``from_arrays`` restores the strongest-first order."""
        rows = np.repeat(np.arange(self.n_items), np.diff(self.indptr))
        order = np.lexsort((self.targets, rows))
        targets = self.targets[order].astype(np.int64)
        gaps = np.diff(targets, prepend=0)
        firsts = self.indptr[:-1][np.diff(self.indptr) > 0]
        gaps[firsts] = targets[firsts]
        return {"indptr": self.indptr, "head": self.head.astype(np.int32),
                "target_gaps": gaps.astype(_position_dtype(len(self.head))),
                "sorted_weights": self.weights[order]}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> SparseEase:
        """From ``arrays``' layout, or from a model's written before it (``indices``: the
        targets' catalogue indices, float32 weights, already strongest first)."""
        indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        if "head" not in arrays:
            indices = np.asarray(arrays["indices"], dtype=np.int64)
            head = np.unique(indices)
            return cls(indptr, head, np.searchsorted(head, indices).astype(
                _position_dtype(len(head))), np.asarray(arrays["weights"], dtype=np.float32))
        head = np.asarray(arrays["head"], dtype=np.int64)
        gaps = np.asarray(arrays["target_gaps"]).astype(np.int64)
        lengths = np.diff(indptr)
        running = np.cumsum(gaps)
        targets = running - np.repeat(np.concatenate([[0], running])[indptr[:-1]], lengths)
        if len(targets) and (targets.min() < 0 or targets.max() >= len(head)):
            raise ValueError("item-item targets outside the head")
        return _strongest_first(indptr, head, targets, np.asarray(arrays["sorted_weights"]))


def _position_dtype(n_head: int) -> type[np.integer[Any]]:
    return np.uint16 if n_head <= UINT16_HEAD else np.int32


def _strongest_first(indptr: npt.NDArray[np.int64], head: npt.NDArray[np.int64],
                     targets: npt.NDArray[np.integer[Any]],
                     weights: npt.NDArray[np.floating]) -> SparseEase:
    """The CSR with each row ordered by |weight| descending, then by target position."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((targets, -np.abs(weights.astype(np.float32)), rows))
    return SparseEase(indptr, head, targets[order].astype(_position_dtype(len(head))),
                      weights[order])


def fit_sparse_ease(matrix: RatingMatrix, params: SparseEaseParams,
                    weight_dtype: type[np.floating[Any]] = np.float16) -> SparseEase:
    """The pruned rating-weighted EASE of ``matrix`` (module docstring); ``weight_dtype``
    float32 only to measure what float16 costs (``bench/ranking.py``)."""
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
    return from_gram(gram, head, matrix.n_items, matrix.n_users, params, started,
                     weight_dtype)


def head_films(counts: npt.ArrayLike, params: SparseEaseParams) -> npt.NDArray[np.int64]:
    """The ``max_items`` most rated films (catalogue indices), most rated first, ties by index;
    ``counts``: each film's number of ratings."""
    counts = np.asarray(counts)
    n_head = min(params.max_items, int(np.count_nonzero(counts)))
    return np.argsort(-counts, kind="stable")[:n_head].astype(np.int64)


def from_gram(gram: npt.NDArray[np.float64], head: npt.NDArray[np.int64], n_items: int,
              n_users: int, params: SparseEaseParams, started: float | None = None,
              weight_dtype: type[np.floating[Any]] = np.float16) -> SparseEase:
    """The term (``fit_sparse_ease``'s result) from XᵀX over the ``head`` films (float64,
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
    sources, values = _prune_rows(precision.T, params.sources_per_film(n_head))
    del precision
    targets = np.repeat(np.arange(n_head), sources.shape[1])
    sources, weights = head[sources.ravel()], values.ravel().astype(weight_dtype)
    # CSR by source film in catalogue order, each row strongest weight first.
    lengths = np.bincount(sources, minlength=n_items)
    by_source = np.argsort(sources, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    model = _strongest_first(indptr, head.astype(np.int64), targets[by_source],
                             weights[by_source])
    log.info("item-item term: %d head films, %d weights, %.1f s", n_head, len(model.weights),
             time.perf_counter() - started)
    return model


def spd_inverse(gram: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """G⁻¹ of a symmetric positive definite G, as L⁻ᵀL⁻¹ from its Cholesky factor L: every
    step but the Cholesky is a matrix product (2-4x faster than ``np.linalg.inv``'s LU here).
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
