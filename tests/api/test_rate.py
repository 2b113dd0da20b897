"""POST /rate: strict validation, all-or-nothing batches, upsert semantics, concurrency."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import MAX_RATINGS_PER_REQUEST
from db import repository
from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN, RATING_STEP
from tests.api.conftest import ACTION, COMEDY, ROMANCE, User


def post_rate(client, user, ratings, user_id=None):
    body = {"user_id": user.user_id if user_id is None else user_id, "ratings": ratings}
    return client.post("/rate", json=body, headers=user.headers)


def test_a_batch_is_saved_and_the_answer_says_how_far_from_personal(client, user):
    response = post_rate(
        client, user, [{"movie_id": 1, "rating": 4.5}, {"movie_id": 101, "rating": 2}]
    )
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user.user_id,
        "saved": 2,
        "total_user_ratings": 2,
        "ratings_needed": PERSONALISATION_THRESHOLD - 2,
        "recommendation_mode": "popularity",
    }


def test_json_integers_are_ratings_too(client, user):
    assert post_rate(client, user, [{"movie_id": 1, "rating": 4}]).status_code == 200
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert listed["ratings"][0]["rating"] == 4.0


@pytest.mark.parametrize("value", [RATING_MIN, RATING_MIN + RATING_STEP, 3.5, RATING_MAX])
def test_every_step_of_the_scale_is_accepted(client, user, value):
    assert post_rate(client, user, [{"movie_id": 1, "rating": value}]).status_code == 200


def test_a_value_a_rounding_error_off_a_step_is_stored_on_the_step(client, user):
    """4.5000000001 passes the step check (float tolerance); the scale's 4.5 is what lands,
    so the stats histogram keeps exactly one bin per step."""
    assert post_rate(client, user, [{"movie_id": 1, "rating": 4.5000000001}]).status_code == 200
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert listed["ratings"][0]["rating"] == 4.5
    stats = client.get(f"/user/{user.user_id}/stats", headers=user.headers).json()
    assert len(stats["rating_histogram"]) == 10
    assert {"rating": 4.5, "count": 1} in stats["rating_histogram"]


@pytest.mark.parametrize(
    ("rating", "why"),
    [
        (True, "valid number"),
        ("4.5", "valid number"),
        (None, "valid number"),
        (0.3, "greater than or equal to 0.5"),
        (0.0, "greater than or equal to 0.5"),
        (5.5, "less than or equal to 5"),
        (4.25, "multiple of 0.5"),
        (-1, "greater than or equal"),
    ],
)
def test_a_rating_off_the_scale_or_not_a_number_is_422_naming_the_field(
    client, user, count_ratings, rating, why
):
    response = post_rate(
        client, user, [{"movie_id": 1, "rating": 4}, {"movie_id": 2, "rating": rating}]
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "ratings[1].rating" in detail and why in detail
    assert count_ratings() == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_ratings_are_422(client, user, count_ratings, literal):
    # Python's JSON parser accepts these literals, so they reach validation and must stop there.
    raw = f'{{"user_id": {user.user_id}, "ratings": [{{"movie_id": 1, "rating": {literal}}}]}}'
    response = client.post(
        "/rate", content=raw, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "finite number" in response.json()["detail"]
    assert count_ratings() == 0


def test_an_empty_batch_is_422(client, user):
    response = post_rate(client, user, [])
    assert response.status_code == 422
    assert "ratings" in response.json()["detail"]


def test_more_than_the_batch_cap_is_422_and_the_cap_itself_is_fine(client, user, count_ratings):
    too_many = [{"movie_id": m, "rating": 3} for m in range(1, MAX_RATINGS_PER_REQUEST + 2)]
    response = post_rate(client, user, too_many)
    assert response.status_code == 422
    assert f"at most {MAX_RATINGS_PER_REQUEST}" in response.json()["detail"]
    assert count_ratings() == 0
    catalogue = [*ACTION, *ROMANCE, *COMEDY]
    # The tiny catalogue has 60 films, so the cap itself is shown by unknown ids being checked
    # (404), i.e. validation let a batch of exactly MAX_RATINGS_PER_REQUEST through.
    at_cap = [{"movie_id": m, "rating": 3} for m in range(1, MAX_RATINGS_PER_REQUEST + 1)]
    assert post_rate(client, user, at_cap).status_code == 404
    ok = [{"movie_id": m, "rating": 3} for m in catalogue]
    assert post_rate(client, user, ok).status_code == 200


def test_a_film_twice_in_one_batch_is_422_listing_it(client, user, count_ratings):
    response = post_rate(
        client,
        user,
        [{"movie_id": 7, "rating": 3}, {"movie_id": 1, "rating": 4}, {"movie_id": 7, "rating": 5}],
    )
    assert response.status_code == 422
    assert "repeated: [7]" in response.json()["detail"]
    assert count_ratings() == 0


def test_unknown_films_are_404_listing_every_one_and_nothing_is_written(
    client, user, count_ratings
):
    response = post_rate(
        client,
        user,
        [
            {"movie_id": 1, "rating": 4},
            {"movie_id": 999999, "rating": 4},
            {"movie_id": 424242, "rating": 3},
        ],
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown movie ids: [424242, 999999]"}
    assert count_ratings() == 0


@pytest.mark.parametrize("movie_id", [True, "1", 0, 2**63, 1.5])
def test_movie_ids_are_strict_bounded_integers(client, user, movie_id):
    assert post_rate(client, user, [{"movie_id": movie_id, "rating": 4}]).status_code == 422


@pytest.mark.parametrize("user_id", [2**63, 0, -1, "1", True])
def test_a_user_id_out_of_range_or_not_an_integer_is_422_json_not_500(client, user, user_id):
    response = post_rate(client, user, [{"movie_id": 1, "rating": 4}], user_id=user_id)
    assert response.status_code == 422
    assert "user_id" in response.json()["detail"]


def test_malformed_json_is_422_json(client, user):
    response = client.post(
        "/rate", content="{not json", headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_rerating_updates_in_place_keeping_created_at(app, client, user, rate):
    rate(user, {1: 2.0, 2: 3.0})
    first = {
        r["movie_id"]: r
        for r in client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()[
            "ratings"
        ]
    }
    answer = rate(user, {1: 4.5})
    assert answer["saved"] == 1 and answer["total_user_ratings"] == 2
    after = {
        r["movie_id"]: r
        for r in client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()[
            "ratings"
        ]
    }
    assert after[1]["rating"] == 4.5
    assert after[1]["created_at"] == first[1]["created_at"]
    assert datetime.fromisoformat(after[1]["updated_at"]) > datetime.fromisoformat(
        first[1]["updated_at"]
    )
    assert after[2] == first[2]


def test_a_failing_write_rolls_the_whole_batch_back(app, client, user, count_ratings, monkeypatch):
    """The upsert runs, then the transaction fails: none of the batch may remain."""

    def failing_count(session, user_id):
        raise RuntimeError("simulated failure after the upsert")

    monkeypatch.setattr(repository, "count_user_ratings", failing_count)
    response = post_rate(client, user, [{"movie_id": m, "rating": 4} for m in (1, 2, 3)])
    assert response.status_code == 500
    monkeypatch.undo()
    assert count_ratings() == 0


def test_concurrent_batches_from_eight_threads_lose_nothing(settings):
    """8 threads × 50 /rate calls against one SQLite file: every write lands, in order.

    50 writes a second for one user is no person's pace, so the per-user write limit is
    lifted here (tests/reliability covers the limit itself).
    """
    unlimited = settings.model_copy(update={"write_limit_per_minute": 0})
    with TestClient(create_app(unlimited)) as client:
        _eight_threads_lose_nothing(client)


def _eight_threads_lose_nothing(client):
    users = [User(**client.post("/users").json()) for _ in range(8)]
    films = [*ACTION, *ROMANCE, *COMEDY][:50]
    failures: list[str] = []

    def worker(index: int) -> None:
        who = users[index]
        for k, movie_id in enumerate(films):
            value = RATING_MIN + ((index + k) % 10) * RATING_STEP
            response = post_rate(client, who, [{"movie_id": movie_id, "rating": value}])
            if response.status_code != 200 or response.json()["total_user_ratings"] != k + 1:
                failures.append(f"user {index} call {k}: {response.status_code} {response.text}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for index, who in enumerate(users):
        stored = client.get(f"/users/{who.user_id}/ratings", headers=who.headers).json()
        values = {r["movie_id"]: r["rating"] for r in stored["ratings"]}
        assert values == {
            m: RATING_MIN + ((index + k) % 10) * RATING_STEP for k, m in enumerate(films)
        }


def test_the_body_example_in_the_docs_passes_validation(app, client, user):
    example = app.openapi()["components"]["schemas"]["RateRequest"]["examples"][0]
    response = client.post("/rate", json={**example, "user_id": user.user_id}, headers=user.headers)
    # The example's ids are real MovieLens ids: saved on the shipped model, unknown (404) on the
    # tiny one; either way the example itself is a valid body.
    assert response.status_code != 422, response.text


def test_a_removed_rating_put_back_with_its_dates_keeps_them(client, user, rate):
    """Undo: DELETE, then POST /rate with the row's own dates; the history shows it as it
    was, in its old place (newest first by the last change)."""
    rate(user, {1: 2.0})
    rate(user, {2: 3.0})
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()["ratings"]
    older = next(r for r in listed if r["movie_id"] == 1)
    assert client.delete(f"/users/{user.user_id}/ratings/1", headers=user.headers).status_code \
        == 200
    put_back = {key: older[key] for key in ("movie_id", "rating", "created_at", "updated_at")}
    assert post_rate(client, user, [put_back]).status_code == 200
    after = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()["ratings"]
    assert [r["movie_id"] for r in after] == [2, 1]
    assert after[1] == older


@pytest.mark.parametrize(
    "dates",
    [
        {"created_at": "2999-01-01T00:00:00Z"},  # the future
        {"created_at": "2020-01-01T00:00:00"},  # no timezone
        {"updated_at": "2020-01-01T00:00:00Z"},  # a change without a first rating
        {"created_at": "2020-01-02T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"},
        {"created_at": "1969-12-31T23:59:59Z"},  # before any rating could be
        # Year 1 an hour east of UTC: not even convertible to UTC (it was a 500).
        {"created_at": "0001-01-01T00:00:00+01:00"},
        {"created_at": 1600000000},  # a number, where the schema says an ISO 8601 string
        {"created_at": "0"},  # a number in a string: pydantic alone would read 1970
    ],
)
def test_dates_that_cannot_be_a_past_rating_are_422(client, user, count_ratings, dates):
    response = post_rate(client, user, [{"movie_id": 1, "rating": 4.0, **dates}])
    assert response.status_code == 422, response.text
    assert count_ratings() == 0


def test_a_date_sent_for_a_film_rated_since_never_winds_its_last_change_back(
        client, user, rate):
    """Re-rating with an old ``created_at`` keeps the row's own first date, and its last change
    is not set before it: the rating changed now stays newer than an older import's."""
    rate(user, {1: 5.0})
    old = {"movie_id": 1, "rating": 1.0, "created_at": "2020-01-01T00:00:00Z"}
    assert post_rate(client, user, [old]).status_code == 200
    (row,) = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()["ratings"]
    assert row["rating"] == 1.0
    assert row["updated_at"] >= row["created_at"] > "2021"
    older_file = b"userId,movieId,rating,timestamp\n1,1,3,1600000000\n"  # September 2020
    response = client.post(f"/users/{user.user_id}/import", headers=user.headers,
                           files={"file": ("ratings.csv", older_file, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.json()["saved"] == 0
    (row,) = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()["ratings"]
    assert row["rating"] == 1.0


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_json_body_labelled_otherwise_is_told_to_say_json(client, user, count_ratings,
                                                             content_type):
    body = json.dumps({"user_id": user.user_id, "ratings": [{"movie_id": 1, "rating": 4.0}]})
    response = client.post("/rate", content=body,
                           headers={**user.headers, "Content-Type": content_type})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "request body: send it as JSON with Content-Type: application/json "
        f"(got Content-Type: {content_type})")
    assert count_ratings() == 0
