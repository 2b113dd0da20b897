"""Ratings as dense integer indices, grouped by user and by item.

The trainer visits every user's (and every item's) ratings once per sweep; sorting them once into
contiguous segments turns each visit into a slice instead of a search. Raw MovieLens ids never get
this far: callers factorise them first (see ``IdMap``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
#: Per-rating indices are int32 (films, users and ratings all fit below 2³¹): at ml-32m size
#: each per-rating array is then 128 MB instead of 256 MB, and a matrix holds six of them.
IndexArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class IdMap:
    """Raw id <-> dense index, O(1) both ways: an array one way, a dict the other."""

    ids: IntArray

    def __post_init__(self) -> None:
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError("IdMap ids must be unique")
        object.__setattr__(self, "_index", {int(v): i for i, v in enumerate(self.ids)})

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> IdMap:
        """Sorted unique ids of ``values``."""
        return cls(np.unique(np.asarray(values, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._index  # type: ignore[attr-defined]

    def index(self, raw_id: int) -> int:
        """Dense index of ``raw_id``; KeyError when unknown."""
        return self._index[int(raw_id)]  # type: ignore[attr-defined]

    def get(self, raw_id: int, default: int = -1) -> int:
        return self._index.get(int(raw_id), default)  # type: ignore[attr-defined]

    def indices(self, raw_ids: npt.ArrayLike) -> IntArray:
        """Dense indices of many ids, -1 for unknown ones (vectorised by searchsorted)."""
        raw = np.asarray(raw_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, raw)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        if len(self.ids) == 0:
            return np.full(raw.shape, -1, dtype=np.int64)
        found = self.ids[pos] == raw
        return np.where(found, pos, -1).astype(np.int64)


@dataclass(frozen=True)
class Segments:
    """Ratings sorted by one side: rows ``indptr[e]:indptr[e+1]`` belong to entity ``e``."""

    indptr: IntArray
    other: IndexArray  # index on the other side, per sorted rating
    order: IndexArray  # position of each sorted rating in the original arrays

    @classmethod
    def group(cls, owner: IndexArray, other: IndexArray, n_owners: int) -> Segments:
        order = np.argsort(owner, kind="stable").astype(np.int32)
        counts = np.bincount(owner, minlength=n_owners)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr=indptr, other=other[order], order=order)

    @property
    def counts(self) -> IntArray:
        return np.diff(self.indptr)


@dataclass(frozen=True)
class RatingMatrix:
    """Training ratings on dense indices, with both groupings precomputed."""

    users: IndexArray
    items: IndexArray
    ratings: FloatArray
    n_users: int
    n_items: int
    by_user: Segments
    by_item: Segments

    @classmethod
    def build(
        cls, users: npt.ArrayLike, items: npt.ArrayLike, ratings: npt.ArrayLike,
        n_users: int, n_items: int,
    ) -> RatingMatrix:
        u = np.asarray(users, dtype=np.int32)
        i = np.asarray(items, dtype=np.int32)
        r = np.asarray(ratings, dtype=np.float64)
        if max(n_users, n_items, len(r)) >= 2**31:
            raise ValueError("more than 2³¹ users, items or ratings")
        if not (len(u) == len(i) == len(r)):
            raise ValueError("users, items and ratings must have the same length")
        return cls(
            users=u, items=i, ratings=r, n_users=n_users, n_items=n_items,
            by_user=Segments.group(u, i, n_users), by_item=Segments.group(i, u, n_items),
        )

    def __len__(self) -> int:
        return len(self.ratings)
