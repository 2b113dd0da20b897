"""AppTest: what a page holds survives a visit to another page; messages appear where and
when the person acted.

Streamlit forgets the value of a widget on a run that does not draw it, so a trip to Search
and back used to reset For you's request, filters and toggles, and refetch the list.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import AppFactory
from tests.ui.real_api import RealApi
from tests.ui.test_ui_pages import assert_clean, movie_ids
from ui import routes

FIVE = {1: 5.0, 2: 4.5, 3: 4.0, 4: 3.0, 5: 4.0}


def shown(at: AppTest) -> list[int]:
    return movie_ids(at, "cm-fy-rate-")


def undo_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("cm-fy-undo-")]


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert_clean(at)
    return at


def test_for_you_keeps_its_settings_and_list_across_another_page(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    at.segmented_control(key="cm-fy-count").set_value(20).run()
    at.segmented_control(key="cm-fy-discover").set_value("Mixed").run()
    at.segmented_control(key="cm-fy-sort").set_value("Predicted stars").run()
    at.selectbox(key="cm-fy-genre").select("Action").run()
    at.selectbox(key="cm-fy-decade").select("1990s").run()
    at.text_input(key="cm-fy-q").input("something exciting").run()
    assert_clean(at)
    before = shown(at)
    assert before
    at.button(key=f"cm-fy-hide-{before[0]}").click().run()
    assert undo_buttons(at) == [f"cm-fy-undo-{before[0]}"]
    calls = len(api.calls_to("/recommend"))

    for page in (routes.SEARCH, routes.PROFILE, routes.FOR_YOU):
        visit(at, page)

    assert at.text_input(key="cm-fy-q").value == "something exciting"
    assert at.selectbox(key="cm-fy-genre").value == "Action"
    assert at.selectbox(key="cm-fy-decade").value == "1990s"
    assert at.segmented_control(key="cm-fy-count").value == 20
    assert at.segmented_control(key="cm-fy-discover").value == "Mixed"
    assert at.segmented_control(key="cm-fy-sort").value == "Predicted stars"
    assert len(api.calls_to("/recommend")) == calls  # the held list, not a new one
    assert undo_buttons(at) == [f"cm-fy-undo-{before[0]}"]
    assert shown(at) == before[1:]
    assert not at.warning, [w.value for w in at.warning]

    # Acting on the first run after the return keeps the list too (no reload, Undo stays).
    at.button(key=f"cm-fy-hide-{before[1]}").click().run()
    assert_clean(at)
    assert len(api.calls_to("/recommend")) == calls
    assert undo_buttons(at) == [f"cm-fy-undo-{before[0]}", f"cm-fy-undo-{before[1]}"]
    assert at.text_input(key="cm-fy-q").value == "something exciting"


def test_for_you_settings_are_not_carried_to_another_user(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(FIVE), page=routes.FOR_YOU)
    at.segmented_control(key="cm-fy-count").set_value(30).run()
    other = api.add_user(FIVE)
    at.query_params["uid"] = str(other[0])
    at.query_params["token"] = other[1]
    at.run()
    visit(at, routes.FOR_YOU)
    assert at.segmented_control(key="cm-fy-count").value == 10


# -- sign-in, profile and resume errors: under their form, in plain words, once --------------


def submit(at: AppTest, form_key: str) -> AppTest:
    next(b for b in at.button if b.proto.form_id == form_key).click().run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def assert_plain(message: str) -> None:
    for jargon in ("POST", "GET", "/sessions", "token", "revoked", "401", "422"):
        assert jargon not in message, f"{jargon!r} in {message!r}"


def test_a_mistyped_resume_code_is_not_recognised_under_the_form_then_goes(
    make_app: AppFactory, api: RealApi
) -> None:
    user_id, token = api.add_user({1: 4.0})
    at = make_app()
    at.text_input(key="cm-resume-code").input(f"{user_id}:wrongtoken")
    submit(at, "cm-resume")
    [message] = errors(at)
    assert "resume code was not recognised" in message
    assert_plain(message)
    assert not at.toast, "the refusal is under the form, not in a toast far from it"
    assert "uid" not in at.query_params

    at.text_input(key="cm-resume-code").input("not a code")
    submit(at, "cm-resume")
    assert errors(at) and "isn't a resume code" in errors(at)[0]

    at.text_input(key="cm-resume-code").input(f"{user_id}:{token}")
    submit(at, "cm-resume")
    assert at.query_params["uid"] == str(user_id)
    assert not errors(at) and not at.toast  # nothing of the failed tries lingers


def test_sign_in_and_save_errors_are_under_their_form_in_plain_words(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app()
    at.text_input(key="cm-acc-signin-username").set_value("nobody")
    at.text_input(key="cm-acc-signin-password").set_value("whatever12345")
    submit(at, "cm-acc-signin")
    [message] = errors(at)
    assert "username and password don't match" in message
    assert_plain(message)
    at.run()  # any later run: the old refusal is gone
    assert not errors(at)

    at = make_app(user=api.add_user({1: 4.0}), page=routes.PROFILE)
    at.text_input(key="cm-acc-username").set_value("a b")
    at.text_input(key="cm-acc-password").set_value("correct horse battery")
    submit(at, "cm-acc-save")
    assert errors(at) == [
        "A username is 3 to 32 letters, digits, dots, dashes or underscores, starting with "
        "a letter or digit."]
    other = api.add_user()
    taken = make_app(user=other, page=routes.PROFILE)
    taken.text_input(key="cm-acc-username").set_value("film.fan")
    taken.text_input(key="cm-acc-password").set_value("correct horse battery")
    submit(taken, "cm-acc-save")
    assert not errors(taken)
    at.text_input(key="cm-acc-username").set_value("Film.Fan")
    at.text_input(key="cm-acc-password").set_value("correct horse battery")
    submit(at, "cm-acc-save")
    assert errors(at) == ["We couldn't save your profile. That username is taken: choose another."]
    at.text_input(key="cm-acc-username").set_value("film.buff")
    at.text_input(key="cm-acc-password").set_value("correct horse battery")
    submit(at, "cm-acc-save")
    assert not errors(at)
    assert "Saved. Sign in as film.buff" in at.toast[0].value


# -- the deck's lede says what its buttons do ---------------------------------------------------


def test_the_deck_lede_says_what_a_skip_does_and_it_does_that(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.ONBOARDING)
    lede = next(m.value for m in at.markdown if 'class="cm-lede"' in m.value)
    assert "Haven&#x27;t seen it" in lede or "Haven't seen it" in lede
    assert "stays where it is, with Undo" in lede and "joins at the end of the deck" in lede
    assert "takes its seat" not in lede
    before = movie_ids(at, "cm-onb-rate-")
    at.button(key=f"cm-onb-skip-{before[1]}").click().run()
    assert_clean(at)
    assert at.button(key=f"cm-onb-undo-{before[1]}")  # the card stays, with Undo
    after = movie_ids(at, "cm-onb-rate-")
    assert after[:-1] == [m for m in before if m != before[1]]  # the rest keep their order
    assert after[-1] not in before  # and the new film is the last


# -- About the model: the lists that are the same for everyone are named and explained ---------


def about_charts(at: AppTest) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each chart's Vega-Lite spec and its rows."""
    charts = []
    for chart in at.get("vega_lite_chart"):
        rows = pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()
        charts.append((json.loads(chart.proto.spec), rows))
    return charts


def test_about_names_and_explains_the_lists_that_are_the_same_for_everyone(
    make_app: AppFactory,
) -> None:
    at = make_app()
    at.switch_page(routes.ABOUT_MODEL).run()
    assert_clean(at)
    (stars_spec, _), (top_spec, top_rows) = about_charts(at)
    names = {row["Top ten from"] for row in top_rows}
    assert "Best rated by all" in names
    assert not names & {"Popularity", "Popularity count", "Most popular"}
    captions = " ".join(c.value for c in at.caption)
    assert "“Best rated by all” and “Most rated by all” hand everyone the same ten films" in (
        captions)
    for spec in (stars_spec, top_spec):  # the last figure of the value axis is not cut
        assert spec["encoding"]["x"]["axis"]["labelFlush"] is True
        assert spec["padding"]["right"] >= 12
