"""A small thread-safe LRU of users' folded-in profiles.

Folding a user in is the only per-user linear algebra on the /recommend path, and a user's
profile only changes when their ratings do. Each entry is tagged with a fingerprint of the
ratings it was computed from, so a stale entry is never served even when another worker
process changed the ratings; /rate and DELETE also drop the entry eagerly in this process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

P = TypeVar("P")

Fingerprint = tuple[int, int]


def ratings_fingerprint(ratings: Mapping[int, float]) -> Fingerprint:
    """Identify a rating set cheaply: its size and a hash of its (movie_id, rating) pairs.

    Callers pass the ratings in a stable order (the repository sorts by movie id).
    """
    return len(ratings), hash(tuple(ratings.items()))


class ProfileCache(Generic[P]):
    """LRU mapping ``user_id -> (fingerprint, profile)``; ``maxsize=0`` disables caching."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[int, tuple[Fingerprint, P]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self,
        user_id: int,
        ratings: Mapping[int, float],
        compute: Callable[[Mapping[int, float]], P],
    ) -> P:
        """The cached profile for exactly these ratings, else ``compute(ratings)`` (then cached)."""
        fingerprint = ratings_fingerprint(ratings)
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is not None and entry[0] == fingerprint:
                self._entries.move_to_end(user_id)
                self.hits += 1
                return entry[1]
            self.misses += 1
        # Computed outside the lock so one user's fold-in never stalls everyone else's lookups.
        profile = compute(ratings)
        if self._maxsize > 0:
            with self._lock:
                self._entries[user_id] = (fingerprint, profile)
                self._entries.move_to_end(user_id)
                while len(self._entries) > self._maxsize:
                    self._entries.popitem(last=False)
        return profile

    def invalidate(self, user_id: int) -> None:
        """Forget ``user_id``'s profile (their ratings just changed)."""
        with self._lock:
            self._entries.pop(user_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
