"""AppTest: what a page holds survives a visit to another page; messages appear where and
when the person acted.

Streamlit forgets the value of a widget on a run that does not draw it, so a trip to Search
and back used to reset For you's request, filters and toggles, and refetch the list.
"""

from __future__ import annotations

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
