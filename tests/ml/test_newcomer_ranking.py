"""Newcomer ranking: weights that follow how much the user has told us, and skipped films.

The ranking score leans on popularity and the predicted rating at five ratings and lets go as
ratings come in (``RankingWeights.at``); the iALS fold-in hears films skipped on the deck as
"haven't seen it" (``IALS.fold_in``). Both go through ``Recommender.recommend``, the
code the API serves. Movie ids: 1–20 Action, 101–120 Romance, 201–220 Comedy (tests/synthetic.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ml.models.contract import UserRatings
from ml.models.ials.model import ImplicitParams, rotate, targets_and_confidence
from ml.rules import PERSONALISATION_THRESHOLD
from ml.serving.ranking import RankingWeights
from ml.serving.recommender import Recommender

ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5}


@pytest.fixture(scope="module")
def recommender(tiny_model_dir: Path) -> Recommender:
    return Recommender.load(tiny_model_dir)


def test_weights_move_from_the_threshold_to_the_full_history_values():
    weights = RankingWeights(rating=0.3, popularity=0.5, rating_at_threshold=1.0,
                             popularity_at_threshold=4.0, decay=2.0)
    assert weights.at(PERSONALISATION_THRESHOLD) == pytest.approx((1.0, 4.0))
    assert weights.at(0) == weights.at(1) == weights.at(PERSONALISATION_THRESHOLD)
    assert weights.at(10) == pytest.approx((0.3 + 0.7 / 4, 0.5 + 3.5 / 4))
    popularity = [weights.at(n)[1] for n in (5, 6, 10, 20, 50, 200, 2000)]
    assert popularity == sorted(popularity, reverse=True)
    assert weights.at(2000) == pytest.approx((0.3, 0.5), abs=1e-4)


def test_a_manifest_without_the_newcomer_fields_keeps_its_weights_and_gets_the_rest():
    """Today's shipped manifest holds only ``rating`` and ``popularity``."""
    weights = RankingWeights(**{"rating": 0.3, "popularity": 0.0})
    assert (weights.rating, weights.popularity) == (0.3, 0.0)
    assert weights.popularity_at_threshold == RankingWeights().popularity_at_threshold


def test_a_newcomer_list_leans_on_the_chart_more_than_a_flat_blend_would(recommender):
    """At five ratings the popularity prior is strong (tuned on real newcomers, where it lifts
    NDCG@10 from 0.43 to 0.49): the list sits higher in the chart than with the full-history
    weights. Measured as the mean popularity rank of the top 10."""
    order = {int(m): rank for rank, m in
             enumerate(recommender.items.ids[np.argsort(-recommender.popularity.counts,
                                                        kind="stable")])}
    tuned = RankingWeights()
    flat = replace(tuned, popularity_at_threshold=tuned.popularity,
                   rating_at_threshold=tuned.rating)
    lists = [Recommender(recommender.artifact, weights=w).recommend(
        ACTION_FAN, 10, diversify=False).items for w in (tuned, flat)]
    assert all(len(items) == 10 for items in lists)
    newcomer, full_history = (np.mean([order[r.movie_id] for r in items]) for items in lists)
    assert newcomer < full_history


def test_skipped_films_sink_in_the_choice_score_and_in_the_list(recommender):
    """A skip is "not what I pick": the skipped films' iALS scores fall, and with them their
    place in the list. (The planted model ranks without the popularity prior,
    tests/synthetic.py; bench/newcomers.py measures the real effect.)"""
    skipped = [201, 202, 203, 204, 205]  # the popular comedies
    idx = recommender.items.indices(skipped)
    factors = recommender.ials.item_factors.astype(np.float64)
    plain = factors @ recommender.profile(ACTION_FAN).choice_vector
    told = factors @ recommender.profile(ACTION_FAN, skipped).choice_vector
    assert (told[idx] < plain[idx]).all()
    assert recommender.weights.popularity_at_threshold == 0.0  # tests/synthetic.py
    lists = [recommender.recommend(ACTION_FAN, 60, diversify=False, skipped=s).items
             for s in ((), skipped)]
    place, place_told = ({r.movie_id: i for i, r in enumerate(items)} for items in lists)
    assert set(place) == set(place_told)  # ranked lower, never removed
    assert np.mean([place_told[m] for m in skipped]) > np.mean([place[m] for m in skipped])


def test_skips_are_part_of_the_profile_and_unknown_or_rated_ones_are_ignored(recommender):
    skipped = [201, 202]
    profile = recommender.profile(ACTION_FAN, skipped)
    assert recommender.recommend(ACTION_FAN, 10, profile=profile) == (
        recommender.recommend(ACTION_FAN, 10, skipped=skipped))
    assert recommender.recommend(ACTION_FAN, 10, skipped=[202, 201, 987654]) == (
        recommender.recommend(ACTION_FAN, 10, skipped=skipped))
    # A film both rated and skipped counts as rated: skipping it changes nothing.
    assert recommender.recommend(ACTION_FAN, 10, skipped=[1, 2]) == (
        recommender.recommend(ACTION_FAN, 10))
    # Skips never unlock a personal list, and skipped films still never include rated ones.
    assert recommender.recommend({1: 5.0}, 10, skipped=range(2, 40)).source == "popularity"


def test_skips_alone_say_nothing_about_what_someone_likes(recommender):
    vector = recommender.profile({}, [201, 202, 203]).choice_vector
    assert not vector.any()


