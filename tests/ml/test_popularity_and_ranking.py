"""Popularity is a Bayesian average in a stable order; top-N excludes and filters."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models.popularity.model import Popularity, PopularityParams, bayesian_average
from ml.serving.ranking import (
    BlendScorer,
    RankingWeights,
    RowScores,
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



def test_top_n_of_some_rows_is_the_top_n_of_their_scores_spread_over_every_item():
    """``rows``: the same films in the same order as the scores placed at those rows of a
    catalogue-sized array with -inf elsewhere, ties (by index), exclusions, filters and NaN
    included, whichever way the cut partitions."""
    rng = np.random.default_rng(11)
    n_items = 3000
    for trial in range(40):
        rows = np.sort(rng.choice(n_items, int(rng.integers(20, 400)), replace=False))
        scores = rng.integers(0, 12, len(rows)).astype(np.float32)  # many ties
        scores[rng.random(len(rows)) < 0.05] = np.nan
        spread = np.full(n_items, -np.inf, dtype=np.float32)
        spread[rows] = scores
        excluded = rng.choice(n_items, int(rng.integers(0, 200)), replace=False)
        if trial % 3 == 0:
            excluded = np.concatenate([excluded, rows[: len(rows) // 4]])
        allowed = None if trial % 2 else rng.random(n_items) < 0.7
        for n in (1, 10, 50, 1000):
            expected = top_n_indices(spread, n, exclude=excluded, allowed=allowed)
            got = top_n_indices(scores, n, exclude=excluded, allowed=allowed, rows=rows)
            assert list(got) == list(expected)


def test_row_scores_of_a_head_have_the_moments_of_the_whole_catalogue():
    """A term that is 0 outside its head films: its values at some rows and its mean and
    standard deviation over every item, from the head's scores alone."""
    rng = np.random.default_rng(5)
    n_items, head = 5000, np.sort(rng.choice(5000, 700, replace=False))
    head_scores = rng.normal(0.3, 2.0, len(head)).astype(np.float32)
    everything = np.zeros(n_items, dtype=np.float32)
    everything[head] = head_scores
    rows = np.sort(rng.choice(n_items, 900, replace=False))
    head_of = np.full(n_items, len(head))
    head_of[head] = np.arange(len(head))
    got = RowScores.of_head(head_scores, n_items, head_of[rows])
    np.testing.assert_array_equal(got.values, everything[rows])
    assert got.mean == pytest.approx(float(everything.astype(np.float64).mean()), rel=1e-9)
    assert got.std == pytest.approx(float(everything.astype(np.float64).std()), rel=1e-9)
    nothing = RowScores.of_head(None, n_items, head_of[rows])
    assert not nothing.values.any() and nothing.mean == nothing.std == 0.0


def test_a_pool_scorer_gives_the_whole_catalogue_scorer_numbers_at_its_rows():
    """The pool's scorer (factors stored by column, the item-item term as ``RowScores``)
    gives the scores of every item's scorer at its rows, to float32 rounding, and the same
    top list."""
    rng = np.random.default_rng(9)
    n_items = 4000
    choice = rng.normal(size=(n_items, 24)).astype(np.float32)
    rating = rng.normal(0, 0.3, size=(n_items, 12)).astype(np.float32)
    bias = rng.normal(0, 0.5, n_items).astype(np.float32)
    log_pop = rng.normal(size=n_items)
    rows = np.sort(rng.choice(n_items, 1500, replace=False))
    whole = BlendScorer(choice, rating, bias, log_pop, RankingWeights())
    pool = BlendScorer(choice, rating, bias, log_pop, RankingWeights(), rows=rows)
    head = np.sort(rng.choice(n_items, 600, replace=False))
    head_of = np.full(n_items, len(head))
    head_of[head] = np.arange(len(head))
    for n_ratings in (5, 40, 400):
        x, p = rng.normal(size=24), rng.normal(size=12)
        head_scores = rng.normal(size=len(head)).astype(np.float32)
        item_item = np.zeros(n_items, dtype=np.float32)
        item_item[head] = head_scores
        expected = whole.scores(x, p, n_ratings, item_item)[rows]
        got = pool.scores(x, p, n_ratings, RowScores.of_head(head_scores, n_items, head_of[rows]))
        np.testing.assert_allclose(got, expected, atol=2e-5)
        assert list(top_n_indices(got, 20)) == list(top_n_indices(expected, 20))
