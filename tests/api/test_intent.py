"""GET /intent and GET /recommend?q=: requests in plain words, on the tiny planted model.

Tiny catalogue: "Action Film 1–20" (ids 1–20), "Romance Film …" (101–120), "Comedy Film …"
(201–220), each genre's films from 1980 to 1999.
"""

from __future__ import annotations

from tests.api.conftest import ACTION, ACTION_FAN, COMEDY, ROMANCE
from tests.api.test_recommend import recommend


def test_intent_reads_genres_years_exclusions_films_and_leftovers(client):
    response = client.get("/intent", params={"q": "funny 90s films like Action Film 3, "
                                                  "no romance, on a rainy day"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "query": "funny 90s films like Action Film 3, no romance, on a rainy day",
        "genres": ["Comedy"], "exclude_genres": ["Romance"], "year_from": 1990,
        "year_to": 1999, "similar_to": [{"movie_id": 3, "title": "Action Film 3", "year": 1982,
                        "name": "Action Film 3"}],
        "mood": "funny", "unparsed": ["rainy day"], "parser": "offline", "note": None,
    }


def test_intent_text_must_be_1_to_300_characters(client):
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 301}):
        response = client.get("/intent", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"]
    assert client.get("/intent", params={"q": "x" * 300}).status_code == 200


def test_a_cold_user_gets_the_popular_films_inside_the_request(client, user):
    body = recommend(client, user, q="a comedy from the 90s", n=5)
    assert body["source"] == "popularity"
    assert body["intent"]["genres"] == ["Comedy"]
    assert body["relaxed"] == [] and body["note"] is None
    films = [client.get(f"/movies/{r['movie_id']}").json() for r in body["recommendations"]]
    assert len(films) == 5
    assert all(f["genres"] == ["Comedy"] and 1990 <= f["year"] <= 1999 for f in films)
    assert all(r["reason"].startswith("Comedy, 199")
               for r in body["recommendations"])


def test_a_personal_user_gets_their_ranking_inside_the_request(client, user, rate):
    rate(user, ACTION_FAN)
    body = recommend(client, user, q="no comedy", n=6)
    assert body["source"] == "personalized"
    assert body["intent"]["exclude_genres"] == ["Comedy"]
    assert not {r["movie_id"] for r in body["recommendations"]} & set(COMEDY)
    for item in body["recommendations"]:
        request, person = item["reason"].split(" · ")
        assert request == "no Comedy"
        if item["movie_id"] in ACTION:  # a romance pick is like none of the loved films
            assert person.startswith("Because you loved Action Film ")


def test_too_few_matches_are_relaxed_and_the_answer_says_so(client, user):
    body = recommend(client, user, q="romantic action", n=5)
    assert [r["step"] for r in body["relaxed"]] == ["genres_any"]
    assert "Action and Romance" in body["relaxed"][0]["reason"]
    assert {r["movie_id"] for r in body["recommendations"]} <= set(ACTION) | set(ROMANCE)


def test_an_empty_list_always_says_why(client, user):
    body = recommend(client, user, q="no action, no romance, no comedy")
    assert body["recommendations"] == [] and body["count"] == 0
    assert "excluded" in body["note"]


def test_a_request_with_nothing_usable_says_the_list_is_the_usual_one(client, user):
    body = recommend(client, user, q="zzzz qqqq", n=3)
    assert body["count"] == 3
    assert body["intent"]["unparsed"] == ["zzzz qqqq"]
    assert "could be used" in body["note"]


def test_each_request_gets_its_own_cached_list(client, user):
    comedy = recommend(client, user, q="comedy", n=3)
    romance = recommend(client, user, q="romance", n=3)
    assert {r["movie_id"] for r in comedy["recommendations"]} <= set(COMEDY)
    assert {r["movie_id"] for r in romance["recommendations"]} <= set(ROMANCE)
    assert recommend(client, user, q="comedy", n=3) == comedy


def test_recommend_without_q_is_unchanged(client, user):
    body = recommend(client, user, n=3)
    assert body["intent"] is None and body["relaxed"] == [] and body["note"] is None


def test_recommend_refuses_an_overlong_request(client, user):
    response = client.get("/recommend", params={"user_id": user.user_id, "q": "x" * 301},
                          headers=user.headers)
    assert response.status_code == 422
