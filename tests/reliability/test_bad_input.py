"""Hostile and careless input: each gets a clear 4xx in the JSON error shape, nothing is written.

A user id of 2^63 must not give a 500 carrying Python's error text. Every id position (path,
query, body), every number field and every body shape is tried with values out of range, of the
wrong type, too big or empty; each answer must be a 4xx whose ``detail`` names the problem, and
the database must hold exactly what it held. Search text is not an error however odd: SQL
metacharacters and any script are just text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from api.schemas import MAX_RATINGS_PER_REQUEST
from api.settings import Settings
from db.models import Rating
from db.models import User as UserRow
from ml.serving.artifacts import save_artifact
from ml.training.pipeline import fit_artifact
from tests.api.conftest import ACTION, User
from tests.synthetic import TINY_PARAMS, planted_movies, planted_ratings

HUGE_IDS = [2**63, 2**64, 10**30, -1, 0, -(2**63) - 1]
SQL = "1; DROP TABLE ratings; --"


@pytest.fixture
def owner(new_user: Callable[[], User], rate: Callable) -> User:
    """A user who already rated two films, so "nothing written" has something to keep."""
    who = new_user()
    rate(who, {1: 4.0, 2: 3.5})
    return who


@pytest.fixture
def unchanged(app, client, owner) -> Iterator[None]:
    """Fail the test if the users or ratings tables differ after it from before it."""

    def snapshot() -> tuple[int, list[tuple[int, int, float]]]:
        with app.state.services.session_factory() as session:
            users = session.scalar(select(func.count()).select_from(UserRow)) or 0
            rows = session.execute(
                select(Rating.user_id, Rating.movie_id, Rating.rating).order_by(
                    Rating.user_id, Rating.movie_id
                )
            ).all()
        return users, [tuple(row) for row in rows]

    before = snapshot()
    yield
    assert snapshot() == before, "a refused request changed the database"


def post_raw(client: TestClient, who: User, body: bytes | str, **headers: str):
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        "/rate",
        content=content,
        headers={"Content-Type": "application/json", **who.headers, **headers},
    )


def assert_clear_4xx(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word in detail, detail
    for leak in ("Traceback", 'File "', ".py", "sqlite", "SELECT", "INSERT"):
        assert leak not in response.text


# -- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", HUGE_IDS)
def test_huge_and_negative_user_ids_are_422_everywhere(client, owner, unchanged, bad):
    body = {"user_id": bad, "ratings": [{"movie_id": 1, "rating": 4}]}
    answers = {
        "POST /rate": client.post("/rate", json=body, headers=owner.headers),
        "GET /recommend": client.get(f"/recommend?user_id={bad}", headers=owner.headers),
        "GET stats": client.get(f"/user/{bad}/stats", headers=owner.headers),
        "GET ratings": client.get(f"/users/{bad}/ratings", headers=owner.headers),
        "DELETE": client.delete(f"/users/{bad}/ratings/1", headers=owner.headers),
    }
    for route, response in answers.items():
        assert response.status_code == 422, (route, response.text)
        assert "user_id" in response.json()["detail"], route


@pytest.mark.parametrize("bad", HUGE_IDS)
def test_huge_and_negative_movie_ids_are_422_everywhere(client, owner, unchanged, bad):
    body = {"user_id": owner.user_id, "ratings": [{"movie_id": bad, "rating": 4}]}
    answers = {
        "POST /rate": client.post("/rate", json=body, headers=owner.headers),
        "GET movie": client.get(f"/movies/{bad}"),
        "GET similar": client.get(f"/movies/{bad}/similar"),
        "DELETE": client.delete(f"/users/{owner.user_id}/ratings/{bad}", headers=owner.headers),
    }
    for route, response in answers.items():
        assert response.status_code == 422, (route, response.text)
        assert "movie_id" in response.json()["detail"], route


def test_the_largest_valid_ids_are_simply_unknown(client, owner, unchanged):
    largest = 2**63 - 1
    assert client.get(f"/movies/{largest}").status_code == 404
    # Not the owner's id: the same 403 as any other user's, existing or not.
    assert client.get(f"/user/{largest}/stats", headers=owner.headers).status_code == 403
    body = {"user_id": owner.user_id, "ratings": [{"movie_id": largest, "rating": 4}]}
    assert_clear_4xx(client.post("/rate", json=body, headers=owner.headers), 404, str(largest))


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("rating", ["NaN", "Infinity", "-Infinity", "1e400", "-0.0", "4.25"])
def test_nan_infinite_and_off_scale_ratings_are_422(client, owner, unchanged, rating):
    # Python's JSON reader accepts NaN/Infinity literals and turns 1e400 into inf.
    body = f'{{"user_id": {owner.user_id}, "ratings": [{{"movie_id": 1, "rating": {rating}}}]}}'
    assert_clear_4xx(post_raw(client, owner, body), 422, "rating")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rating", '"4.5"'),
        ("rating", "true"),
        ("rating", "null"),
        ("rating", "[4.5]"),
        ("movie_id", '"1"'),
        ("movie_id", "1.0"),
        ("movie_id", "true"),
        ("user_id", '"{uid}"'),
        ("user_id", "{uid}.5"),
    ],
)
def test_strings_and_other_types_for_numbers_are_422(client, owner, unchanged, field, value):
    item = {"movie_id": "1", "rating": "4"}
    top = {"user_id": str(owner.user_id)}
    (item if field in item else top)[field] = value.format(uid=owner.user_id)
    body = (
        f'{{"user_id": {top["user_id"]}, '
        f'"ratings": [{{"movie_id": {item["movie_id"]}, "rating": {item["rating"]}}}]}}'
    )
    assert_clear_4xx(post_raw(client, owner, body), 422, field)


@pytest.mark.parametrize(
    "query",
    ["n=abc", "n=0", "n=101", "n=1e3", "year_from=abc", "year_from=1990&year_to=1980"],
)
def test_bad_query_numbers_are_422(client, owner, unchanged, query):
    response = client.get(f"/recommend?user_id={owner.user_id}&{query}", headers=owner.headers)
    assert_clear_4xx(response, 422)


# -- sizes ------------------------------------------------------------------------------------


def test_a_10_mb_body_is_413_before_it_is_read(client, owner, unchanged):
    filler = "x" * (10 * 1024 * 1024)
    body = json.dumps({"user_id": owner.user_id, "ratings": [], "padding": filler})
    assert_clear_4xx(post_raw(client, owner, body), 413, "too large")


def test_1000_ratings_in_one_batch_are_422_and_none_is_saved(client, owner, unchanged):
    ratings = [{"movie_id": m, "rating": 4.0} for m in range(1, 1001)]
    response = client.post(
        "/rate", json={"user_id": owner.user_id, "ratings": ratings}, headers=owner.headers
    )
    assert_clear_4xx(response, 422, "ratings", str(MAX_RATINGS_PER_REQUEST))


def test_a_batch_with_one_bad_rating_writes_none_of_it(client, owner, unchanged):
    ratings = [{"movie_id": m, "rating": 4.0} for m in ACTION]
    ratings[-1]["rating"] = 7
    response = client.post(
        "/rate", json={"user_id": owner.user_id, "ratings": ratings}, headers=owner.headers
    )
    assert_clear_4xx(response, 422, "ratings[19].rating")


def test_a_10_kb_search_query_is_422(client, unchanged):
    response = client.get("/movies", params={"query": "matrix " * 1500})
    assert_clear_4xx(response, 422, "query")


# -- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"[]", b"null", b'""', b"{", b'{"user_id": 1,}', b"\xff\xfe\x00", b"[" * 5000],
    ids=["empty", "object", "array", "null", "string", "cut", "trailing-comma", "binary", "deep"],
)
def test_empty_truncated_and_malformed_bodies_are_4xx(client, owner, unchanged, body):
    response = post_raw(client, owner, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("body", [b"{", b'{"user_id": 1,}', b"{'user_id': 1}"])
def test_broken_json_says_so_and_where(client, owner, unchanged, body):
    assert_clear_4xx(post_raw(client, owner, body), 422, "request body: not valid JSON near")


def test_a_body_sent_as_form_or_text_is_422(client, owner, unchanged):
    body = json.dumps({"user_id": owner.user_id, "ratings": [{"movie_id": 3, "rating": 4}]})
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = post_raw(client, owner, body, **{"Content-Type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.text)


def test_an_empty_batch_is_422(client, owner, unchanged):
    empty = client.post(
        "/rate", json={"user_id": owner.user_id, "ratings": []}, headers=owner.headers
    )
    assert_clear_4xx(empty, 422, "ratings")


# -- text: SQL metacharacters and unicode -----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE ratings; --",
        '" OR 1=1 --',
        "%' OR '%'='",
        "Robert'); DELETE FROM users;--",
        "\\x00\\",
        "action\x00film",
    ],
)
def test_sql_metacharacters_in_a_search_are_just_text(client, owner, unchanged, query):
    response = client.get("/movies", params={"query": query, "limit": 100})
    assert response.status_code == 200, response.text
    assert response.json()["total"] < 60  # never "everything", as an injection would


@pytest.mark.parametrize(
    "path",
    [f"/user/{SQL}/stats", f"/users/{SQL}/ratings", f"/movies/{SQL}", f"/recommend?user_id={SQL}"],
)
def test_sql_metacharacters_in_ids_are_422(client, owner, unchanged, path):
    assert_clear_4xx(client.get(path, headers=owner.headers), 422)


UNICODE_TITLES = {
    1: "Amélie (Fabuleux destin d'Amélie Poulain, Le)",
    2: "東京物語",
    3: "Сталкер",
    4: "שתיקת הכבשים",
    5: "Crouching Tiger 🐯 Hidden Dragon",
    6: "Robert'); DROP TABLE ratings;--",
    7: "Zoë\u0301 & Ångström: Ø\u200b",
    8: "𝔐𝔢𝔱𝔯𝔬𝔭𝔬𝔩𝔦𝔰",
}
#: How the API shows them: the alternative title in parentheses becomes the subtitle.
SHOWN_TITLES = {**UNICODE_TITLES, 1: "Amélie"}
SHOWN_SUBTITLES = {1: "Le Fabuleux destin d'Amélie Poulain"}


@pytest.fixture(scope="module")
def unicode_client(tmp_path_factory) -> Iterator[TestClient]:
    """The API around a tiny model whose catalogue titles span scripts, emoji and quotes."""
    movies = planted_movies()
    for movie_id, title in UNICODE_TITLES.items():
        movies.loc[movies["movie_id"] == movie_id, "title"] = title
    fitted = fit_artifact(planted_ratings(), movies, TINY_PARAMS, progress=False)
    fitted.artifact.manifest["metrics"] = {"rating": [], "top_n": []}
    folder: Path = tmp_path_factory.mktemp("unicode")
    model_dir = save_artifact(folder / "models", fitted.artifact)
    settings = Settings(
        model_dir=model_dir, database_url=f"sqlite:///{folder / 'u.db'}", create_db=True
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("query", "movie_id"),
    [
        ("amelie", 1),
        ("AMÉLIE poulain", 1),
        ("東京", 2),
        ("сталкер", 3),
        ("שתיקת", 4),
        ("tiger hidden", 5),
        ("robert", 6),
        ("zoe angstrom", 7),
        ("metropolis", 8),
    ],
)
def test_unicode_titles_are_found_and_returned_intact(unicode_client, query, movie_id):
    response = unicode_client.get("/movies", params={"query": query})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items and items[0]["movie_id"] == movie_id, items
    assert items[0]["title"] == SHOWN_TITLES[movie_id]
    assert items[0]["subtitle"] == SHOWN_SUBTITLES.get(movie_id)
    assert unicode_client.get(f"/movies/{movie_id}").json()["title"] == SHOWN_TITLES[movie_id]


def test_unicode_titles_survive_rating_recommending_and_listing(unicode_client):
    created = unicode_client.post("/users").json()
    who = User(created["user_id"], created["token"])
    ratings = [{"movie_id": m, "rating": 5.0} for m in UNICODE_TITLES]
    saved = unicode_client.post(
        "/rate", json={"user_id": who.user_id, "ratings": ratings}, headers=who.headers
    )
    assert saved.status_code == 200, saved.text
    listed = unicode_client.get(f"/users/{who.user_id}/ratings", headers=who.headers).json()
    assert {r["movie_id"]: r["title"] for r in listed["ratings"]} == SHOWN_TITLES
    assert {r["movie_id"]: r["subtitle"] for r in listed["ratings"]} == {
        m: SHOWN_SUBTITLES.get(m) for m in UNICODE_TITLES
    }
    recommended = unicode_client.get(f"/recommend?user_id={who.user_id}", headers=who.headers)
    assert recommended.status_code == 200
    assert unicode_client.get(f"/user/{who.user_id}/stats", headers=who.headers).status_code == 200


@pytest.mark.parametrize(
    "query", ["🎬🍿", "\u202eevil", "\ufeff", "a\u0301\u0301\u0301", "ｍａｔｒｉｘ", "\U0010ffff"]
)
def test_any_unicode_query_is_a_200(unicode_client, query):
    response = unicode_client.get("/movies", params={"query": query})
    assert response.status_code == 200, response.text


def test_unicode_where_numbers_belong_is_422(client, owner, unchanged):
    for value in ('"١٢"', '"\\ud800"', '"４"'):
        body = f'{{"user_id": {owner.user_id}, "ratings": [{{"movie_id": 1, "rating": {value}}}]}}'
        assert_clear_4xx(post_raw(client, owner, body), 422, "rating")
    assert_clear_4xx(client.get("/movies/١٢"), 422, "movie_id")
