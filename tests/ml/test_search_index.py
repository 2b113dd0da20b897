"""MovieIndex on MovieLens-style titles: accents, moved articles, prefixes, ranking."""

from __future__ import annotations

import pytest

from ml.serving.recommender import Movie
from ml.text.search import MovieIndex
from ml.text.titles import fold


def movie(
    movie_id: int, title: str, genres: tuple[str, ...] = ("Drama",), year: int | None = 2000
) -> Movie:
    return Movie(movie_id, title, year, genres, None, None, 100 - movie_id, 4.0)


# Popularity order: the list order.
CATALOGUE = [
    movie(1, "Matrix, The", ("Action", "Sci-Fi"), 1999),
    movie(2, "Amélie (Fabuleux destin d'Amélie Poulain, Le)", ("Comedy", "Romance"), 2001),
    movie(3, "Matrix Reloaded, The", ("Action", "Sci-Fi"), 2003),
    movie(4, "Animatrix, The", ("Animation",), 2003),
    movie(5, "Amelia", ("Drama",), 2009),
    movie(6, "Shawshank Redemption, The", ("Drama",), 1994),
    movie(7, "Matrix", ("Drama",), 1990),
    movie(8, "Être et avoir", ("Documentary",), 2002),
]


@pytest.fixture(scope="module")
def index() -> MovieIndex:
    return MovieIndex(CATALOGUE)


def found(index: MovieIndex, query: str, **filters) -> list[int]:
    return [m.movie_id for m in index.search(query, limit=100, **filters).movies]


def test_fold_drops_case_accents_and_punctuation():
    assert fold("Amélie: LE Fabuleux-Destin!") == "amelie le fabuleux destin"
    assert fold("ÊTRE") == "etre"


def test_a_prefix_finds_accented_titles_both_ways(index):
    assert found(index, "amel") == [2, 5]
    assert found(index, "AMÉL") == [2, 5]
    assert found(index, "etre") == [8]
    assert found(index, "être av") == [8]


def test_a_prefix_matches_word_starts_only(index):
    # "Animatrix" contains "matr" but does not start with it.
    assert 4 not in found(index, "matr")


def test_exact_and_starting_titles_outrank_popularity(index):
    # "matrix" exactly is film 7 (least popular); "The Matrix" is exact in its article form.
    assert found(index, "matrix") == [1, 7, 3]
    assert found(index, "the matrix") == [1, 3]
    assert found(index, "matrix reloaded")[0] == 3


def test_the_article_can_be_typed_first_or_last(index):
    assert found(index, "shawshank redemption the") == [6]
    assert found(index, "the shawshank") == [6]


def test_filters_and_paging(index):
    assert found(index, "", genre="Action") == [1, 3]
    assert found(index, "matr", year=2003) == [3]
    page = index.search(None, limit=2, offset=2)
    assert page.total == len(CATALOGUE) and [m.movie_id for m in page.movies] == [3, 4]


def test_a_query_of_only_punctuation_matches_nothing_and_spaces_are_no_query(index):
    """"?!" was typed and no title can match it: an empty page, not the whole catalogue
    looking like its results."""
    assert index.search("?!", limit=100).total == 0
    assert index.search("   ", limit=100).total == len(CATALOGUE)


def test_genres_resolve_case_insensitively(index):
    assert index.canonical_genre(" sci-fi ") == "Sci-Fi"
    assert index.canonical_genre("Western") is None


TYPO_CATALOGUE = [
    movie(1, "Godfather, The", ("Crime", "Drama"), 1972),
    movie(2, "Star Wars: Episode IV - A New Hope", ("Sci-Fi",), 1977),
    movie(3, "Star Wars: Episode V - The Empire Strikes Back", ("Sci-Fi",), 1980),
    movie(4, "Walled In", ("Thriller",), 2009),
    movie(5, "WALL·E", ("Animation",), 2008),
    movie(6, "Seven (a.k.a. Se7en)", ("Thriller",), 1995),
    movie(7, "Tokyo Godfathers", ("Animation",), 2003),
]


@pytest.fixture(scope="module")
def typo_index() -> MovieIndex:
    return MovieIndex(TYPO_CATALOGUE)


def test_a_misspelt_word_is_corrected_and_said(typo_index):
    page = typo_index.search("godfater")
    assert page.movies[0].movie_id == 1
    assert page.corrected_query == "godfather"


def test_a_title_typed_without_its_spaces_is_an_exact_match(typo_index):
    assert found(typo_index, "walle")[0] == 5


def test_numbers_and_roman_numerals_are_the_same_word(typo_index):
    assert found(typo_index, "star wars 4") == [2]
    assert found(typo_index, "star wars iv") == [2]


def test_alternative_titles_are_searchable(typo_index):
    assert found(typo_index, "se7en") == [6]


def test_a_query_typed_right_is_not_corrected(typo_index):
    page = typo_index.search("godfather")
    assert page.corrected_query is None and [m.movie_id for m in page.movies] == [1, 7]


def test_nothing_matching_offers_the_closest_title(typo_index):
    page = typo_index.search("empire strikes bak")
    assert page.total == 0
    assert page.suggestion == "Star Wars: Episode V - The Empire Strikes Back"


def test_short_words_are_not_guessed(typo_index):
    assert typo_index.search("xq").total == 0
