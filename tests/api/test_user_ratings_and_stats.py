"""A user's own data: ratings newest first, removing one, statistics over the scale."""

from __future__ import annotations

from itertools import pairwise

from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN, RATING_STEP, RATING_VALUES


def test_ratings_are_listed_newest_first_with_film_details(client, user, rate):
    rate(user, {1: 4.0})
    rate(user, {101: 2.5})
    rate(user, {1: 5.0})  # re-rating makes it the newest
    body = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert body["user_id"] == user.user_id and body["count"] == 2
    assert [r["movie_id"] for r in body["ratings"]] == [1, 101]
    newest = body["ratings"][0]
    assert newest["title"] == "Action Film 1" and newest["genres"] == ["Action"]
    assert newest["rating"] == 5.0 and newest["tmdb_id"] == 1001 and newest["year"] == 1980
    assert newest["created_at"] < newest["updated_at"]
    assert newest["updated_at"].endswith(("Z", "+00:00"))


def test_a_new_user_has_no_ratings(client, user):
    body = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert body == {
        "user_id": user.user_id, "count": 0, "total": 0, "limit": 100, "offset": 0, "ratings": []
    }


def test_deleting_a_rating_can_switch_back_to_popularity(client, user, rate, count_ratings):
    rate(user, {m: 4.0 for m in range(1, PERSONALISATION_THRESHOLD + 1)})
    response = client.delete(f"/users/{user.user_id}/ratings/1", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user.user_id,
        "movie_id": 1,
        "total_user_ratings": PERSONALISATION_THRESHOLD - 1,
        "ratings_needed": 1,
        "recommendation_mode": "popularity",
    }
    assert count_ratings() == PERSONALISATION_THRESHOLD - 1
    recommended = client.get(
        "/recommend", params={"user_id": user.user_id}, headers=user.headers
    ).json()
    assert recommended["source"] == "popularity"


def test_deleting_a_film_not_rated_is_404(client, user, rate):
    rate(user, {1: 4.0})
    response = client.delete(f"/users/{user.user_id}/ratings/2", headers=user.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": f"user {user.user_id} has not rated movie 2"}


def test_the_scale_comes_from_the_rules():
    scale = list(RATING_VALUES)
    assert scale[0] == RATING_MIN and scale[-1] == RATING_MAX
    assert all(b - a == RATING_STEP for a, b in pairwise(scale))


def test_stats_cover_the_whole_scale_and_rank_genres(client, user, rate):
    rate(user, {1: 5.0, 2: 4.0, 3: 4.0, 101: 1.0, 201: 3.0})
    body = client.get(f"/user/{user.user_id}/stats", headers=user.headers).json()
    assert body["user_id"] == user.user_id and body["total_ratings"] == 5
    assert body["average_rating"] == 3.4
    histogram = {row["rating"]: row["count"] for row in body["rating_histogram"]}
    assert list(histogram) == list(RATING_VALUES) and len(histogram) == 10
    assert histogram[5.0] == 1 and histogram[4.0] == 2 and histogram[1.0] == 1
    assert sum(histogram.values()) == 5
    assert body["top_genres"][0] == {"genre": "Action", "count": 3, "average_rating": 4.33}
    assert {g["genre"] for g in body["top_genres"]} == {"Action", "Romance", "Comedy"}
    assert body["recommendation_type"] == "personalized" and body["ratings_needed"] == 0


def test_stats_of_a_new_user(client, user):
    body = client.get(f"/user/{user.user_id}/stats", headers=user.headers).json()
    assert body["total_ratings"] == 0 and body["average_rating"] is None
    assert all(row["count"] == 0 for row in body["rating_histogram"])
    assert body["top_genres"] == []
    assert body["recommendation_type"] == "popularity"
    assert body["ratings_needed"] == PERSONALISATION_THRESHOLD
