"""AppTest of the signal controls and the lists that hold still.

Each new control is driven through the real ``ApiClient`` against the real API on the UI model
(tests/ui/real_api.py), and the test checks both what the API holds and what is shown.
"""

from __future__ import annotations

from html import unescape

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import AppFactory
from tests.ui.real_api import CROUCHING_TIGER, GODFATHER, RealApi
from tests.ui.test_ui_pages import assert_clean, badge, card_titles, movie_ids
from ui import routes

#: Four ratings of action films: one more unlocks the personal list (ml.rules: 5).
FOUR = {1: 5.0, 2: 4.5, 3: 4.0, 4: 3.0}
FIVE = {**FOUR, 5: 4.0}


def shown(at: AppTest) -> list[int]:
    return movie_ids(at, "cm-fy-rate-")


def markdown_text(at: AppTest) -> str:
    return unescape(" ".join(m.value for m in at.markdown))


def test_want_to_watch_toggles_the_watchlist_and_says_so(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.FOR_YOU)
    first = shown(at)[0]
    at.button(key=f"cm-fy-watch-{first}").click().run()
    assert_clean(at)
    assert first in api.on_list(user[0], "watchlist")
    assert at.button(key=f"cm-fy-watch-{first}").label == "On watchlist"
    assert first in shown(at)  # keeping it for later does not take it off the list
    at.button(key=f"cm-fy-watch-{first}").click().run()
    assert first not in api.on_list(user[0], "watchlist")
    assert at.button(key=f"cm-fy-watch-{first}").label == "Want to watch"


