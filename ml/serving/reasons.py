"""Why a film is on someone's list, said only when it holds.

A pick's reason names a film the person rated ("Because you loved Alien (1979)") only when
they rated it ``POSITIVE_RATING`` or more *and* it is among the pick's ``neighbour_count``
nearest in the rating model's item space. Otherwise it is the pick's genre the person loved
most often, if they loved at least ``GENRE_EVIDENCE`` films of it; failing that, the generic
"Picked for your taste".
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from ml.blas import single_threaded_blas
from ml.rules import POSITIVE_RATING
from ml.serving.likeness import FORMAT_GENRES

#: A film's nearest neighbours are this share of the catalogue...
NEIGHBOUR_SHARE = 0.01
#: ...but never fewer than this (tiny catalogues) nor more than the cap (large ones).
MIN_NEIGHBOURS = 10
MAX_NEIGHBOURS = 100
#: Loved films of a genre needed before "Like the <genre> films you loved" is said.
GENRE_EVIDENCE = 2
GENERIC = "Picked for your taste"
#: Films whose cosines ``neighbour_edges`` computes at a time (512 × 87k: 180 MB).
EDGE_BLOCK = 512
#: Float32 rounding of a cosine between two ways of computing it.
EDGE_TOLERANCE = 1e-6

IntArray = npt.NDArray[np.int64]


def neighbour_count(n_films: int) -> int:
    """How many nearest films count as a film's neighbours in a catalogue of ``n_films``."""
    wanted = min(MAX_NEIGHBOURS, max(MIN_NEIGHBOURS, math.ceil(NEIGHBOUR_SHARE * n_films)))
    return max(1, min(wanted, n_films - 1))


class Neighbourhoods:
    """Whether a film is among another's ``k`` nearest by cosine of unit item factors.

    Each film's edge (its k-th largest cosine) is computed from one row of cosines the first time
    the film is asked about, then kept (a float per film).
    """

    def __init__(self, unit_factors: npt.NDArray[np.floating], k: int,
                 edges: npt.NDArray[np.floating] | None = None) -> None:
        """``edges``: every film's edge, computed beforehand (``neighbour_edges``)."""
        self.unit_factors = unit_factors
        self.k = k
        self._edge = (np.full(len(unit_factors), np.nan, dtype=np.float32) if edges is None
                      else np.array(edges, dtype=np.float32))

    def edges(self, films: IntArray) -> npt.NDArray[np.float32]:
        """The cosine of each film's k-th nearest other film."""
        missing = np.unique(films[np.isnan(self._edge[films])])
        if len(missing):
            self._edge[missing] = _kth_cosine(self.unit_factors, missing, self.k)
        return self._edge[films]

    def closest_near(self, films: IntArray, candidates: IntArray) -> IntArray:
        """For each film, the position in ``candidates`` of the candidate closest to it when
        that candidate is among the film's k nearest films, else -1 (then none is: the
        others are farther still)."""
        if len(candidates) == 0:
            return np.full(len(films), -1, dtype=np.int64)
        cosines = self.unit_factors[films] @ self.unit_factors[candidates].T
        closest = np.argmax(cosines, axis=1)
        reach = cosines[np.arange(len(films)), closest]
        # The same cosine computed in another batch (``neighbour_edges``) may differ in its
        # last bits: the k-th neighbour itself must still count.
        return np.where(reach >= self.edges(films) - EDGE_TOLERANCE, closest,
                        -1).astype(np.int64)


def neighbour_edges(unit_factors: npt.NDArray[np.floating], k: int,
                    threads: int | None = None) -> npt.NDArray[np.float32]:
    """Every film's ``Neighbourhoods.edges`` at once, ``EDGE_BLOCK`` films at a time, the
    blocks shared among ``threads`` (default: one per core; numpy's partition releases the GIL).
    """
    n = len(unit_factors)
    edges = np.empty(n, dtype=np.float32)

    def block(first: int) -> None:
        films = np.arange(first, min(first + EDGE_BLOCK, n))
        edges[films] = _kth_cosine(unit_factors, films, k)

    workers = max(1, threads or os.cpu_count() or 1)
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        list(pool.map(block, range(0, n, EDGE_BLOCK)))
    return edges


def _kth_cosine(unit_factors: npt.NDArray[np.floating], films: IntArray,
                k: int) -> npt.NDArray[np.floating]:
    """The cosine of each of ``films``' k-th nearest other film."""
    cosines = unit_factors[films] @ unit_factors.T
    cosines[np.arange(len(films)), films] = -np.inf  # not its own neighbour
    return np.partition(cosines, -k, axis=1)[:, -k]


def personal_reasons(picks: IntArray, rated: IntArray, ratings: npt.NDArray[np.floating],
                     neighbourhoods: Neighbourhoods, labels: Sequence[str],
                     film_genres: Sequence[Sequence[str]],
                     genre_masks: Mapping[str, npt.NDArray[np.bool_]]) -> list[str]:
    """One reason per pick (module docstring); ``labels`` and ``film_genres`` are indexed by
    dense film index, ``genre_masks`` tell each genre's films (every genre of
    ``film_genres``), ``rated``/``ratings`` are the person's films and ratings."""
    if len(picks) == 0:
        return []
    loved = rated[np.asarray(ratings) >= POSITIVE_RATING]
    if len(loved) == 0:
        return [GENERIC] * len(picks)
    closest = neighbourhoods.closest_near(picks, loved)
    # Loved films per genre, counted only for the genres of picks that need them, from the
    # genre's mask: a long history loves hundreds of films (a Python loop over them cost
    # 0.3 ms for 700 loved films).
    loved_genres: dict[str, int] = {}

    def loved_of(genre: str) -> int:
        if genre not in loved_genres:
            loved_genres[genre] = int(np.count_nonzero(genre_masks[genre][loved]))
        return loved_genres[genre]

    reasons = []
    for pick, near in zip(picks.tolist(), closest.tolist(), strict=True):
        if near >= 0:
            reasons.append(f"Because you loved {labels[loved[near]]}")
            continue
        shared = [(count, g) for g in film_genres[pick]
                  if g not in FORMAT_GENRES and (count := loved_of(g)) > 0]
        count, genre = max(shared, default=(0, ""))
        reasons.append(f"Like the {genre} films you loved" if count >= GENRE_EVIDENCE
                       else GENERIC)
    return reasons
