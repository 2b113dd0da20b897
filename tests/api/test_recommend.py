"""GET /recommend: popularity below the threshold, personal from it, filters, exclusions."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from db import repository
from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN, ratings_needed
from tests.api.conftest import ACTION, ACTION_FAN, COMEDY, ROMANCE, ROMANCE_FAN


def recommend(client, user, **params):
    response = client.get(
        "/recommend", params={"user_id": user.user_id, **params}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def ids(body):
    return [r["movie_id"] for r in body["recommendations"]]


def test_a_new_user_gets_the_popular_list_and_is_told_how_many_ratings_to_go(client, user, app):
    body = recommend(client, user)
    assert body["source"] == "popularity"
    assert body["ratings_needed"] == PERSONALISATION_THRESHOLD
    assert body["count"] == len(body["recommendations"]) == 10
    assert body["model_version"] == app.state.services.recommender.model_version
    first = body["recommendations"][0]
    assert set(first) == {
        "movie_id",
        "title",
        "subtitle",
        "year",
        "genres",
        "tmdb_id",
        "predicted_rating",
        "score",
        "reason",
    }


def test_the_list_switches_to_personal_at_the_threshold_not_before(client, user, rate):
    films = list(ACTION_FAN.items())
    rate(user, dict(films[: PERSONALISATION_THRESHOLD - 1]))
    before = recommend(client, user)
    assert before["source"] == "popularity"
    assert before["ratings_needed"] == ratings_needed(PERSONALISATION_THRESHOLD - 1) == 1
    answer = rate(user, dict(films[PERSONALISATION_THRESHOLD - 1 : PERSONALISATION_THRESHOLD]))
    assert answer["recommendation_mode"] == "personalized" and answer["ratings_needed"] == 0
    after = recommend(client, user)
    assert after["source"] == "personalized"
    assert after["ratings_needed"] == 0


def test_opposite_tastes_get_clearly_different_lists(client, new_user, rate):
    action_fan, romance_fan = new_user(), new_user()
    rate(action_fan, ACTION_FAN)
    rate(romance_fan, ROMANCE_FAN)
    action = ids(recommend(client, action_fan))
    romance = ids(recommend(client, romance_fan))
    assert sum(m in ACTION for m in action) > sum(m in ROMANCE for m in action)
    assert sum(m in ROMANCE for m in romance) > sum(m in ACTION for m in romance)
    assert len(set(action) & set(romance)) <= 4


@pytest.mark.parametrize("ratings", [{1: 4.0, 2: 3.0}, ACTION_FAN])
def test_rated_films_are_never_recommended(client, user, rate, ratings):
    rate(user, ratings)
    body = recommend(client, user, n=100)
    assert not set(ids(body)) & set(ratings)
    assert len(ids(body)) == len(set(ids(body)))


def test_predicted_ratings_are_on_the_scale(client, new_user, rate):
    for ratings in ({}, ACTION_FAN, {m: RATING_MAX for m in ACTION[:6]}):
        who = new_user()
        if ratings:
            rate(who, ratings)
        for item in recommend(client, who, n=100)["recommendations"]:
            assert RATING_MIN <= item["predicted_rating"] <= RATING_MAX


def test_a_changed_rating_changes_the_list_at_once(client, user, rate):
    """The cached profile must not outlive the ratings it came from."""
    rate(user, ACTION_FAN)
    action = ids(recommend(client, user))
    rate(user, ROMANCE_FAN)  # same films, opposite values
    romance = ids(recommend(client, user))
    assert sum(m in ROMANCE for m in romance) > sum(m in ROMANCE for m in action)


def test_a_worker_never_serves_a_profile_another_worker_made_stale(settings, client, user, rate):
    """Two apps on one database stand for two uvicorn workers: they share rows, not caches."""
    rate(user, ACTION_FAN)
    with TestClient(create_app(settings)) as other_worker:
        action = ids(recommend(other_worker, user))  # other worker caches the action profile
        rate(user, ROMANCE_FAN)  # written through the first worker
        romance = ids(recommend(other_worker, user))
    assert sum(m in ACTION for m in action) > sum(m in ROMANCE for m in action)
    assert sum(m in ROMANCE for m in romance) > sum(m in ACTION for m in romance)


def test_a_film_rated_through_another_worker_leaves_its_cached_list(settings, client, user, rate):
    """The popular list is cached too: rating its top film elsewhere must still remove it."""
    with TestClient(create_app(settings)) as other_worker:
        top = ids(recommend(other_worker, user))[0]
        rate(user, {top: 4.0})  # through the first worker; still below the threshold
        assert top not in ids(recommend(other_worker, user))


@pytest.mark.parametrize("ratings", [{}, ACTION_FAN])
def test_a_repeated_request_is_served_without_ranking_again(
    client, app, user, rate, ratings, monkeypatch
):
    if ratings:
        rate(user, ratings)
    recommender = app.state.services.recommender
    calls = []
    real = recommender.recommend
    monkeypatch.setattr(recommender, "recommend", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = recommend(client, user, n=5)
    assert recommend(client, user, n=5) == first and len(calls) == 1
    assert len(recommend(client, user, n=6)["recommendations"]) == 6 and len(calls) == 2
    rate(user, {220: 3.0})  # new ratings: nothing served from before
    assert 220 not in ids(recommend(client, user, n=5)) and len(calls) == 3


@pytest.mark.parametrize("ratings", [{}, ACTION_FAN])
def test_genre_and_year_filters_apply_before_the_cut(client, app, user, rate, ratings):
    if ratings:
        rate(user, ratings)
    comedies = recommend(client, user, n=10, genre="comedy")  # any case
    assert comedies["count"] == 10
    assert all(m in COMEDY for m in ids(comedies))
    dated = recommend(client, user, n=5, year_from=1990, year_to=1992)
    assert dated["count"] == 5
    assert all(1990 <= r["year"] <= 1992 for r in dated["recommendations"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "query parameter n"),
        ({"n": 101}, "query parameter n"),
        ({"genre": "Western"}, "unknown genre 'Western'"),
        ({"year_from": 2000, "year_to": 1990}, "year_from (2000) must not be after year_to"),
        ({"year_from": "soon"}, "query parameter year_from"),
    ],
)
def test_bad_parameters_are_422_with_a_readable_detail(client, user, params, message):
    response = client.get(
        "/recommend", params={"user_id": user.user_id, **params}, headers=user.headers
    )
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_bad_parameters_are_refused_before_the_database_is_read(client, new_user, monkeypatch):
    # A 422 for the request itself comes first: not even the token is checked (no read).
    owner, stranger = new_user(), new_user()
    reads = []
    original = repository.token_ratings_and_excluded
    monkeypatch.setattr(
        repository,
        "token_ratings_and_excluded",
        lambda *args: reads.append(args) or original(*args),
    )
    for params in ({"year_from": 2000, "year_to": 1990}, {"genre": "Western"}):
        response = client.get(
            "/recommend", params={"user_id": owner.user_id, **params},
            headers=stranger.headers,
        )
        assert response.status_code == 422, response.text
    assert reads == []
    forbidden = client.get(
        "/recommend", params={"user_id": owner.user_id}, headers=stranger.headers
    )
    assert forbidden.status_code == 403 and len(reads) == 1


def test_n_bounds_are_inclusive(client, user):
    assert recommend(client, user, n=1)["count"] == 1
    assert recommend(client, user, n=100)["count"] == 60  # the whole tiny catalogue


@pytest.mark.parametrize("params", [{"genre": "Action"}, {"q": "action films"}, {}])
def test_a_reason_names_only_a_loved_film_among_the_picks_neighbours(
        client, user, rate, params):
    """"Because you loved X": X rated 4 or more and among the pick's nearest films (its
    neighbourhood is the 1% of the catalogue closest to it, at least 10 films: /similar's
    first 10 here); a romance fan's action picks are like none of the romance films."""
    rate(user, ROMANCE_FAN)
    loved = {m for m, r in ROMANCE_FAN.items() if r >= 4}
    label = {m: f"{client.get(f'/movies/{m}').json()['title']} ("
                f"{client.get(f'/movies/{m}').json()['year']})" for m in ROMANCE_FAN}
    body = recommend(client, user, n=10, **params)
    assert body["source"] == "personalized" and body["count"] == 10
    for item in body["recommendations"]:
        named = [m for m in ROMANCE_FAN if f"Because you loved {label[m]}" in item["reason"]]
        if not named:
            continue
        near = client.get(f"/movies/{item['movie_id']}/similar", params={"n": 10}).json()
        assert named[0] in loved
        assert named[0] in {s["movie_id"] for s in near["similar"]}, item
    if params:
        assert not any("Because you loved" in r["reason"] for r in body["recommendations"])
