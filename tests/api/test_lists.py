"""Signals people give: hide, watchlist, skip; and the per-user views that honour them.

The ownership checks (401/403 on every route) are in tests/reliability/test_security.py,
which finds these routes in the OpenAPI schema.
"""

from __future__ import annotations

import statistics

from tests.api.conftest import ACTION_FAN
from tests.api.test_recommend import ids, recommend


def put(client, who, kind, movie_id):
    return client.put(f"/users/{who.user_id}/{kind}/{movie_id}", headers=who.headers)


def delete(client, who, kind, movie_id):
    return client.delete(f"/users/{who.user_id}/{kind}/{movie_id}", headers=who.headers)


def listed(client, who, kind):
    response = client.get(f"/users/{who.user_id}/{kind}", headers=who.headers)
    assert response.status_code == 200, response.text
    return [m["movie_id"] for m in response.json()["movies"]]


def test_a_hidden_film_leaves_the_personal_list_and_comes_back_when_unhidden(client, user, rate):
    rate(user, ACTION_FAN)
    before = ids(recommend(client, user))
    first = before[0]
    response = put(client, user, "hidden", first)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": user.user_id, "movie_id": first, "list": "hidden",
                               "on_list": True, "changed": True}
    after = ids(recommend(client, user))
    assert first not in after and set(before) - {first} <= set(after)
    assert listed(client, user, "hidden") == [first]
    assert delete(client, user, "hidden", first).json()["changed"] is True
    assert ids(recommend(client, user)) == before


def test_a_hidden_film_leaves_the_popular_list_too(client, user):
    popular = ids(recommend(client, user))
    put(client, user, "hidden", popular[0])
    assert popular[0] not in ids(recommend(client, user))


def test_putting_and_removing_twice_is_not_an_error(client, user):
    assert put(client, user, "watchlist", 3).json()["changed"] is True
    assert put(client, user, "watchlist", 3).json()["changed"] is False
    assert delete(client, user, "watchlist", 3).json() == {
        "user_id": user.user_id, "movie_id": 3, "list": "watchlist", "on_list": False,
        "changed": True}
    assert delete(client, user, "watchlist", 3).json()["changed"] is False


def test_the_watchlist_lists_films_newest_first_and_does_not_hide_them(client, user, rate):
    rate(user, ACTION_FAN)
    shown = ids(recommend(client, user))
    for movie_id in (shown[0], 201):
        assert put(client, user, "watchlist", movie_id).status_code == 200
    body = client.get(f"/users/{user.user_id}/watchlist", headers=user.headers).json()
    assert body["count"] == 2 and body["list"] == "watchlist"
    assert {m["movie_id"] for m in body["movies"]} == {shown[0], 201}
    assert {"title", "subtitle", "genres", "added_at"} <= set(body["movies"][0])
    assert ids(recommend(client, user)) == shown  # still recommended


def test_an_unknown_film_is_404_and_nothing_is_stored(client, user):
    response = put(client, user, "hidden", 999_999)
    assert response.status_code == 404
    assert response.json() == {"detail": "movie 999999 not found"}
    assert listed(client, user, "hidden") == []


def test_lists_are_per_user(client, new_user):
    one, two = new_user(), new_user()
    put(client, one, "watchlist", 5)
    assert listed(client, one, "watchlist") == [5] and listed(client, two, "watchlist") == []


def test_the_personal_deck_skips_rated_hidden_and_skipped_films(client, user, rate):
    deck = client.get(f"/users/{user.user_id}/onboarding", params={"n": 6},
                      headers=user.headers).json()["movies"]
    first, second, third = (m["movie_id"] for m in deck[:3])
    rate(user, {first: 4.0})
    put(client, user, "skipped", second)
    put(client, user, "hidden", third)
    again = client.get(f"/users/{user.user_id}/onboarding", params={"n": 50},
                       headers=user.headers).json()["movies"]
    assert {first, second, third}.isdisjoint(m["movie_id"] for m in again)


