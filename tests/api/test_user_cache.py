"""UserCache: hits only for identical ratings, LRU and byte bounds, explicit invalidation."""

from __future__ import annotations

import threading

import pytest

from api.user_cache import MAX_LISTS_PER_USER, UserCache, ratings_fingerprint


class CountingFoldIn:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ratings):
        self.calls += 1
        return ("profile", tuple(ratings.items()))


def test_same_ratings_hit_and_changed_ratings_recompute():
    cache, fold_in = UserCache(10), CountingFoldIn()
    first = cache.get_or_compute(1, {1: 4.0, 2: 3.0}, fold_in)
    assert cache.get_or_compute(1, {1: 4.0, 2: 3.0}, fold_in) is first
    assert fold_in.calls == 1
    changed = cache.get_or_compute(1, {1: 4.5, 2: 3.0}, fold_in)
    assert changed != first and fold_in.calls == 2
    cache.get_or_compute(1, {1: 4.5, 2: 3.0, 3: 1.0}, fold_in)
    assert fold_in.calls == 3
    assert (cache.hits, cache.misses) == (1, 3)


def test_invalidate_forgets_one_user():
    cache, fold_in = UserCache(10), CountingFoldIn()
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    cache.get_or_compute(2, {1: 4.0}, fold_in)
    cache.invalidate(1)
    cache.invalidate(99)  # unknown users are fine
    assert len(cache) == 1
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    assert fold_in.calls == 3


def test_the_least_recently_used_user_is_evicted_first():
    cache, fold_in = UserCache(2), CountingFoldIn()
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
    cache, fold_in = UserCache(0), CountingFoldIn()
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    cache.get_or_compute(1, {1: 4.0}, fold_in)
    assert fold_in.calls == 2 and len(cache) == 0


def test_concurrent_use_keeps_the_bound():
    cache, fold_in = UserCache(16), CountingFoldIn()

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


A, B = {1: 4.0, 2: 3.0}, {1: 4.5, 2: 3.0}


def test_a_list_is_served_only_for_the_same_ratings_and_parameters():
    cache = UserCache(10, 1_000)
    cache.keep_list(1, ratings_fingerprint(A), ("n", 10), b"list-a")
    assert cache.served_list(1, ratings_fingerprint(A), ("n", 10)) == b"list-a"
    assert cache.served_list(1, ratings_fingerprint(A), ("n", 20)) is None
    assert cache.served_list(2, ratings_fingerprint(A), ("n", 10)) is None
    assert cache.served_list(1, ratings_fingerprint(B), ("n", 10)) is None


def test_new_ratings_drop_every_list_made_from_the_old_ones():
    cache, fold_in = UserCache(10, 1_000), CountingFoldIn()
    for n in (10, 20):
        cache.keep_list(1, ratings_fingerprint(A), n, b"x" * n)
    cache.get_or_compute(1, B, fold_in)  # the ratings changed
    assert cache.served_list(1, ratings_fingerprint(A), 10) is None
    assert cache.list_bytes == 0
    cache.keep_list(1, ratings_fingerprint(B), 10, b"new")
    cache.invalidate(1)
    assert cache.served_list(1, ratings_fingerprint(B), 10) is None and cache.list_bytes == 0


def test_lists_keep_the_profile_of_the_same_ratings():
    cache, fold_in = UserCache(10, 1_000), CountingFoldIn()
    profile = cache.get_or_compute(1, A, fold_in)
    cache.keep_list(1, ratings_fingerprint(A), 10, b"list")
    assert cache.get_or_compute(1, A, fold_in) is profile and fold_in.calls == 1


@pytest.mark.parametrize("budget", [0, 50, 1_000])
def test_list_bytes_stay_within_the_budget(budget: int):
    cache = UserCache(100, budget)
    for user_id in range(40):
        for n in range(3):
            cache.keep_list(user_id, ratings_fingerprint(A), n, b"x" * (10 + 7 * n))
            assert cache.list_bytes <= budget
    if budget == 1_000:  # the most recent users are the ones kept
        assert cache.served_list(39, ratings_fingerprint(A), 2) is not None
        assert cache.served_list(0, ratings_fingerprint(A), 2) is None


def test_one_user_keeps_a_bounded_number_of_lists():
    cache = UserCache(10, 10_000)
    for n in range(MAX_LISTS_PER_USER + 3):
        cache.keep_list(1, ratings_fingerprint(A), n, b"list")
    kept = [n for n in range(MAX_LISTS_PER_USER + 3)
            if cache.served_list(1, ratings_fingerprint(A), n) is not None]
    assert kept == list(range(3, MAX_LISTS_PER_USER + 3))  # the oldest went first
    assert cache.list_bytes == 4 * MAX_LISTS_PER_USER


def test_size_zero_keeps_no_lists():
    cache = UserCache(0, 1_000)
    cache.keep_list(1, ratings_fingerprint(A), 10, b"list")
    assert cache.served_list(1, ratings_fingerprint(A), 10) is None and len(cache) == 0
