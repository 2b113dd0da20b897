"""The contract every scorer keeps, run against each of them through the serving code.

Popularity, FunkSVD by predicted rating and the ranking stage ("blend") all go through
``Recommender.recommend(..., ranker=...)``; whatever a scorer does, the list it yields must
exclude rated films, respect filters before the cut, come out the same on every call, and work
for a newcomer known only by their ratings. Movie ids: 1–20 Action, 101–120 Romance,
201–220 Comedy (tests/synthetic.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.rules import RATING_MAX, RATING_MIN
from ml.serving.discover import discover_scores
from ml.serving.ranking import RANKERS, top_n_indices
from ml.serving.recommender import Recommender

ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}
NEWCOMERS = [{}, {1: 4.0}, ACTION_FAN, {101: 5.0, 102: 4.5, 103: 5.0, 1: 1.0, 2: 1.0}]


@pytest.fixture(scope="module")
def recommender(tiny_model_dir: Path) -> Recommender:
    return Recommender.load(tiny_model_dir)


@pytest.fixture(params=RANKERS)
def ranker(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("ratings", NEWCOMERS)
def test_rated_films_are_never_returned(recommender, ranker, ratings):
    items = recommender.recommend(ratings, 50, ranker=ranker).items
    ids = [r.movie_id for r in items]
    assert ids and not set(ids) & set(ratings)
    assert len(ids) == len(set(ids))
    assert all(RATING_MIN <= r.predicted_rating <= RATING_MAX and r.reason for r in items)


@pytest.mark.parametrize("ratings", [{}, ACTION_FAN])
def test_filters_apply_before_the_cut(recommender, ranker, ratings):
    comedies = recommender.recommend(ratings, 10, genre="Comedy", ranker=ranker).items
    assert len(comedies) == 10
    assert all("Comedy" in recommender.movie(r.movie_id).genres for r in comedies)
    dated = recommender.recommend(ratings, 10, year_from=1990, year_to=1992, ranker=ranker).items
    assert dated and all(1990 <= recommender.movie(r.movie_id).year <= 1992 for r in dated)
    assert recommender.recommend(ratings, 10, genre="No Such Genre", ranker=ranker).items == []


@pytest.mark.parametrize("ratings", NEWCOMERS)
def test_lists_are_deterministic(recommender, ranker, ratings):
    first = recommender.recommend(ratings, 20, ranker=ranker)
    assert first == recommender.recommend(ratings, 20, ranker=ranker)
    assert first == recommender.recommend(dict(reversed(list(ratings.items()))), 20, ranker=ranker)


def test_a_newcomer_is_ranked_from_ratings_alone(recommender, ranker):
    """No stored user: a profile folded in from the ratings gives the same list as none."""
    profile = recommender.profile(ACTION_FAN)
    assert len(profile.rated_indices) == len(ACTION_FAN)
    assert recommender.recommend(ACTION_FAN, 10, ranker=ranker, profile=profile) == (
        recommender.recommend(ACTION_FAN, 10, ranker=ranker))
    with_unknown = {**ACTION_FAN, 987654: 5.0}  # a film the model never saw is ignored
    ids = [r.movie_id for r in recommender.recommend(with_unknown, 10, ranker=ranker).items]
    assert 987654 not in ids and not set(ids) & set(ACTION_FAN)


def test_personal_scorers_say_personalized_and_popularity_does_not(recommender, ranker):
    source = recommender.recommend(ACTION_FAN, 5, ranker=ranker).source
    assert source == ("popularity" if ranker == "popularity" else "personalized")


def test_the_ranking_stage_follows_taste_where_popularity_cannot(recommender):
    # diversify=False: the planted titles ("Action Film 7") all share one franchise stem.
    action = recommender.recommend(ACTION_FAN, 5, ranker="blend", diversify=False).items
    assert all(1 <= r.movie_id <= 20 for r in action[:3])
    popular = recommender.recommend(ACTION_FAN, 5, ranker="popularity").items
    assert popular != action


def test_films_the_catalogue_lacks_do_not_count_toward_a_personal_list(recommender):
    """Four known ratings and one of a film an older model had: still below the threshold."""
    four_known = {1: 5.0, 2: 4.5, 3: 5.0, 4: 4.0}
    assert recommender.recommend({**four_known, 999_999: 5.0}, 5).source == "popularity"
    assert recommender.recommend({**four_known, 5: 4.5}, 5).source == "personalized"
    assert recommender.known_ratings({**four_known, 999_999: 5.0}) == four_known


# -- signals: hidden films and the discover control ----------------------------------------


@pytest.mark.parametrize("ratings", NEWCOMERS)
def test_excluded_films_are_never_returned_and_the_rest_stay(recommender, ranker, ratings):
    before = [r.movie_id for r in recommender.recommend(ratings, 10, ranker=ranker).items]
    hidden = set(before[:3]) | {999_999}  # an id the catalogue lacks is ignored
    after = [r.movie_id for r in recommender.recommend(ratings, 10, ranker=ranker,
                                                       exclude=hidden).items]
    assert len(after) == 10 and not set(after) & hidden
    assert set(before[3:]) <= set(after)


def test_hidden_films_never_come_back_in_similar_films(recommender):
    public = [m.movie_id for m, _ in recommender.similar(1, 5)]
    personal = [m.movie_id for m, _ in recommender.similar(1, 5, exclude={public[0]})]
    assert public[0] not in personal and personal[:4] == public[1:]


@pytest.mark.parametrize("ratings", NEWCOMERS[2:])
def test_discover_zero_is_the_familiar_list(recommender, ratings):
    assert recommender.recommend(ratings, 10, discover=0.0) == recommender.recommend(ratings, 10)


@pytest.mark.parametrize("ratings", NEWCOMERS[2:])
def test_discover_lowers_the_lists_rating_counts_step_by_step(recommender, ratings):
    def median_count(discover: float) -> float:
        items = recommender.recommend(ratings, 10, discover=discover).items
        return float(np.median([recommender.movie(r.movie_id).rating_count for r in items]))

    medians = [median_count(d) for d in (0.0, 0.5, 1.0)]
    assert medians[0] >= medians[1] >= medians[2] and medians[2] < medians[0]


def test_discover_stays_inside_the_persons_best_scored_pool(recommender):
    profile = recommender.profile(ACTION_FAN)
    score = recommender._blend.scores(profile.choice_vector, profile.vector.factors,
                                      len(profile.rated_indices))
    pool = set(top_n_indices(score, 15, exclude=profile.rated_indices).tolist())
    moved = discover_scores(score, np.log1p(recommender.popularity.counts), 1.0,
                            exclude=profile.rated_indices, pool=15)
    best = top_n_indices(moved, 10, exclude=profile.rated_indices)
    assert set(best.tolist()) <= pool
    counts = recommender.popularity.counts
    familiar = top_n_indices(score, 10, exclude=profile.rated_indices)
    assert np.median(counts[best]) < np.median(counts[familiar])


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_discover_outside_zero_to_one_is_refused(recommender, bad):
    with pytest.raises(ValueError, match="discover"):
        recommender.recommend(ACTION_FAN, 10, discover=bad)
