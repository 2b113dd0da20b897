"""A thread-safe LRU of what the API derives from one user's ratings: profile and served lists.

Folding a user in and ranking the catalogue for them depend on nothing but the user's ratings
(a model swap builds a new, empty cache), so each user's entry holds the folded-in profile and
the JSON bodies of the lists already served (one per parameter set), tagged with a fingerprint
of the ratings they came from: after any change of ratings, even in another worker process,
nothing stale is found. People come back to the same list, and a served list is a few kB
against ~0.5 ms of scoring. Two ``cachetools.LRUCache`` hold it, users (bounded in number) and
bodies (bounded in bytes); an evicted user takes their bodies along; one lock guards both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

P = TypeVar("P")

Fingerprint = tuple[int, int]

#: Parameter sets remembered per user; older ones are dropped first.
MAX_LISTS_PER_USER = 8


def ratings_fingerprint(ratings: Mapping[int, float]) -> Fingerprint:
    """A rating set's size and a hash of its (movie_id, rating) pairs (in a stable order)."""
    return len(ratings), hash(tuple(ratings.items()))


@dataclass
class _Entry(Generic[P]):
    fingerprint: Fingerprint
    profile: P | None = None
    #: The keys of this user's bodies in ``UserCache._bodies``, oldest first.
    keys: list[Hashable] = field(default_factory=list)


class _Users(LRUCache[int, "_Entry[Any]"]):
    """The users' LRU; an evicted user's bodies go with them (``on_evict``)."""

    def __init__(self, maxsize: int, on_evict: Callable[[int, _Entry[Any]], None]) -> None:
        super().__init__(maxsize)
        self._on_evict = on_evict

    def popitem(self) -> tuple[int, _Entry[Any]]:
        user_id, entry = super().popitem()
        self._on_evict(user_id, entry)
        return user_id, entry


class UserCache(Generic[P]):
    """LRU ``user_id -> (fingerprint, profile, served lists)``; ``max_users=0`` disables it,
    ``max_list_bytes=0`` keeps profiles but no lists."""

    def __init__(self, max_users: int, max_list_bytes: int = 0) -> None:
        self._enabled = max_users > 0
        self._entries = _Users(max(max_users, 1), self._drop_bodies)
        self._bodies: LRUCache[tuple[int, Hashable], bytes] = LRUCache(
            max(max_list_bytes, 1), getsizeof=len
        )
        self._max_list_bytes = max_list_bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self,
        user_id: int,
        ratings: Mapping[int, float],
        compute: Callable[[Mapping[int, float]], P],
        fingerprint: Fingerprint | None = None,
    ) -> P:
        """The cached profile for exactly these ratings, else ``compute(ratings)`` (then cached);
        ``fingerprint`` is ``ratings_fingerprint(ratings)`` when the caller already has it."""
        fingerprint = fingerprint or ratings_fingerprint(ratings)
        with self._lock:
            entry = self._current(user_id, fingerprint)
            if entry is not None and entry.profile is not None:
                self.hits += 1
                return entry.profile
            self.misses += 1
        # Computed outside the lock so one user's fold-in never stalls everyone else's lookups.
        profile = compute(ratings)
        with self._lock:
            entry = self._entry_for(user_id, fingerprint)
            if entry is not None:
                entry.profile = profile
        return profile

    def served_list(self, user_id: int, fingerprint: Fingerprint, key: Hashable) -> bytes | None:
        """The body served for ``key`` from ratings with this fingerprint, if still cached."""
        with self._lock:
            if self._current(user_id, fingerprint) is None:
                return None
            return self._bodies.get((user_id, key))

    def keep_list(self, user_id: int, fingerprint: Fingerprint, key: Hashable, body: bytes) -> None:
        """Remember ``body`` as the list for ``key`` (within the byte budget)."""
        if len(body) > self._max_list_bytes:
            return
        with self._lock:
            entry = self._entry_for(user_id, fingerprint)
            if entry is None:
                return
            if key in entry.keys:
                entry.keys.remove(key)
            elif len(entry.keys) >= MAX_LISTS_PER_USER:
                self._bodies.pop((user_id, entry.keys.pop(0)), None)
            entry.keys.append(key)
            self._bodies[(user_id, key)] = body  # may evict other users' oldest bodies

    def invalidate(self, user_id: int) -> None:
        """Forget everything about ``user_id`` (their ratings just changed)."""
        with self._lock:
            entry = self._entries.pop(user_id, None)
            if entry is not None:
                self._drop_bodies(user_id, entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def list_bytes(self) -> int:
        """Bytes of served lists held now."""
        with self._lock:
            return int(self._bodies.currsize)

    # The helpers below run with the lock held.

    def _current(self, user_id: int, fingerprint: Fingerprint) -> _Entry[P] | None:
        entry = self._entries.get(user_id)  # a hit makes the user the most recent
        return entry if entry is not None and entry.fingerprint == fingerprint else None

    def _entry_for(self, user_id: int, fingerprint: Fingerprint) -> _Entry[P] | None:
        """The entry for these ratings, replacing one computed from other ratings."""
        if not self._enabled:
            return None
        entry = self._current(user_id, fingerprint)
        if entry is None:
            old = self._entries.pop(user_id, None)
            if old is not None:
                self._drop_bodies(user_id, old)
            entry = self._entries[user_id] = _Entry(fingerprint)
        return entry

    def _drop_bodies(self, user_id: int, entry: _Entry[Any]) -> None:
        for key in entry.keys:
            self._bodies.pop((user_id, key), None)
        entry.keys.clear()
