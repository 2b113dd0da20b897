"""Popularity is a Bayesian average in a stable order; top-N excludes and filters."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models.popularity.model import Popularity, PopularityParams, bayesian_average
from ml.serving.ranking import (
    BlendScorer,
    RankingWeights,
    blend_scores,
    similar_items,
    top_n_indices,
)


def test_bayesian_average_matches_the_formula():
    counts, means = np.array([0, 1, 100]), np.array([np.nan, 5.0, 4.0])
    got = bayesian_average(counts, means, global_mean=3.0, prior_count=10)
    assert got[0] == pytest.approx(3.0)
    assert got[1] == pytest.approx((1 * 5 + 10 * 3) / 11)
    assert got[2] == pytest.approx((100 * 4 + 10 * 3) / 110)


def test_a_few_perfect_ratings_do_not_beat_many_good_ones():
    items = np.array([0, 0] + [1] * 200 + [2] * 300)
    ratings = np.array([5.0, 5.0] + [4.3] * 200 + [3.0] * 300)
    pop = Popularity.from_ratings(items, ratings, 3, PopularityParams(prior_percentile=50))
    assert list(top_n_indices(pop.scores(), 3)) == [1, 0, 2]


def test_popularity_order_is_stable_excludes_and_filters():
    rng = np.random.default_rng(1)
    items = rng.integers(0, 50, 5000)
    ratings = rng.integers(1, 6, 5000).astype(float)
    pop = Popularity.from_ratings(items, ratings, 50)
    order = top_n_indices(pop.scores(), 50)
    assert np.all(np.diff(pop.average[order]) <= 0)  # best first
    assert list(top_n_indices(pop.scores(), 50)) == list(order)  # same every call
    assert sorted(order) != list(order)  # not re-sorted by id (the peer's bug)
    excluded = top_n_indices(pop.scores(), 10, exclude=order[:3])
    assert list(excluded) == list(order[3:13])
    allowed = np.arange(50) % 2 == 0
    assert all(i % 2 == 0 for i in top_n_indices(pop.scores(), 10, allowed=allowed))


def test_top_n_breaks_ties_by_index_and_never_returns_excluded_or_nan():
    scores = np.array([1.0, 3.0, 3.0, np.nan, 2.0])
    assert list(top_n_indices(scores, 10)) == [1, 2, 4, 0]
    assert list(top_n_indices(scores, 2, exclude=[1])) == [2, 4]
    assert list(top_n_indices(scores, 0)) == []


def test_similar_items_are_nearest_by_cosine_and_exclude_the_item():
    factors = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    best, cos = similar_items(unit, 0, 3)
    assert list(best) == [1, 2, 3]
    assert cos[0] > cos[1] > cos[2]


@pytest.mark.parametrize("weights", [RankingWeights(), RankingWeights(rating=0.0),
                                     RankingWeights(rating=0.7, popularity=0.5),
                                     RankingWeights(item_item=0.0, item_item_at_threshold=0.0)])
@pytest.mark.parametrize("n_ratings", [5, 12, 300])
def test_the_one_pass_blend_equals_the_z_scored_sum(weights: RankingWeights, n_ratings: int):
    """BlendScorer's moments trick must give blend_scores' numbers and the same top list."""
    rng = np.random.default_rng(7)
    n_items = 2000
    choice = rng.normal(size=(n_items, 24)).astype(np.float32) * rng.random(24).astype(np.float32)
    rating = rng.normal(0, 0.3, size=(n_items, 12)).astype(np.float32)
    bias = rng.normal(0, 0.5, n_items).astype(np.float32)
    log_pop = rng.normal(size=n_items)
    scorer = BlendScorer(choice, rating, bias, log_pop, weights)
    for _ in range(5):
        x, p, user_constant = rng.normal(size=24), rng.normal(size=12), rng.normal()
        predicted = rating @ p.astype(np.float32) + bias + np.float32(3.5 + user_constant)
        item_item = rng.normal(size=n_items) * (rng.random(n_items) < 0.3)
        expected = blend_scores(choice @ x.astype(np.float32), predicted, log_pop, weights,
                                n_ratings, item_item)
        got = scorer.scores(x, p, n_ratings, item_item)
        np.testing.assert_allclose(got, expected, atol=2e-4)
        assert list(top_n_indices(got, 20)) == list(top_n_indices(expected, 20))

