"""The catalogue routes: search, details, similar films, genres, onboarding."""

from __future__ import annotations

import pytest

from tests.api.conftest import ACTION, COMEDY, ROMANCE

MOVIE_FIELDS = {
    "movie_id",
    "title",
    "subtitle",
    "year",
    "genres",
    "tmdb_id",
    "imdb_id",
    "rating_count",
    "mean_rating",
}


def search(client, **params):
    response = client.get("/movies", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_without_a_query_the_catalogue_pages_by_popularity(client, app):
    first = search(client, limit=5)
    assert first["total"] == 60 and first["limit"] == 5 and first["offset"] == 0
    assert set(first["items"][0]) == MOVIE_FIELDS
    popular = [m.movie_id for m in app.state.services.recommender.movies()]
    assert [m["movie_id"] for m in first["items"]] == popular[:5]
    second = search(client, limit=5, offset=5)
    assert [m["movie_id"] for m in second["items"]] == popular[5:10]
    assert search(client, offset=60)["items"] == []


@pytest.mark.parametrize("query", ["roman", "ROMANCE", "Románce", "  romance  "])
def test_a_word_prefix_matches_whatever_the_case_or_accents(client, query):
    body = search(client, query=query, limit=100)
    assert body["total"] == 20
    assert {m["movie_id"] for m in body["items"]} == set(ROMANCE)


def test_every_query_word_must_match_and_the_exact_title_comes_first(client):
    body = search(client, query="action film 1")
    titles = [m["title"] for m in body["items"]]
    assert titles[0] == "Action Film 1"
    # "1" is a prefix of 1, 10..19: every match is an action film whose number starts with 1.
    assert set(titles) == {f"Action Film {k}" for k in (1, *range(10, 20))}
    assert search(client, query="action romance")["total"] == 0
    assert search(client, query="zzz")["items"] == []


@pytest.mark.parametrize("query", ["!!!", "(((", "\U0001F600", "\u00b7 \u2014"])
def test_a_query_with_no_letter_or_digit_matches_nothing(client, query):
    """Not the whole catalogue, as if nothing had been typed."""
    body = search(client, query=query)
    assert body["total"] == 0 and body["items"] == []
    assert search(client, query="   ")["total"] == 60  # only spaces: no query at all


def test_genre_and_year_narrow_the_results(client):
    comedies = search(client, genre="comedy", limit=100)
    assert {m["movie_id"] for m in comedies["items"]} == set(COMEDY)
    of_1985 = search(client, year=1985, limit=100)
    assert of_1985["total"] == 3 and all(m["year"] == 1985 for m in of_1985["items"])
    both = search(client, query="film", genre="Action", year=1985)
    assert [m["movie_id"] for m in both["items"]] == [6]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "query parameter limit"),
        ({"limit": 101}, "query parameter limit"),
        ({"offset": -1}, "query parameter offset"),
        ({"genre": "Western"}, "unknown genre"),
        ({"query": "x" * 201}, "query parameter query"),
    ],
)
def test_bad_search_parameters_are_422(client, params, message):
    response = client.get("/movies", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_one_movie_and_unknown_or_huge_ids(client):
    movie = client.get("/movies/101").json()
    assert movie["title"] == "Romance Film 1" and movie["genres"] == ["Romance"]
    assert movie["tmdb_id"] == 1101 and movie["rating_count"] > 0
    missing = client.get("/movies/999999")
    assert missing.status_code == 404 and missing.json() == {"detail": "movie 999999 not found"}
    assert client.get(f"/movies/{2**63}").status_code == 422
    assert client.get(f"/movies/{2**63 - 1}").status_code == 404


def test_similar_films_share_the_genre(client):
    body = client.get("/movies/1/similar", params={"n": 5}).json()
    assert body["movie_id"] == 1 and body["count"] == 5
    assert all(m["movie_id"] != 1 and "similarity" in m for m in body["similar"])
    assert sum(m["movie_id"] in ACTION for m in body["similar"]) >= 4
    assert set(body["similar"][0]) == MOVIE_FIELDS | {"similarity"}


@pytest.mark.parametrize(("n", "status"), [(0, 422), (1, 200), (50, 200), (51, 422)])
def test_similar_n_is_bounded(client, n, status):
    assert client.get("/movies/1/similar", params={"n": n}).status_code == status


def test_similar_to_an_unknown_film_is_404(client):
    assert client.get("/movies/999999/similar").status_code == 404


def test_genres(client):
    assert client.get("/genres").json() == {"genres": ["Action", "Comedy", "Romance"]}


def test_onboarding_pages_exclude_what_was_shown(client):
    first = client.get("/onboarding/movies", params={"n": 6}).json()
    assert first["count"] == len(first["movies"]) == 6
    shown = [m["movie_id"] for m in first["movies"]]
    second = client.get("/onboarding/movies", params={"n": 6, "exclude": shown}).json()
    assert not set(shown) & {m["movie_id"] for m in second["movies"]}


@pytest.mark.parametrize(
    "params", [{"n": 0}, {"n": 51}, {"exclude": "abc"}, {"exclude": 0}, {"exclude": 2**63}]
)
def test_onboarding_parameters_are_bounded(client, params):
    assert client.get("/onboarding/movies", params=params).status_code == 422


def test_decades_are_the_ones_the_catalogue_has_films_from(client, app):
    years = {m.year for m in app.state.services.recommender.movies() if m.year is not None}
    expected = sorted({year // 10 * 10 for year in years}, reverse=True)
    assert client.get("/decades").json() == {"decades": expected}
    assert len(expected) < len(range(1920, 2030, 10))
