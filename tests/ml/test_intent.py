"""The plain-words parser: its accuracy floor on the labelled set, and its rules one by one.

The labelled set (``tests/data/intents.jsonl``) is parsed against the shipped catalogue
(``models/``), as ``bench/intent.py`` does; the rule tests use the same parser.
"""

from __future__ import annotations

import pytest

from bench.intent import FIELDS, accuracy, like_but, load_like_set, load_set, parser_for
from ml.serving.recommender import Recommender
from ml.text.intent import MAX_QUERY_CHARS, MAX_TITLE_LOOKUPS, IntentParser
from ml.text.search import MovieIndex

FIELD_FLOOR = 0.95
WHOLE_FLOOR = 0.90
#: Share of "like X but Y" lists faithful to both halves; the goal (bench/intent.py) is 0.9,
#: the floor leaves room for a retrained model's own lists.
LIKE_FLOOR = 0.85


@pytest.fixture(scope="module")
def shipped() -> tuple[Recommender, IntentParser]:
    return parser_for()


@pytest.fixture(scope="module")
def parser(shipped) -> IntentParser:
    return shipped[1]


@pytest.mark.parametrize("split", ["dev", "heldout", "fresh"])
def test_the_labelled_requests_are_understood_above_the_floor(parser, split):
    rows = [row for row in load_set() if row["split"] == split]
    assert len(rows) >= 40
    figures = accuracy(parser, rows)
    for field in FIELDS:
        assert figures["fields"][field] >= FIELD_FLOOR, (field, figures["misses"])
    assert figures["whole"] >= WHOLE_FLOOR, figures["misses"]


def test_the_labelled_set_is_large_and_varied():
    rows = load_set()
    assert len(rows) >= 150
    first = [row for row in rows if row["split"] in ("dev", "heldout")]
    assert sum(row["split"] == "heldout" for row in first) >= 0.25 * len(first)
    assert sum(bool(row["exclude_genres"]) for row in rows) >= 15
    assert sum(bool(row["similar_to"]) for row in rows) >= 25
    assert sum(row["year_from"] is not None or row["year_to"] is not None for row in rows) >= 40


def test_the_issue_examples(parser):
    scary = parser.parse("Something scary from the 90s")
    assert (scary.genres, scary.year_from, scary.year_to) == (("Horror",), 1990, 1999)
    assert scary.mood == "scary"
    assert parser.parse("I want to cry").genres == ("Drama",)
    assert parser.parse("Date night").genres == ("Comedy", "Romance")
    alien = parser.parse("like Alien but funnier")
    assert alien.genres == ("Comedy",)
    assert [(f.title, f.year) for f in alien.similar_to] == [("Alien", 1979)]


def test_the_like_x_but_y_set_is_large_and_varied(shipped):
    rows = load_like_set()
    assert len(rows) >= 40
    assert {row["split"] for row in rows} == {"dev", "heldout"}
    assert len({row["reference"] for row in rows}) >= 30
    assert len({genre for row in rows for genre in row["genres"]}) >= 5
    catalogue = {f"{m.title} ({m.year})": m for m in shipped[0].movies()}
    for row in rows:  # Y is what the request adds: X has another genre to be like
        assert set(catalogue[row["reference"]].genres) - set(row["genres"]), row


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_like_x_but_y_lists_keep_both_halves(shipped, split):
    """At least 6 of 10 films have Y and share a genre of X besides Y, and the list is not
    the plain "Y" list (at most 5 films in common), for a newcomer and a personal user."""
    recommender, parser = shipped
    rows = [row for row in load_like_set() if row["split"] == split]
    figures = like_but(recommender, parser, rows)
    assert figures["parsed"] == 1.0, figures["misses"]
    assert figures["faithful"] >= LIKE_FLOOR, figures["misses"]


def test_a_title_holding_a_stop_word_is_read_whole(parser):
    for text, title in (("like Men in Black but scarier", "Men in Black (a.k.a. MIB)"),
                        ("movies like From Russia with Love", "From Russia with Love"),
                        ("like Die Hard but set in space", "Die Hard")):
        intent = parser.parse(text)
        assert [f.title for f in intent.similar_to] == [title], intent
    assert parser.parse("like Die Hard but set in space").genres == ("Sci-Fi",)
    assert parser.parse("like Men in Black but scarier").genres == ("Horror",)