@pytest.mark.parametrize("n", [3, 6, 12])
def test_skips_unused_leave_the_trained_solve(n):
    """With no skip confidence, or no skips, the served fold-in is the training solve with the
    newcomer's ridge (Woodbury below k rows, direct above)."""
    rng = np.random.default_rng(n)
    model = rotate(rng.normal(size=(40, 6)), ImplicitParams(
        n_factors=6, rating_confidence=0.5, dislike_below=2.0, fold_in_half_ratings=5.0))
    idx = rng.choice(40, size=n, replace=False)
    ratings = rng.choice([1.0, 2.5, 4.0, 5.0], size=n)
    skips = np.setdiff1d(np.arange(40), idx)[:4]
    rated = UserRatings.of(idx, ratings)
    np.testing.assert_allclose(model.serving(5.0, 30.0).fold_in(rated),
                               model.fold_in(rated), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.serving(5.0, 0.0).fold_in(UserRatings.of(idx, ratings, skips)),
                               model.fold_in(rated), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n_skips", [2, 9])
def test_a_skip_is_a_zero_target_with_its_own_confidence(n_skips):
    """Checked against the normal equations solved the plain way."""
    rng = np.random.default_rng(n_skips)
    model = rotate(rng.normal(size=(40, 6)), ImplicitParams(
        n_factors=6, rating_confidence=0.5, dislike_below=2.0))
    idx = np.array([0, 1, 2])
    ratings = np.array([5.0, 4.0, 1.0])
    skips = np.arange(10, 10 + n_skips)
    y = model.item_factors.astype(np.float64)
    p, c = targets_and_confidence(ratings, model.rating_confidence, model.dislike_below)
    rows = np.concatenate([idx, skips])
    p, c = np.concatenate([p, np.zeros(n_skips)]), np.concatenate([c, np.full(n_skips, 7.0)])
    system = model.unobserved_weight * (y.T @ y) + (y[rows].T * c) @ y[rows]
    system += model.ridge(3) * 3 / (3 + 2.0) * np.eye(model.rank)
    expected = np.linalg.solve(system, y[rows].T @ (c * p))
    got = model.serving(2.0, 7.0).fold_in(UserRatings.of(idx, ratings, skips))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_the_newcomer_bench_measures_validation_and_test_newcomers_apart():
    """bench/newcomers.py chooses EASE's λ (and the ranking weights) on validation newcomers:
    they must come out of the training users, never be test newcomers, and keep every
    rating of theirs out of the part the validation models learn from."""
    from bench.newcomers import holdouts
    from tests.synthetic import planted_ratings

    ratings = planted_ratings(n_users=120)
    train, test, fit_part, validation = holdouts(ratings, 20, 30)
    test_users, validation_users = set(test["user_id"]), set(validation["user_id"])
    assert (len(test_users), len(validation_users)) == (20, 30)
    assert not test_users & validation_users
    assert not test_users & set(train["user_id"])
    assert not validation_users & set(fit_part["user_id"])
    assert validation_users <= set(train["user_id"])
    assert len(fit_part) + len(validation) == len(train)


def test_the_newcomer_bench_ease_is_rating_weighted_or_binary():
    """The reference EASE of bench/newcomers.py: B = −P/diag(P), P = (XᵀX + λI)⁻¹, on the
    stars (rating-weighted) or on 0/1, and a newcomer's scores are x_u B."""
    from bench.newcomers import EaseFit

    rng = np.random.default_rng(3)
    x = (rng.random((60, 12)) < 0.3) * rng.choice([1.0, 3.0, 5.0], size=(60, 12))
    x = x.astype(np.float32)
    for kind, rows in (("rating-weighted", x), ("binary", (x > 0).astype(np.float32))):
        fit = EaseFit.fit(x, kind, 7.0)
        p = np.linalg.inv(rows.astype(np.float64).T @ rows + 7.0 * np.eye(12))
        b = p / -np.diag(p)
        np.fill_diagonal(b, 0.0)
        np.testing.assert_allclose(fit.weights, b, rtol=1e-3, atol=1e-5)
        given, stars = np.array([0, 4]), np.array([5.0, 2.0])
        values = stars if kind == "rating-weighted" else np.ones(2)
        np.testing.assert_allclose(fit.scores(given, stars), values @ b[given],
                                   rtol=1e-3, atol=1e-5)


def test_the_newcomer_tune_grid_varies_known_weights_once_each():
    """Every ``--tune`` point of bench/newcomers.py changes fields of ``RankingWeights`` (a
    misspelt one would fail the whole validation run after minutes of fitting), to values a
    ranking accepts, and no change is listed twice (a point equal to the shipped defaults is
    measured once, ``tune``)."""
    from bench.newcomers import TUNE_GRID

    changes = [tuple(sorted(change.items())) for change in TUNE_GRID]
    assert len(set(changes)) == len(changes)
    points = [replace(RankingWeights(), **change) for change in TUNE_GRID]
    for weights in points:
        assert weights.decay > 0 and weights.fold_in_half_ratings >= 0
        assert min(weights.at(PERSONALISATION_THRESHOLD)) >= 0
        assert weights.item_item_at(PERSONALISATION_THRESHOLD) >= 0
    assert max(change.get("item_item_at_threshold", 0.0) for change in TUNE_GRID) >= 4.0
