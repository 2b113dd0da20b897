"""ProfileCache: hits only for identical ratings, LRU bound, explicit invalidation."""

from __future__ import annotations

import threading

from api.profiles import ProfileCache


class CountingFoldIn:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ratings):
        self.calls += 1
        return ("profile", tuple(ratings.items()))


def test_same_ratings_hit_and_changed_ratings_recompute():
    cache, fold_in = ProfileCache(10), CountingFoldIn()
    first = cache.get_or_compute(1, {1: 4.0, 2: 3.0}, fold_in)
    assert cache.get_or_compute(1, {1: 4.0, 2: 3.0}, fold_in) is first
    assert fold_in.calls == 1
    changed = cache.get_or_compute(1, {1: 4.5, 2: 3.0}, fold_in)
    assert changed != first and fold_in.calls == 2
    cache.get_or_compute(1, {1: 4.5, 2: 3.0, 3: 1.0}, fold_in)
    assert fold_in.calls == 3
    assert (cache.hits, cache.misses) == (1, 3)


def test_invalidate_forgets_one_user():
    cache, fold_in = ProfileCache(10), CountingFoldIn()
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    cache.get_or_compute(2, {1: 4.0}, fold_in)
    cache.invalidate(1)
    cache.invalidate(99)  # unknown users are fine
    assert len(cache) == 1
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    assert fold_in.calls == 3


def test_the_least_recently_used_user_is_evicted_first():
    cache, fold_in = ProfileCache(2), CountingFoldIn()
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    cache.get_or_compute(2, {1: 4.0}, fold_in)
    cache.get_or_compute(1, {1: 4.0}, fold_in)  # 1 is now the most recent
    cache.get_or_compute(3, {1: 4.0}, fold_in)  # evicts 2
    assert len(cache) == 2
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    assert fold_in.calls == 3
    cache.get_or_compute(2, {1: 4.0}, fold_in)
    assert fold_in.calls == 4


def test_size_zero_disables_caching():
    cache, fold_in = ProfileCache(0), CountingFoldIn()
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    assert fold_in.calls == 2 and len(cache) == 0


def test_concurrent_use_keeps_the_bound():
    cache, fold_in = ProfileCache(16), CountingFoldIn()

    def worker(offset: int) -> None:
        for user_id in range(200):
            cache.get_or_compute((user_id + offset) % 50, {user_id: 4.0}, fold_in)
            if user_id % 7 == 0:
                cache.invalidate(user_id % 50)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 16
