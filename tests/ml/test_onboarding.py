"""Onboarding order: likely-seen films spread over tastes, pages that never repeat, and the
newcomer simulation that measures it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.models.ials.model import ImplicitParams, rotate
from ml.serving.onboarding import PAGE_SIZE, OnboardingParams, onboarding_order
from ml.serving.recommender import Recommender
from ml.training.simulate_onboarding import onboard, quality


def three_tastes() -> tuple[np.ndarray, object, list[tuple[str, ...]]]:
    """30 films in three taste directions; the ten most-rated all lie in the first one."""
    rng = np.random.default_rng(0)
    directions = np.eye(3)
    factors = np.vstack([directions[i // 10] + rng.normal(0, 0.05, 3) for i in range(30)])
    counts = np.array([1000 - i for i in range(10)] + [600 - i for i in range(20)])
    genres = [("Drama",) if i < 10 else ("Comedy",) if i < 20 else ("Horror",)
              for i in range(30)]
    return counts, rotate(factors, ImplicitParams(n_factors=3)), genres


def test_most_popular_first_is_the_count_order():
    counts, model, genres = three_tastes()
    order = onboarding_order(counts, model, genres, OnboardingParams(strategy="popular"))
    assert order == list(np.argsort(-counts, kind="stable"))


def test_the_informative_first_page_spans_the_tastes_popularity_misses():
    counts, model, genres = three_tastes()
    first_page = onboarding_order(counts, model, genres)[:PAGE_SIZE]
    assert first_page[0] < 10  # a most-rated film still leads
    assert {i // 10 for i in first_page} == {0, 1, 2}  # every taste direction is asked about
    assert len({genres[i] for i in first_page}) == 3


def test_the_order_never_repeats_a_film_and_stays_within_rated_films():
    counts, model, genres = three_tastes()
    counts[29] = 0  # a film nobody rated is never worth a newcomer's click
    order = onboarding_order(counts, model, genres, limit=100)
    assert len(order) == len(set(order)) == 29 and 29 not in order


@pytest.fixture(scope="module")
def recommender(tiny_model_dir: Path) -> Recommender:
    return Recommender.load(tiny_model_dir)


def test_pages_skip_everything_already_shown(recommender):
    shown: list[int] = []
    for _ in range(4):
        page = recommender.onboarding(8, exclude=shown)
        assert len(page) == 8 and not {m.movie_id for m in page} & set(shown)
        shown += [m.movie_id for m in page]
    assert recommender.onboarding(5, exclude=[424242]) == recommender.onboarding(5)


def test_a_simulated_newcomer_rates_only_films_they_really_rated(recommender):
    truth = {m: 4.5 for m in (1, 3, 5, 7, 9, 11, 13)} | {101: 1.0, 102: 1.0, 201: 3.0}
    session = onboard(recommender, truth, page_size=5, user_id=7)
    assert [m for m, _ in session.given] == [m for m, _ in session.given if m in truth]
    assert all(truth[m] == r for m, r in session.given)
    assert len(session.given) == len(truth)  # every film is eventually shown
    assert session.pages_at[5] <= session.pages_at[10]
    assert 15 not in session.pages_at  # only ten real ratings: never reaches 15


def test_a_simulated_newcomer_sends_the_films_skipped_before_their_kth_rating(recommender):
    """As the app does: every film shown and not rated before the k-th rating is a skip."""
    truth = {m: 4.5 for m in (1, 3, 5, 7, 9, 11, 13)}
    session = onboard(recommender, truth, page_size=5, user_id=7)
    given, skipped = session.at(5)
    fifth = session.shown.index(session.given[4][0])
    assert list(given) == [m for m, _ in session.given[:5]]
    assert set(skipped) == set(session.shown[:fifth]) - set(truth)
    assert not set(skipped) & set(truth)
    seen: list[tuple[dict[int, float], tuple[int, ...]]] = []
    quality([session], {7: truth}, set(range(1, 300)),
            lambda ratings, skips: seen.append((ratings, skips)) or [], 5)
    assert seen == [(given, skipped)]


def test_quality_is_measured_on_the_ratings_not_given(recommender):
    truth = {m: 5.0 for m in range(1, 21)}
    session = onboard(recommender, truth, page_size=10, user_id=1)
    given = {m for m, _ in session.given[:5]}
    perfect = sorted(set(range(1, 21)) - given)[:10]
    ndcg, recall, n = quality([session], {1: truth}, set(range(1, 300)),
                              lambda ratings, skipped: perfect, 5)
    assert (ndcg, recall, n) == (pytest.approx(1.0), 1.0, 1)
    assert quality([session], {1: truth}, set(), lambda ratings, skipped: perfect, 5)[2] == 0
