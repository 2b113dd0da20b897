"""A thread-safe LRU of what the API derives from one user's ratings: profile and served lists.

Folding a user in and ranking the catalogue for them are the only per-user work on the
/recommend path, and both depend on nothing but the user's ratings (the model is fixed for
the life of the process). So each user's entry holds the folded-in profile and the JSON bodies
of the lists already served (one per parameter set: n, genre, years), all tagged with a
fingerprint of the ratings they came from. A request whose ratings fingerprint differs finds
nothing, so a stale list is never served, even when another worker process changed the
ratings; /rate and DELETE also drop the entry eagerly in this process.

Why whole lists and not only profiles: people come back to the same list (the UI reloads it on
every page visit), and a served list is a few kilobytes against ~0.5 ms of scoring 10k films.
The bodies are bounded in total bytes, the entries in number of users.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")

Fingerprint = tuple[int, int]

#: Parameter sets remembered per user; older ones are dropped first.
MAX_LISTS_PER_USER = 8


def ratings_fingerprint(ratings: Mapping[int, float]) -> Fingerprint:
    """Identify a rating set cheaply: its size and a hash of its (movie_id, rating) pairs.

    Callers pass the ratings in a stable order (the database reads sort by movie id).
    """
    return len(ratings), hash(tuple(ratings.items()))


@dataclass
class _Entry(Generic[P]):
    fingerprint: Fingerprint
    profile: P | None = None
    lists: dict[Hashable, bytes] = field(default_factory=dict)

    @property
    def list_bytes(self) -> int:
        return sum(len(body) for body in self.lists.values())


class UserCache(Generic[P]):
    """LRU ``user_id -> (fingerprint, profile, served lists)``.

    ``max_users=0`` disables caching; ``max_list_bytes=0`` keeps profiles but no lists.
    """

    def __init__(self, max_users: int, max_list_bytes: int = 0) -> None:
        self._max_users = max_users
        self._max_list_bytes = max_list_bytes
        self._entries: OrderedDict[int, _Entry[P]] = OrderedDict()
        self._list_bytes = 0
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
        """The cached profile for exactly these ratings, else ``compute(ratings)`` (then cached).

        ``fingerprint`` is ``ratings_fingerprint(ratings)`` when the caller already has it.
        """
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
            entry = self._current(user_id, fingerprint)
            return None if entry is None else entry.lists.get(key)

    def keep_list(self, user_id: int, fingerprint: Fingerprint, key: Hashable, body: bytes) -> None:
        """Remember ``body`` as the list for ``key`` (within the byte budget)."""
        if len(body) > self._max_list_bytes:
            return
        with self._lock:
            entry = self._entry_for(user_id, fingerprint)
            if entry is None:
                return
            if key not in entry.lists and len(entry.lists) >= MAX_LISTS_PER_USER:
                oldest = next(iter(entry.lists))
                self._list_bytes -= len(entry.lists.pop(oldest))
            self._list_bytes += len(body) - len(entry.lists.get(key, b""))
            entry.lists[key] = body
            self._evict()

    def invalidate(self, user_id: int) -> None:
        """Forget everything about ``user_id`` (their ratings just changed)."""
        with self._lock:
            self._drop(user_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def list_bytes(self) -> int:
        """Bytes of served lists held now."""
        with self._lock:
            return self._list_bytes

    # The helpers below run with the lock held.

    def _current(self, user_id: int, fingerprint: Fingerprint) -> _Entry[P] | None:
        entry = self._entries.get(user_id)
        if entry is None or entry.fingerprint != fingerprint:
            return None
        self._entries.move_to_end(user_id)
        return entry

    def _entry_for(self, user_id: int, fingerprint: Fingerprint) -> _Entry[P] | None:
        """The entry for these ratings, replacing one computed from other ratings."""
        if self._max_users <= 0:
            return None
        entry = self._current(user_id, fingerprint)
        if entry is None:
            self._drop(user_id)
            entry = self._entries[user_id] = _Entry(fingerprint)
            self._evict()
        return entry

    def _drop(self, user_id: int) -> None:
        entry = self._entries.pop(user_id, None)
        if entry is not None:
            self._list_bytes -= entry.list_bytes

    def _evict(self) -> None:
        while self._entries and (
            len(self._entries) > self._max_users or self._list_bytes > self._max_list_bytes
        ):
            _, entry = self._entries.popitem(last=False)
            self._list_bytes -= entry.list_bytes
