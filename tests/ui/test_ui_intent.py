"""AppTest of For you's plain-words request, against the real API on the tiny model.

Tiny catalogue: "Action Film 1–20" (ids 1–20), "Romance Film …" (101–120), "Comedy Film …"
(201–220), each genre's films from 1980 to 1999; it has no Horror or Drama.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.main import create_app
from api.settings import Settings
from bench.intent import load_set, parser_for
from contract.models import IntentFilmOut
from ml.text.titles import parse_title
from tests.ui.conftest import ENTRY, RUN_TIMEOUT
from tests.ui.real_api import real_client
from ui import api_client, intent_prompt, routes
from ui.api_client import RequestIntent

ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}


@pytest.fixture
def api(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir,
                        database_url=f"sqlite:///{tmp_path / 'ui.db'}", create_db=True)
    with TestClient(create_app(settings)) as client:
        shared = real_client(client)
        monkeypatch.setattr(api_client, "get_client", lambda: shared)
        yield client


def sign_up(api: TestClient, ratings: dict[int, float] | None = None) -> tuple[int, str]:
    user = api.post("/users").json()
    if ratings:
        body = {"user_id": user["user_id"],
                "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()]}
        response = api.post("/rate", json=body,
                            headers={"Authorization": f"Bearer {user['token']}"})
        assert response.status_code == 200, response.text
    return user["user_id"], user["token"]


def for_you(user: tuple[int, str]) -> AppTest:
    at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT)
    at.query_params["uid"] = str(user[0])
    at.query_params["token"] = user[1]
    at.run()
    at.switch_page(routes.FOR_YOU).run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, text: str) -> AppTest:
    at.text_input(key=intent_prompt.TEXT_KEY).input(text).run()
    assert not at.exception, at.exception
    return at


def card_titles(at: AppTest) -> list[str]:
    found = (re.search(r'class="cm-card-title" title="([^"]*)"', m.value) for m in at.markdown)
    return [unescape(match.group(1)) for match in found if match]


def reasons(at: AppTest) -> list[str]:
    found = (re.search(r'class="cm-card-reason"[^>]*>(.*?)</', m.value) for m in at.markdown)
    return [unescape(match.group(1)) for match in found if match]


def chip_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.key and b.key.startswith(intent_prompt.CHIP_KEY)]


def test_the_prompt_and_its_examples_are_on_for_you(api):
    at = for_you(sign_up(api))
    prompt = at.text_input(key=intent_prompt.TEXT_KEY)
    assert prompt.label == "What are you in the mood for?"
    assert chip_labels(at) == []
    examples = at.button_group(key=intent_prompt.EXAMPLES_KEY)
    examples.set_value("Like Alien but funnier").run()
    assert not at.exception, at.exception
    assert at.text_input(key=intent_prompt.TEXT_KEY).value == "Like Alien but funnier"
    assert chip_labels(at) == ["Comedy"]
    assert all(title.startswith("Comedy Film") for title in card_titles(at))
    assert any("“alien”" in c.value for c in at.caption)  # the tiny catalogue has no Alien


def test_a_request_becomes_chips_and_the_list_honours_it(api):
    at = ask(for_you(sign_up(api)), "a comedy from the 90s, no romance")
    assert chip_labels(at) == ["Comedy", "No Romance", "1990–1999"]
    titles = card_titles(at)
    assert titles and all(t.startswith("Comedy Film") for t in titles)
    # "Comedy Film k" is from 1979 + k: the 90s are films 11–20.
    assert all(int(t.rsplit(" ", 1)[1]) >= 11 for t in titles)
    assert all(r.startswith("Comedy, 199") for r in reasons(at))


def test_removing_a_chip_rewrites_the_request_without_it(api):
    at = ask(for_you(sign_up(api)), "a comedy from the 90s")
    at.button(key=f"{intent_prompt.CHIP_KEY}0").click().run()  # "Comedy"
    assert not at.exception, at.exception
    assert at.text_input(key=intent_prompt.TEXT_KEY).value == "between 1990 and 1999"
    assert chip_labels(at) == ["1990–1999"]
    assert {t.split(" Film")[0] for t in card_titles(at)} > {"Comedy"}


def test_a_personal_list_says_why_each_film_fits_the_request_and_the_person(api):
    at = ask(for_you(sign_up(api, ACTION_FAN)), "action")
    found = reasons(at)
    assert found
    for reason in found:
        request, person = reason.split(" · ")
        assert request.startswith("Action")
        assert person.startswith("Because you loved")


def test_an_empty_list_says_why(api):
    at = ask(for_you(sign_up(api)), "no action, no romance, no comedy")
    assert card_titles(at) == []
    assert any("excluded" in i.value for i in at.info)
    assert not any("Nothing on this bill" in m.value for m in at.markdown)


def test_relaxed_constraints_are_shown(api):
    at = ask(for_you(sign_up(api)), "romantic action")
    assert any("Action and Romance at once" in i.value for i in at.info)


def test_chip_words_read_back_as_the_same_request_minus_the_removed_chip():
    """Every labelled request, on the shipped catalogue: the chips' words, with any one chip
    removed, parse back to exactly the other constraints."""
    def constraints(intent) -> set[tuple[str, object]]:
        return ({("genre", g) for g in intent.genres}
                | {("no", g) for g in intent.exclude_genres}
                | ({("years", (intent.year_from, intent.year_to))}
                   if intent.year_from is not None or intent.year_to is not None else set())
                | {("film", f.movie_id) for f in intent.similar_to})

    _, parser = parser_for()
    checked = 0
    for row in load_set():
        parsed = parser.parse(row["q"])
        shown = RequestIntent(
            query=parsed.query, genres=list(parsed.genres),
            exclude_genres=list(parsed.exclude_genres),
            year_from=parsed.year_from, year_to=parsed.year_to,
            similar_to=[IntentFilmOut(movie_id=f.movie_id, title=f.title, year=f.year,
                                   name=parse_title(f.title).title)
                        for f in parsed.similar_to],
            mood=parsed.mood, unparsed=list(parsed.unparsed), parser="offline")
        chips = intent_prompt.chips_of(shown)
        whole = constraints(parsed)
        assert constraints(parser.parse(intent_prompt.request_without(chips, -1))) == whole
        for removed in range(len(chips)):
            left = constraints(parser.parse(intent_prompt.request_without(chips, removed)))
            assert len(left) == len(whole) - 1 and left < whole, (row["q"], removed)
            checked += 1
    assert checked > 150
