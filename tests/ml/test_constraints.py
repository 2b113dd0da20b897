"""A request's constraints applied to lists, on the tiny planted model.

Movie ids: 1–20 Action, 101–120 Romance, 201–220 Comedy, each genre's films from 1980 to 1999
(see tests/synthetic.py); every film has one genre.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.serving.constraints import MIN_MATCHES, Constraints
from ml.serving.recommender import Recommender

ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}


@pytest.fixture(scope="module")
def recommender(tiny_model_dir: Path) -> Recommender:
    return Recommender.load(tiny_model_dir)


@pytest.mark.parametrize("ratings", [{}, ACTION_FAN])
def test_filters_hold_for_cold_and_personal_lists(recommender, ratings):
    asked = Constraints(genres=("Romance",), year_from=1985, year_to=1995)
    result = recommender.recommend(ratings, 8, constraints=asked)
    assert len(result.items) == 8 and result.relaxed == ()
    assert all(asked.admits(recommender.movie(i.movie_id)) for i in result.items)


def test_a_personal_list_inside_constraints_keeps_the_persons_order(recommender):
    everything = recommender.recommend(ACTION_FAN, 60, diversify=False)
    expected = [i.movie_id for i in everything.items if i.movie_id not in range(201, 221)][:8]
    result = recommender.recommend(ACTION_FAN, 8, diversify=False,
                                   constraints=Constraints(exclude_genres=("Comedy",)))
    assert result.source == "personalized"
    assert [i.movie_id for i in result.items] == expected


def test_too_few_matches_relax_all_genres_to_any_first(recommender):
    asked = Constraints(genres=("Comedy", "Romance"))  # no film is both
    result = recommender.recommend({}, 10, constraints=asked)
    assert [r.step for r in result.relaxed] == ["genres_any"]
    assert "0 films" in result.relaxed[0].reason
    assert len(result.items) == 10
    assert all(set(recommender.movie(i.movie_id).genres) & {"Comedy", "Romance"}
               for i in result.items)


def test_years_widen_then_drop_in_the_stated_order(recommender):
    widened = recommender.recommend({}, 10, constraints=Constraints(year_from=2005))
    assert [r.step for r in widened.relaxed] == ["years_widened"]
    assert all(recommender.movie(i.movie_id).year >= 1995 for i in widened.items)
    dropped = recommender.recommend({}, 10, constraints=Constraints(
        genres=("Action",), year_from=1960, year_to=1965))
    assert [r.step for r in dropped.relaxed] == ["years_widened", "years"]
    assert all("Action" in recommender.movie(i.movie_id).genres for i in dropped.items)


def test_exclusions_are_never_relaxed_and_an_empty_list_says_why(recommender):
    everything = Constraints(exclude_genres=("Action", "Comedy", "Romance"))
    result = recommender.recommend({}, 10, constraints=everything)
    assert result.items == [] and result.relaxed == ()
    assert result.note == "No film is left once Action, Comedy, Romance are excluded"


def test_an_empty_list_tells_rated_everything_from_nothing_matches(recommender):
    """Every Romance film rated: the person has seen them all. A filter that keeps only
    Romance while the request excludes it: no film matches, whatever was rated."""
    romance = {m: 4.0 for m in range(101, 121)}
    rated_all = recommender.recommend(romance, 5, genre="Romance",
                                      constraints=Constraints(year_from=1980))
    assert rated_all.items == []
    assert rated_all.note == "You have rated every film that matches within your filters"
    clash = recommender.recommend({}, 5, genre="Romance",
                                  constraints=Constraints(exclude_genres=("Romance",)))
    assert clash.note == "No film is left within your filters once Romance is excluded"
    none = recommender.recommend({}, 5, year_from=1900, year_to=1901,
                                 constraints=Constraints(genres=("Comedy",)))
    assert none.items == [] and none.note == "No film matches this request within your filters"
    assert all("within your filters" in r.reason for r in none.relaxed)


def test_a_short_exact_list_is_not_padded(recommender):
    rated = {m: 4.0 for m in range(101, 118)}  # 3 romance films left unrated
    result = recommender.recommend(rated, 3, constraints=Constraints(genres=("Romance",)))
    assert min(3, MIN_MATCHES) == 3 and result.relaxed == ()
    assert sorted(i.movie_id for i in result.items) == [118, 119, 120]


@pytest.mark.parametrize("ratings", [{}, ACTION_FAN])
def test_reference_films_pull_the_list_and_are_left_out(recommender, ratings):
    # Without the franchise cap: "Comedy Film 1..20" read as one franchise.
    plain = recommender.recommend(ratings, 10, diversify=False)
    like = recommender.recommend(ratings, 10, diversify=False,
                                 constraints=Constraints(similar_to=(203,)))
    ids = [i.movie_id for i in like.items]
    assert 203 not in ids
    comedies = sum(i in range(201, 221) for i in ids)
    assert comedies > sum(i.movie_id in range(201, 221) for i in plain.items)
    assert all("like Comedy Film 3 · " in i.reason for i in like.items
               if i.movie_id in range(201, 221))


def test_reasons_say_why_it_fits_the_request_and_the_person(recommender):
    result = recommender.recommend(ACTION_FAN, 3, constraints=Constraints(
        genres=("Action",), year_from=1990))
    for item in result.items:
        request, person = item.reason.split(" · ")
        assert request.startswith("Action, 19")
        assert person.startswith("Because you")
