"""Contracts every list the service returns must keep, on the tiny planted model.

Movie ids: 1–20 Action, 101–120 Romance, 201–220 Comedy (see tests/synthetic.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN
from ml.serving.recommender import Recommender

ACTION, ROMANCE = range(1, 21), range(101, 121)
ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}
ROMANCE_FAN = {101: 5.0, 102: 5.0, 103: 4.5, 104: 5.0, 105: 4.5, 1: 1.0, 2: 1.5}


@pytest.fixture(scope="module")
def recommender(tiny_model_dir: Path) -> Recommender:
    return Recommender.load(tiny_model_dir)


@pytest.mark.parametrize("ratings", [{}, {1: 4.0}, ACTION_FAN, ROMANCE_FAN])
def test_rated_films_are_never_returned_and_predictions_are_on_the_scale(recommender, ratings):
    result = recommender.recommend(ratings, n=50)
    ids = [r.movie_id for r in result.items]
    assert not set(ids) & set(ratings)
    assert len(ids) == len(set(ids))
    assert all(RATING_MIN <= r.predicted_rating <= RATING_MAX for r in result.items)
    assert all(r.reason for r in result.items)


def test_the_list_turns_personal_exactly_at_the_threshold(recommender):
    ratings = dict(list(ACTION_FAN.items())[: PERSONALISATION_THRESHOLD - 1])
    assert recommender.recommend(ratings).source == "popularity"
    ratings.update(dict(list(ACTION_FAN.items())[PERSONALISATION_THRESHOLD - 1:]))
    assert recommender.recommend(ratings).source == "personalized"


def test_opposite_tastes_get_clearly_different_lists(recommender):
    action = [r.movie_id for r in recommender.recommend(ACTION_FAN, 10).items]
    romance = [r.movie_id for r in recommender.recommend(ROMANCE_FAN, 10).items]
    assert sum(m in ACTION for m in action) > sum(m in ROMANCE for m in action)
    assert sum(m in ROMANCE for m in romance) > sum(m in ACTION for m in romance)
    assert len(set(action) & set(romance)) <= 4


def test_filters_apply_before_the_cut(recommender):
    for ratings in ({}, ACTION_FAN):
        comedies = recommender.recommend(ratings, 10, genre="comedy").items
        assert len(comedies) == 10  # filtered first, then cut: still a full list
        assert all("Comedy" in recommender.movie(r.movie_id).genres for r in comedies)
        dated = recommender.recommend(ratings, 5, year_from=1990, year_to=1992).items
        assert dated and all(1990 <= recommender.movie(r.movie_id).year <= 1992 for r in dated)
    assert recommender.recommend({}, 10, genre="No Such Genre").items == []


def test_lists_are_deterministic(recommender):
    for ratings in ({}, ACTION_FAN):
        assert recommender.recommend(ratings, 20) == recommender.recommend(ratings, 20)


def test_a_new_user_is_folded_in_from_ratings_alone(recommender):
    profile = recommender.profile(ACTION_FAN)
    assert len(profile.rated_indices) == len(ACTION_FAN)
    assert recommender.recommend(ACTION_FAN, profile=profile) == recommender.recommend(ACTION_FAN)


def test_personal_reasons_name_a_film_the_user_loved(recommender):
    loved = {recommender.movie(m).label for m, r in ACTION_FAN.items() if r >= 4}
    items = recommender.recommend(ACTION_FAN, 10).items
    action = [i for i in items if i.movie_id in ACTION]
    assert action
    for item in action:
        assert item.reason.startswith("Because you loved ")
        assert item.reason.removeprefix("Because you loved ") in loved


def test_popular_reasons_say_why(recommender):
    assert recommender.recommend({}, 3).items[0].reason == "Among the highest rated"
    assert recommender.recommend({}, 3, genre="Action").items[0].reason == (
        "Loved by fans of Action")


def test_similar_films_share_the_genre_and_unknown_ids_raise(recommender):
    similar = recommender.similar(1, 5)
    assert len(similar) == 5 and all(m.movie_id != 1 for m, _ in similar)
    assert sum("Action" in m.genres for m, _ in similar) >= 4
    with pytest.raises(KeyError):
        recommender.similar(999999)


def test_onboarding_pages_never_repeat_and_mix_genres(recommender):
    first = recommender.onboarding(6)
    second = recommender.onboarding(6, exclude=[m.movie_id for m in first])
    assert not {m.movie_id for m in first} & {m.movie_id for m in second}
    assert len({m.genres[0] for m in first}) >= 2
    assert recommender.unknown_movie_ids([1, 424242]) == [424242]


def _neighbours(recommender, movie_id):
    k = recommender.neighbourhoods.k
    return {m.movie_id for m, _ in recommender.similar(movie_id, k)}


@pytest.mark.parametrize("ratings", [ACTION_FAN, ROMANCE_FAN])
def test_a_named_film_is_loved_and_among_the_picks_neighbours(recommender, ratings):
    """Of the loved films among the pick's nearest, the closest is named; none near, none
    named."""
    loved = [m for m, r in ratings.items() if r >= 4]
    for item in recommender.recommend(ratings, 20).items:
        near = [m for m in loved if m in _neighbours(recommender, item.movie_id)]
        if not near:
            assert not item.reason.startswith("Because you"), item
            continue
        pick = recommender.unit_factors[recommender.items.index(item.movie_id)]
        closest = max(near, key=lambda m: float(
            recommender.unit_factors[recommender.items.index(m)] @ pick))
        assert item.reason == f"Because you loved {recommender.movie(closest).label}"


def test_a_film_unlike_everything_loved_is_not_said_to_be_because_of_one(recommender):
    """A romance fan's action picks: the romance films they loved are not those films'
    neighbours, so no reason names them."""
    romance = {recommender.movie(m).label for m in ROMANCE}
    action = recommender.recommend(ROMANCE_FAN, 5, genre="Action").items
    assert len(action) == 5
    assert not any(label in item.reason for item in action for label in romance)
    assert {item.reason for item in action} == {"Picked for your taste"}


def test_reasons_never_name_a_film_rated_low(recommender):
    # A romance fan who also rated action films low: an action pick is closest to those, and
    # still the reason names no film rated low.
    mixed = {101: 5.0, 102: 4.5, 1: 1.0, 2: 0.5, 3: 1.5, 4: 2.0}
    low = {recommender.movie(m).label for m, r in mixed.items() if r < 4}
    action = recommender.recommend(mixed, 5, genre="Action").items
    assert action and all(not any(t in i.reason for t in low) for i in action)
    # Nothing rated 4 or more: no film is named at all, however close.
    for shy in ({1: 2.0, 2: 1.0, 101: 3.0, 102: 2.5, 201: 1.5},
                {1: 3.5, 2: 2.0, 101: 1.0, 102: 2.5, 201: 1.5}):
        reasons = {i.reason for i in recommender.recommend(shy, 10).items}
        assert reasons == {"Picked for your taste"}


def test_a_large_catalogue_ranks_personal_lists_among_its_most_rated_films(
        tiny_model_dir, monkeypatch):
    """Past ``PERSONAL_POOL`` films a personal list is ranked among the most rated ones, with
    the scores the whole catalogue would give them; a filter that leaves too few of them
    there is filled from every film."""
    import numpy as np

    import ml.serving.recommender as recommender_module

    full = Recommender.load(tiny_model_dir)
    monkeypatch.setattr(recommender_module, "PERSONAL_POOL", 25)
    pooled = Recommender.load(tiny_model_dir)
    counts = pooled.popularity.counts
    pool = set(pooled.items.ids[np.argsort(-counts, kind="stable")[:25]].tolist())
    listed = pooled.recommend(ACTION_FAN, 10).items
    assert len(listed) == 10 and {r.movie_id for r in listed} <= pool
    everything = {r.movie_id: r.score for r in full.recommend(ACTION_FAN, 50).items}
    for r in listed:
        if r.movie_id in everything:
            assert r.score == pytest.approx(everything[r.movie_id], abs=1e-3)
    in_pool = sum("Comedy" in pooled.movie(m).genres for m in pool)
    comedies = pooled.recommend(ACTION_FAN, in_pool + 3, genre="comedy").items
    assert len(comedies) == in_pool + 3  # more than the pool holds: filled from every film
    assert all("Comedy" in pooled.movie(r.movie_id).genres for r in comedies)


def test_a_pool_list_is_cut_where_its_scores_are_as_if_spread_over_the_catalogue(
        tiny_model_dir, monkeypatch):
    """The pool's scores are cut without spreading them over every film (``rows``), and the
    list is the one the spread scores give: same films, order, stars, scores and reasons,
    with filters, exclusions and without the franchise cap."""
    import numpy as np

    import ml.serving.recommender as recommender_module

    monkeypatch.setattr(recommender_module, "PERSONAL_POOL", 30)
    pooled = Recommender.load(tiny_model_dir)
    assert pooled._pool_blend is not None
    spread = Recommender.load(tiny_model_dir)

    cut_in_pool = []

    def spread_cut(score, n, exclude, allowed, diversify, rows=None):
        cut_in_pool.append(rows is not None)
        if rows is not None:  # what the list would be with the scores over every film
            full = np.full(spread.n_movies, -np.inf, dtype=np.float32)
            full[rows] = score
            return Recommender._cut(spread, full, n, exclude, allowed, diversify)
        return Recommender._cut(spread, score, n, exclude, allowed, diversify)

    monkeypatch.setattr(spread, "_cut", spread_cut)
    requests = [dict(n=10), dict(n=10, genre="comedy"), dict(n=5, diversify=False),
                dict(n=10, exclude=[101, 102, 103]), dict(n=10, year_from=1990)]
    for kwargs in requests:
        assert pooled.recommend(ACTION_FAN, **kwargs) == spread.recommend(ACTION_FAN, **kwargs)
    assert sum(cut_in_pool) >= len(requests) - 1  # a narrow filter may fall back to every film
