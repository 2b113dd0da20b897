"""At most two films of one franchise in a list: title stems, confirmed by factor similarity.

Films are grouped once, at load, into clusters: the same *title stem* (the title without year,
alternative titles, article, subtitle, sequel number and plural: "Toy Story 2", "Aliens" →
"toy story", "alien"), or a stem that extends another by whole words *and* a factor cosine of
at least ``PREFIX_MIN_COSINE`` (so "Alien Nation" stays apart from "Alien"). Ranking walks down
the scores and skips a film whose cluster already holds ``cap`` picks, examining at most
``MAX_CANDIDATES_PER_PICK`` candidates per pick.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from ml.serving.ranking import top_n_indices

IntArray = npt.NDArray[np.int64]

#: Films of one cluster allowed in a list.
MAX_PER_CLUSTER = 2
#: A title that extends another by whole words joins its cluster only above this cosine.
PREFIX_MIN_COSINE = 0.5
#: The cap examines at most this many candidates per film asked for: with every top film in
#: one franchise it would otherwise walk the whole catalogue (20 ms at 60k films).
MAX_CANDIDATES_PER_PICK = 50
#: Shortest stem that may absorb longer titles by prefix ("up" must not swallow "up in smoke").
PREFIX_MIN_CHARS = 5

_ALTERNATIVE = re.compile(r"\([^)]*\)")
_TRAILING_ARTICLE = re.compile(
    r",\s*(the|a|an|les|la|le|l'|il|el|los|las|das|der|die|den|det)\s*$")
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+")
_SUBTITLE = re.compile(r"\s*(:|\s-\s|\band the\b).*$")
_SEQUEL = re.compile(r"(\s+(part|chapter|episode|vol|volume))?(\s+([ivx]+|\d+)|(?<=[a-z])\d+)$")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def title_stem(title: str) -> str:
    """The franchise key of a title: "Godfather: Part II, The (1974)" → "godfather".

    Articles go whichever end they are on, since catalogues write both "The Matrix" and
    "Matrix, The"."""
    text = unicodedata.normalize("NFKC", title).lower()
    text = _ALTERNATIVE.sub(" ", text).strip()
    text = _LEADING_ARTICLE.sub("", _TRAILING_ARTICLE.sub("", text))
    text = _SUBTITLE.sub("", text)
    text = " ".join(_NON_WORD.sub(" ", text).split())
    previous = None
    while previous != text:  # "star trek ii" and "rocky 3" both lose their number
        previous, text = text, _SEQUEL.sub("", text).strip()
    words = text.split()
    if words and len(words[-1]) > 4 and words[-1].endswith("s"):
        words[-1] = words[-1][:-1]  # "aliens" → "alien"
    return " ".join(words) or title.lower()


def franchise_clusters(
    titles: Sequence[str], unit_factors: npt.NDArray[np.floating] | None = None,
) -> IntArray:
    """A cluster id per film (ids are the index of the cluster's first film)."""
    stems = [title_stem(t) for t in titles]
    parent = np.arange(len(stems))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, stem in enumerate(stems):
        join(i, first.setdefault(stem, i))
    if unit_factors is not None:
        for i, stem in enumerate(stems):
            words = stem.split()
            for cut in range(1, len(words)):
                prefix = " ".join(words[:cut])
                j = first.get(prefix)
                if (j is not None and len(prefix) >= PREFIX_MIN_CHARS
                        and float(unit_factors[i] @ unit_factors[j]) >= PREFIX_MIN_COSINE):
                    join(i, j)
    return np.array([root(i) for i in range(len(stems))], dtype=np.int64)


def capped_top_n(
    scores: npt.NDArray[np.floating], n: int, clusters: IntArray,
    exclude: npt.ArrayLike | None = None, allowed: npt.NDArray[np.bool_] | None = None,
    cap: int = MAX_PER_CLUSTER, rows: IntArray | None = None,
) -> IntArray:
    """Like ``top_n_indices``, but at most ``cap`` items of one cluster.

    Candidates are the best ``MAX_CANDIDATES_PER_PICK × n`` (one partition of the catalogue);
    only when those run out are capped-out films used to fill the list, since a short list
    would be worse than a third sequel. ``rows``: as in ``top_n_indices``.
    """
    limit = MAX_CANDIDATES_PER_PICK * n
    ranked = top_n_indices(scores, limit, exclude=exclude, allowed=allowed, rows=rows)

    def head(size: int) -> tuple[IntArray, bool]:
        return ranked[:size], len(ranked) < size

    return _capped_walk(head, 3 * n, limit, n, clusters, cap)


def capped_from_order(
    order: IntArray, n: int, clusters: IntArray | None,
    exclude: npt.ArrayLike | None = None, allowed: npt.NDArray[np.bool_] | None = None,
    cap: int = MAX_PER_CLUSTER,
) -> IntArray:
    """``capped_top_n`` for a ranking known in advance (``order``: every item, best first),
    read from its head (the popular list, sorted once at load); ``clusters=None`` skips the cap.
    """
    excluded = np.asarray(exclude if exclude is not None else [], dtype=np.int64)

    def head(size: int) -> tuple[IntArray, bool]:
        candidates = order[:size]
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        if len(excluded):
            candidates = candidates[~np.isin(candidates, excluded)]
        return candidates, size >= len(order)

    limit = MAX_CANDIDATES_PER_PICK * n + len(excluded)
    if allowed is not None:
        limit = len(order)  # a filter thins the head unpredictably; the order is precomputed
    return _capped_walk(head, 3 * n + len(excluded), limit, n, clusters, cap)


def _capped_walk(
    head: Callable[[int], tuple[IntArray, bool]], size: int, limit: int, n: int,
    clusters: IntArray | None, cap: int,
) -> IntArray:
    """Take the best ``size`` candidates (``head(size)``: ranked, and whether that is all of
    them), growing ``size`` up to ``limit`` until ``n`` fit the cap; then fill any gap with
    the best capped-out candidates. At most ``limit`` candidates are ever examined."""
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    size = min(size, limit)
    while True:
        ranked, exhausted = head(size)
        within = (np.ones(len(ranked), dtype=bool) if clusters is None
                  else _within_cap(clusters[ranked], cap))
        picked = ranked[within][:n]
        if len(picked) == n or exhausted or size >= limit:
            break
        size = min(size * 4, limit)
    if len(picked) < n:
        spare = ranked[~within][: n - len(picked)]
        picked = np.concatenate([picked, spare])
    return picked.astype(np.int64)


def _within_cap(labels: IntArray, cap: int) -> npt.NDArray[np.bool_]:
    """For each position, whether fewer than ``cap`` earlier positions share its label:
    the cap as one stable sort instead of a Python walk."""
    if len(labels) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    run_lengths = np.diff(np.r_[starts, len(labels)])
    seen_before = np.empty(len(labels), dtype=np.int64)
    seen_before[order] = np.arange(len(labels)) - np.repeat(starts, run_lengths)
    return seen_before < cap