def test_not_interested_removes_only_that_card_and_is_stored(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    before = shown(at)
    at.button(key=f"cm-fy-hide-{before[2]}").click().run()
    assert_clean(at)
    assert before[2] in api.on_list(user[0], "hidden")
    assert shown(at) == before[:2] + before[3:]  # the rest keep their places
    at.button(key="cm-fy-fresh").click().run()
    assert before[2] not in shown(at)  # and it never comes back


def test_rating_on_for_you_keeps_the_other_cards_in_place(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    before = shown(at)
    recommend_calls = len(api.calls_to("/recommend"))
    at.button_group(key=f"cm-fy-rate-{before[0]}").set_value(4.0).run()
    assert_clean(at)
    assert shown(at) == before[1:]
    assert len(api.calls_to("/recommend")) == recommend_calls  # not re-ranked
    at.button(key="cm-fy-fresh").click().run()
    assert len(api.calls_to("/recommend")) == recommend_calls + 1


def test_the_unlock_is_announced_on_the_card_just_rated(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user(FOUR)
    at = make_app(user=user, page=routes.FOR_YOU)
    before = shown(at)
    at.button_group(key=f"cm-fy-rate-{before[3]}").set_value(4.5).run()
    assert_clean(at)
    assert "Your personal list is ready" in markdown_text(at)
    assert shown(at) == before[:3] + before[4:]
    at.button(key=f"cm-fy-unlock-{before[3]}").click().run()
    assert "Personal" in badge(at)


def test_the_discover_control_asks_for_a_discover_list(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(FIVE), page=routes.FOR_YOU)
    familiar = shown(at)
    at.button_group(key="cm-fy-discover").set_value("Discover").run()
    assert_clean(at)
    assert api.calls_to("/recommend")[-1]["discover"] == ["1.0"]
    assert shown(at) != familiar
    at.button_group(key="cm-fy-discover").set_value("Familiar").run()
    assert "discover" not in api.calls_to("/recommend")[-1]
    assert shown(at) == familiar


def test_the_order_is_explained_and_can_follow_the_stars(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(FIVE), page=routes.FOR_YOU)
    assert any("Sorted by best match" in c.value for c in at.caption)
    user_id = next(iter(api.tokens))
    page = api.get(f"/recommend?user_id={user_id}&n=50", user_id)
    stars = {r["movie_id"]: r["predicted_rating"] for r in page["recommendations"]}
    at.button_group(key="cm-fy-sort").set_value("Predicted stars").run()
    assert_clean(at)
    assert any("Sorted by predicted stars" in c.value for c in at.caption)
    order = shown(at)
    assert [stars[m] for m in order] == sorted((stars[m] for m in order), reverse=True)


def test_filters_fold_away(make_app: AppFactory, api: RealApi) -> None:
    at = make_app(user=api.add_user(), page=routes.FOR_YOU)
    assert at.expander and "Filters" in at.expander[0].label
    assert at.selectbox(key="cm-fy-genre") in at.expander[0].selectbox


def test_more_like_this_rates_hides_keeps_and_marks_rated_films(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user(FIVE)
    at = make_app(user=user, page=routes.FOR_YOU)
    seed = shown(at)[0]
    at.button(key=f"cm-fy-similar-{seed}").click().run()
    assert_clean(at)
    similar = movie_ids(at, f"cm-sim-rate-{seed}-")
    rated = [m for m in similar if m in FIVE]
    assert rated, "an action film's similar films include some the action fan rated"
    assert at.button_group(key=f"cm-sim-rate-{seed}-{rated[0]}").value == FIVE[rated[0]]
    assert any("You rated this" in c.value for c in at.caption)
    fresh = next(m for m in similar if m not in FIVE)

    def reopen() -> None:  # AppTest reruns the whole app, which closes the dialog
        at.button(key=f"cm-fy-similar-{seed}").click().run()

    at.button(key=f"cm-sim-{seed}-watch-{fresh}").click().run()
    assert fresh in api.on_list(user[0], "watchlist")
    reopen()
    assert at.button(key=f"cm-sim-{seed}-watch-{fresh}").label == "On watchlist"
    at.button(key=f"cm-sim-{seed}-hide-{fresh}").click().run()
    assert fresh in api.on_list(user[0], "hidden")
    reopen()
    assert fresh not in movie_ids(at, f"cm-sim-rate-{seed}-")
    last = movie_ids(at, f"cm-sim-rate-{seed}-")[-1]
    at.button_group(key=f"cm-sim-rate-{seed}-{last}").set_value(3.5).run()
    assert api.ratings_of(user[0])[last] == 3.5


def test_the_watchlist_page_lists_removes_and_rates(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.FOR_YOU)
    for movie_id in shown(at)[:3]:
        at.button(key=f"cm-fy-watch-{movie_id}").click().run()
    kept = api.on_list(user[0], "watchlist")
    at.switch_page(routes.WATCHLIST).run()
    assert_clean(at)
    assert sorted(movie_ids(at, "cm-watch-rate-")) == sorted(kept)
    at.button(key=f"cm-watch-remove-{kept[0]}").click().run()
    assert kept[0] not in movie_ids(at, "cm-watch-rate-")
    at.button_group(key=f"cm-watch-rate-{kept[1]}").set_value(5.0).run()
    assert api.ratings_of(user[0]) == {kept[1]: 5.0}
    assert movie_ids(at, "cm-watch-rate-") == [kept[2]]


def test_an_empty_watchlist_says_how_to_fill_it(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.WATCHLIST)
    assert_clean(at)
    assert "Nothing saved yet" in markdown_text(at)


def test_search_shows_the_corrected_query_and_did_you_mean(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.SEARCH)
    at.text_input(key="cm-search-query").input("godfater").run()
    assert_clean(at)
    assert movie_ids(at, "cm-search-rate-") == [GODFATHER]
    assert "Showing results for godfather" in markdown_text(at).replace("<em>", "").replace(
        "</em>", "")
    at.text_input(key="cm-search-query").input("crouchng tigr zzzz qqqq").run()
    assert movie_ids(at, "cm-search-rate-") == []
    suggestion = at.button(key="cm-search-suggestion")
    assert suggestion.label.startswith("Did you mean ")
    suggestion.click().run()
    assert at.text_input(key="cm-search-query").value == "Crouching Tiger, Hidden Dragon"
    assert movie_ids(at, "cm-search-rate-") == [CROUCHING_TIGER]


def test_search_cards_carry_the_signal_buttons(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.SEARCH)
    at.text_input(key="cm-search-query").input("comedy film 4").run()
    at.button(key="cm-search-hide-204").click().run()
    at.button(key="cm-search-watch-204").click().run()
    assert api.on_list(user[0], "hidden") == [204]
    assert api.on_list(user[0], "watchlist") == [204]


def test_cards_show_the_subtitle_and_every_genre(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.SEARCH)
    at.text_input(key="cm-search-query").input("crouching").run()
    assert card_titles(at) == ["Crouching Tiger, Hidden Dragon"]
    text = markdown_text(at)
    assert "Wo hu cang long" in text and "Action, Drama, Romance" in text
    at.text_input(key="cm-search-query").input("godfather").run()
    assert "Comedy, Crime, Drama, Romance, War" in markdown_text(at)


def test_the_fifth_rating_on_the_deck_announces_the_unlock_in_its_seat(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(FOUR), page=routes.ONBOARDING)
    seat = movie_ids(at, "cm-onb-rate-")[4]
    at.button_group(key=f"cm-onb-rate-{seat}").set_value(4.0).run()
    assert_clean(at)
    assert "Your personal list is ready" in markdown_text(at)
    assert seat not in movie_ids(at, "cm-onb-rate-")
    assert any(link.label == "See my list" for link in at.get("page_link"))


def test_about_speaks_to_people_with_a_human_date_and_plain_names(
    make_app: AppFactory,
) -> None:
    at = make_app()
    at.switch_page(routes.ABOUT_MODEL).run()
    assert_clean(at)
    text = markdown_text(at)
    assert "What it learnt from" in " ".join(h.value for h in at.subheader)
    assert "1 November 2026" in text and "2026-11-01T" not in text
    assert "off by **0.67 stars**" in text  # the UI model's funksvd MAE, said in stars
    charts = [str(node.proto) for node in _walk(at._tree) if "vega" in type(node).__name__.lower()
              or "vega" in getattr(node, "type", "")]
    assert len(charts) == 2, "a chart of its star guesses and one of its top ten"
    assert "Average miss, in stars" in charts[0] and "Loved films found" in charts[1]
    assert "Guess the average" in charts[0] and "global_mean" not in charts[0]


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)