def test_skipped_films_leave_the_list(client, user):
    popular = ids(recommend(client, user))
    put(client, user, "skipped", popular[1])
    assert popular[1] not in ids(recommend(client, user))


def test_similar_for_a_user_drops_hidden_films_and_marks_rated_and_watchlisted(
    client, user, rate
):
    public = client.get("/movies/1/similar", params={"n": 5}).json()["similar"]
    hidden, rated, kept = (m["movie_id"] for m in public[:3])
    put(client, user, "hidden", hidden)
    put(client, user, "watchlist", kept)
    rate(user, {rated: 4.5})
    body = client.get(f"/users/{user.user_id}/similar/1", params={"n": 5},
                      headers=user.headers).json()
    by_id = {m["movie_id"]: m for m in body["similar"]}
    assert hidden not in by_id and body["count"] == 5
    assert by_id[rated]["your_rating"] == 4.5 and by_id[kept]["on_watchlist"] is True
    assert by_id[kept]["your_rating"] is None


def test_discover_moves_the_personal_list_away_from_the_most_rated(client, user, rate):
    rate(user, ACTION_FAN)
    counts = {m["movie_id"]: m["rating_count"]
              for m in client.get("/movies", params={"limit": 100}).json()["items"]}
    familiar = ids(recommend(client, user, n=5))
    discovered = ids(recommend(client, user, n=5, discover=1))
    assert discovered != familiar
    assert statistics.median(counts[m] for m in discovered) < statistics.median(
        counts[m] for m in familiar)
    assert ids(recommend(client, user, n=5, discover=0)) == familiar
    assert set(discovered).isdisjoint(ACTION_FAN)  # never a rated film


def test_discover_outside_zero_to_one_is_a_422(client, user):
    for bad in ("-0.1", "1.5", "nan", "lots"):
        response = client.get("/recommend", params={"user_id": user.user_id, "discover": bad},
                              headers=user.headers)
        assert response.status_code == 422, (bad, response.text)
        assert "discover" in response.json()["detail"]


def test_stored_skips_reach_the_ranking_profile(client, user, rate, app, monkeypatch):
    """The newcomers' "haven't seen it" signal (``Recommender.profile(skipped=)``) hears the
    skips stored here, and a skip made later is never answered from an older cached list."""
    recommender = app.state.services.recommender
    seen: list[tuple[int, ...]] = []
    real = recommender.profile

    def spy(ratings, skipped=()):
        seen.append(tuple(sorted(skipped)))
        return real(ratings, skipped)

    monkeypatch.setattr(recommender, "profile", spy)
    rate(user, ACTION_FAN)
    recommend(client, user)
    put(client, user, "skipped", 201)
    put(client, user, "skipped", 7)
    body = recommend(client, user)
    assert seen[0] == () and seen[-1] == (7, 201)
    assert {7, 201}.isdisjoint(ids(body))


def test_a_write_racing_the_accounts_deletion_is_a_409_not_a_500(client, user, monkeypatch):
    """The token was checked just before the delete committed: the write then breaks the
    foreign key, and the answer says nothing was saved (the race, made deterministic by
    passing the check after the delete)."""
    from api import auth

    assert client.delete(f"/users/{user.user_id}", headers=user.headers).status_code == 204
    monkeypatch.setattr(auth, "authorize", lambda session, user_id, token: 1)
    response = put(client, user, "watchlist", 1)
    assert response.status_code == 409, response.text
    assert response.json()["detail"].startswith("Nothing was saved")


def test_a_film_rated_anywhere_leaves_the_watchlist(client, user, rate):
    for movie_id in (1, 2, 3):
        assert put(client, user, "watchlist", movie_id).status_code == 200
    rate(user, {1: 4.0})
    file = b"userId,movieId,rating,timestamp\n1,2,3,1600000000\n"
    response = client.post(f"/users/{user.user_id}/import", headers=user.headers,
                           files={"file": ("ratings.csv", file, "text/csv")})
    assert response.status_code == 200, response.text
    assert listed(client, user, "watchlist") == [3]
