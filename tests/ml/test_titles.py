"""ml.text.titles, the one title normaliser: how every title the API serves reads to a person."""

from __future__ import annotations

from ml.text.titles import fold, parse_title, title_forms


def test_movielens_titles_read_naturally() -> None:
    assert parse_title("Matrix, The").title == "The Matrix"
    assert parse_title("Few Good Men, A").title == "A Few Good Men"
    seven = parse_title("Seven (a.k.a. Se7en)")
    assert (seven.title, seven.subtitle) == ("Seven", "Se7en")


def test_alternative_titles_keep_their_articles_in_front() -> None:
    amelie = parse_title("Amélie (Fabuleux destin d'Amélie Poulain, Le)")
    assert amelie.title == "Amélie"
    assert amelie.subtitle == "Le Fabuleux destin d'Amélie Poulain"


def test_only_a_trailing_group_is_an_alternative_and_a_year_is_dropped() -> None:
    assert parse_title("(500) Days of Summer").title == "(500) Days of Summer"
    assert parse_title("Toy Story (1995)") == parse_title("Toy Story")


def test_every_form_a_person_may_type() -> None:
    assert title_forms("Matrix, The") == ("the matrix", "matrix")
    assert "se7en" in title_forms("Seven (a.k.a. Se7en)")
    assert fold("Amélie: LE Fabuleux-Destin!") == "amelie le fabuleux destin"