def test_words_it_cannot_use_are_returned_not_dropped(parser):
    intent = parser.parse("a zombie film for a rainy sunday afternoon, not too long")
    assert intent.genres == ("Horror",)
    assert intent.unparsed == ("rainy sunday afternoon", "not too long")


def test_a_softened_genre_is_neither_asked_for_nor_excluded(parser):
    intent = parser.parse("like Scream but less gory")
    assert (intent.genres, intent.exclude_genres) == ((), ())
    assert intent.unparsed == ("less gory",)


def test_a_genre_both_asked_for_and_excluded_stays_asked_for(parser):
    intent = parser.parse("a scary movie but not too gory")
    assert (intent.genres, intent.exclude_genres) == (("Horror",), ())
    assert intent.unparsed == ("not too gory",)  # said, and overruled: reported, not dropped


def test_a_negated_decade_is_not_read_as_that_decade(parser):
    intent = parser.parse("a comedy, not the 90s")
    assert (intent.genres, intent.year_from, intent.year_to) == (("Comedy",), None, None)
    assert intent.unparsed == ("not the 90s",)


def test_negation_reaches_over_fillers_and_lists(parser):
    intent = parser.parse("not in the mood for drama, no musicals or westerns")
    assert intent.exclude_genres == ("Drama", "Musical", "Western")
    assert parser.parse("comedy that isn't romantic").exclude_genres == ("Romance",)


def test_years_in_every_form(parser):
    def years(text: str) -> tuple[int | None, int | None]:
        intent = parser.parse(text)
        return intent.year_from, intent.year_to

    assert years("the fifties") == (1950, 1959)
    assert years("70's") == (1970, 1979)
    assert years("from 1995") == (1995, 1995)
    assert years("since 1995") == (1995, None)
    assert years("before 1960") == (None, 1959)
    assert years("after 2010") == (2011, None)
    assert years("late 80s") == (1987, 1989)
    assert years("80s or 90s") == (1980, 1999)
    assert years("an old one") == (None, 1979)
    assert years("a western, but not an old one") == (1980, None)
    assert years("nothing too recent") == (None, 2009)


def test_an_age_is_not_an_era(parser):
    intent = parser.parse("something to watch with my 6 year old")
    assert (intent.genres, intent.year_from, intent.year_to) == (("Children",), None, None)


def test_typos_in_vocabulary_are_corrected_but_real_words_are_not(parser):
    assert parser.parse("a good comdey").genres == ("Comedy",)
    assert parser.parse("thriler from the ninties").year_from == 1990
    assert parser.parse("a good sense of humour").genres == ("Comedy",)


def test_a_reference_film_is_the_most_rated_of_its_title(shipped):
    recommender, parser = shipped
    (psycho,) = parser.parse("similar to Psycho").similar_to
    same_title = [m for m in recommender.movies() if m.title == "Psycho"]
    assert len(same_title) > 1
    assert psycho.movie_id == max(same_title, key=lambda m: m.rating_count).movie_id


def test_like_as_a_verb_is_not_a_film(parser):
    intent = parser.parse("I'd like something like Alien, I like horror")
    assert [f.title for f in intent.similar_to] == ["Alien"]
    assert intent.genres == ("Horror",)


def test_odd_input_gives_an_empty_intent(parser):
    assert parser.parse("").is_empty
    assert parser.parse("???").is_empty
    long = parser.parse("horror " * 100)
    assert len(long.query) <= MAX_QUERY_CHARS and long.genres == ("Horror",)


def test_genres_the_catalogue_lacks_stay_unparsed(tiny_model_dir):
    recommender = Recommender.load(tiny_model_dir)
    parser = IntentParser(MovieIndex(recommender.movies()), recommender.genres())
    intent = parser.parse("something scary and funny")
    assert intent.genres == ("Comedy",)
    assert intent.unparsed == ("scary",)


def test_a_hostile_request_costs_a_bounded_number_of_title_searches(parser, monkeypatch):
    searches = []
    search = parser.index.search

    def counted(*args, **kwargs):
        searches.append(args)
        return search(*args, **kwargs)

    monkeypatch.setattr(parser.index, "search", counted)
    parser.clear_caches()
    parser.parse("like godfatherr " * 18)
    assert 0 < len(searches) <= MAX_TITLE_LOOKUPS
    parser.clear_caches()
    assert [f.title for f in parser.parse("like the godfater").similar_to] == ["The Godfather"]
