"""AppTest of the seats: a card or row acted on stays where it was, saying what was done, with
Undo, until the person leaves the page (the browser test measures that nothing moves)."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import AppFactory
from tests.ui.real_api import RealApi
from tests.ui.test_ui_pages import assert_clean, movie_ids
from tests.ui.test_ui_signals import FIVE, markdown_text, shown
from ui import components, routes


def button_keys(at: AppTest, prefix: str) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith(prefix)]


def close_menu_scripts(at: AppTest) -> list[object]:
    return [node for node in at.get("html") if "stSidebarCollapseButton" in str(node.proto)]


def test_the_close_menu_script_is_drawn_on_every_run_and_runs_once_per_page(
    make_app: AppFactory, api: RealApi
) -> None:
    """Its container must hold the same thing on every run (an empty one vanished on the
    run after the arrival, and the whole page moved up by its gap); its text changes on a
    page change only, which is when Streamlit runs a script again."""
    at = make_app(user=api.add_user(FIVE), page=routes.SEARCH)
    [arrival] = [str(node.proto) for node in close_menu_scripts(at)]  # type: ignore[attr-defined]
    at.run()
    [again] = [str(node.proto) for node in close_menu_scripts(at)]  # type: ignore[attr-defined]
    assert again == arrival
    at.switch_page(routes.WATCHLIST).run()
    [next_page] = [str(node.proto) for node in close_menu_scripts(at)]  # type: ignore[attr-defined]
    assert next_page != arrival


def test_a_done_card_holds_an_inert_ghost_of_its_controls(
    make_app: AppFactory, api: RealApi
) -> None:
    """For you: the rated card's controls are drawn again, disabled, under their own keys
    (theme.css hides them): the card keeps its height, and the live control, drawn again
    after Undo, starts blank."""
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    first = shown(at)[0]
    at.button_group(key=f"cm-fy-rate-{first}").set_value(4.0).run()
    assert_clean(at)
    ghost = at.button_group(key=f"cm-ghost-cm-fy-rate-{first}")
    assert ghost.disabled
    for name in ("watch", "hide", "similar"):
        assert at.button(key=f"cm-ghost-cm-fy-{name}-{first}").disabled
    assert "Rated 4.0 ★" in markdown_text(at)
    at.button(key=f"cm-fy-undo-{first}").click().run()
    assert api.ratings_of(user[0]) == FIVE
    assert at.button_group(key=f"cm-fy-rate-{first}").value is None
    assert not [b for b in at.button_group if b.key and b.key.startswith("cm-ghost-")]


def test_more_like_this_holds_its_list_and_marks_what_was_done(
    make_app: AppFactory, api: RealApi
) -> None:
    """The dialog's films are fetched once per opening; a film hidden or rated there stays in
    the held list, marked (the browser test clicks its Undo in the open dialog)."""
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    seed = shown(at)[0]
    at.button(key=f"cm-fy-similar-{seed}").click().run()
    similar = movie_ids(at, f"cm-sim-rate-{seed}-")
    fresh = [m for m in similar if m not in FIVE]
    at.button(key=f"cm-sim-{seed}-hide-{fresh[0]}").click().run()
    assert_clean(at)
    held = at.session_state["cm-sim-held"]
    assert [film.movie_id for film in held.films] == similar  # no film left its seat
    assert held.done == {fresh[0]: ("hidden", None)}
    assert fresh[0] in api.on_list(user[0], "hidden")
    # AppTest closes the dialog on every click; a new opening fetches afresh.
    calls = len(api.calls_to(f"/users/{user[0]}/similar/{seed}"))
    at.button(key=f"cm-fy-similar-{seed}").click().run()
    assert len(api.calls_to(f"/users/{user[0]}/similar/{seed}")) == calls + 1
    assert at.session_state["cm-sim-held"].done == {}
    assert fresh[0] not in movie_ids(at, f"cm-sim-rate-{seed}-")
    at.button_group(key=f"cm-sim-rate-{seed}-{fresh[1]}").set_value(3.5).run()
    assert at.session_state["cm-sim-held"].done == {fresh[1]: ("rated", 3.5)}
    assert api.ratings_of(user[0])[fresh[1]] == 3.5

def test_the_watchlist_keeps_a_rated_or_removed_film_in_its_seat_with_undo(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    for movie_id in (3, 2, 1):
        api.client.put(f"/users/{user[0]}/watchlist/{movie_id}",
                       headers={"Authorization": f"Bearer {user[1]}"})
    at = make_app(user=user, page=routes.WATCHLIST)
    assert movie_ids(at, "cm-watch-rate-") == [1, 2, 3]
    at.button_group(key="cm-watch-rate-1").set_value(3.5).run()
    at.button(key="cm-watch-remove-2").click().run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {1: 3.5}
    assert api.on_list(user[0], "watchlist") == [3]  # the API took the rated film off
    assert not [c for c in api.calls if c.method == "DELETE" and c.path.endswith("/1")]
    assert button_keys(at, "cm-watch-undo-") == ["cm-watch-undo-1", "cm-watch-undo-2"]
    text = markdown_text(at)
    assert "Rated 3.5 ★" in text and "Removed from your watchlist" in text
    assert movie_ids(at, "cm-watch-rate-") == [3]

    at.button(key="cm-watch-undo-1").click().run()
    at.button(key="cm-watch-undo-2").click().run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {}
    assert sorted(api.on_list(user[0], "watchlist")) == [1, 2, 3]
    assert movie_ids(at, "cm-watch-rate-") == [1, 2, 3]  # back in their own seats

    at.button_group(key="cm-watch-rate-2").set_value(5.0).run()
    at.switch_page(routes.PROFILE).run()
    at.switch_page(routes.WATCHLIST).run()
    assert movie_ids(at, "cm-watch-rate-") == [1, 3]  # gone once the person left
    assert button_keys(at, "cm-watch-undo-") == []


def test_profile_keeps_an_unhidden_film_in_its_row(make_app: AppFactory, api: RealApi) -> None:
    """ "Show it again" and "Hide again" leave the Not interested rows in their order."""
    user = api.add_user(FIVE)
    for movie_id in (3, 2, 1):
        api.client.put(f"/users/{user[0]}/hidden/{movie_id}",
                       headers={"Authorization": f"Bearer {user[1]}"})

    def rows() -> list[str]:
        return [b.key.rsplit("-", 1)[1] for b in at.button
                if b.key and b.key.startswith(("cm-hidden-show-", "cm-hidden-hide-"))]

    at = make_app(user=user, page=routes.PROFILE)
    assert rows() == ["1", "2", "3"]
    at.button(key="cm-hidden-show-1").click().run()
    assert_clean(at)
    assert rows() == ["1", "2", "3"]
    assert at.button(key="cm-hidden-hide-1").label == "Hide again"
    at.button(key="cm-hidden-hide-1").click().run()
    at.button(key="cm-hidden-show-2").click().run()
    assert rows() == ["1", "2", "3"]
    assert api.on_list(user[0], "hidden") == [1, 3]


def test_profile_keeps_a_re_rated_row_in_its_place_for_the_visit(
    make_app: AppFactory, api: RealApi
) -> None:
    """The history is newest first on arrival; a re-rated row (now the newest) stays put
    until the person comes back."""
    user = api.add_user({3: 4.5})
    time.sleep(1.1)  # the API keeps whole seconds
    api.client.post("/rate", json={"user_id": user[0], "ratings": [
        {"movie_id": 2, "rating": 4.0}]}, headers={"Authorization": f"Bearer {user[1]}"})

    def order() -> list[int]:
        return movie_ids(at, "cm-history-rate-")

    at = make_app(user=user, page=routes.PROFILE)
    assert order() == [2, 3]
    time.sleep(1.1)
    at.button_group(key="cm-history-rate-3").set_value(2.0).run()
    assert_clean(at)
    assert api.ratings_of(user[0])[3] == 2.0
    assert order() == [2, 3]
    at.switch_page(routes.FOR_YOU).run()
    at.switch_page(routes.PROFILE).run()
    assert order() == [3, 2]


def test_profile_says_a_line_under_your_list_whether_personal_or_not(
    make_app: AppFactory, api: RealApi
) -> None:
    """So the history below does not move when a delete crosses the unlock."""
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.PROFILE)
    assert at.metric[2].value == "Personal" and at.metric[2].delta
    at.button(key=f"cm-history-delete-{next(iter(FIVE))}").click().run()
    assert at.metric[2].value == "Popular picks"
    assert at.metric[2].delta == "1 more rating for a personal list"


def test_a_deleted_rating_keeps_its_row_over_the_ghost_of_its_stars(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user({3: 4.5, 2: 4.0})
    at = make_app(user=user, page=routes.PROFILE)
    at.button(key="cm-history-delete-3").click().run()
    assert_clean(at)
    assert at.button_group(key="cm-ghost-cm-history-rate-3").disabled
    assert any("Removed · it was 4.5 ★" in c.value for c in at.caption)


def test_done_words_and_a_one_word_chip() -> None:
    assert components.done_text("rated", 3.5) == "Rated 3.5 ★"
    assert components.done_text("hidden") == "Not interested: won't be suggested"
    assert components.done_text("skipped") == "Skipped: not seen"
    assert components.done_text("removed") == "Removed from your watchlist"
