"""AppTest: every page renders, onboarding counts right, filters reach the API, state survives.

The pages run for real against the real API on the UI model (tests/ui/real_api.py), through
the real ApiClient; no TMDB key is set, so posters are the generated art and no network is
touched.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.harness.api_server import free_port
from ml import rules
from tests.ui.conftest import ENTRY, RUN_TIMEOUT, AppFactory
from tests.ui.real_api import RealApi, serve
from ui import api_client, routes
from ui.api_client import ApiClient

#: Five action films loved: enough for a personal list of the planted taste.
ACTION_FAN = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5}

SIGNED_IN_PAGES = [
    routes.WELCOME,
    routes.ONBOARDING,
    routes.FOR_YOU,
    routes.SEARCH,
    routes.WATCHLIST,
    routes.PROFILE,
    routes.ABOUT_MODEL,
]


# -- reading the rendered app ---------------------------------------------------------------


def card_titles(at: AppTest) -> list[str]:
    found = (re.search(r'class="cm-card-title" title="([^"]*)"', m.value) for m in at.markdown)
    return [unescape(match.group(1)) for match in found if match]


def movie_ids(at: AppTest, prefix: str) -> list[int]:
    """Films on screen, read from their rating controls' keys (``<prefix><movie_id>``)."""
    return [
        int(s.key.removeprefix(prefix))
        for s in at.button_group
        if s.key and s.key.startswith(prefix)
    ]


def progress_text(at: AppTest) -> str:
    assert len(at.progress) == 1
    return at.progress[0].text


def rate_first_on_deck(at: AppTest, rating: float) -> int:
    movie_id = movie_ids(at, "cm-onb-rate-")[0]
    at.button_group(key=f"cm-onb-rate-{movie_id}").set_value(rating).run()
    return movie_id


def badge(at: AppTest) -> str:
    return next(unescape(m.value) for m in at.markdown if 'class="cm-badge' in m.value)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


# -- every page --------------------------------------------------------------------------


@pytest.mark.parametrize("page", SIGNED_IN_PAGES)
def test_every_page_renders_for_a_signed_in_user(
    make_app: AppFactory, api: RealApi, page: str
) -> None:
    at = make_app(user=api.add_user({1: 4.5, 2: 4.0}), page=page)
    assert_clean(at)
    assert at.markdown  # the page drew something, not a blank


def test_a_visitor_sees_welcome_and_about_but_no_private_pages(make_app: AppFactory) -> None:
    at = make_app()
    assert_clean(at)
    assert at.button(key="cm-start").label == "Start"
    at.switch_page(routes.ABOUT_MODEL).run()
    assert_clean(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(routes.PROFILE)


# -- session ------------------------------------------------------------------------------


def test_start_creates_a_user_keeps_it_in_the_url_and_opens_onboarding(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app()
    at.button(key="cm-start").click().run()
    assert_clean(at)
    user_id, token = int(at.query_params["uid"]), at.query_params["token"]
    assert api.ratings_of(user_id, token) == {}  # the API knows this user and token
    assert api.calls_to("/users") and user_id >= 1
    assert progress_text(at) == "0 / 5 rated"


def test_a_refresh_keeps_the_user(make_app: AppFactory, api: RealApi) -> None:
    user = api.add_user({1: 4.5, 2: 4.0})
    # A refresh is a brand-new session that only has the URL.
    at = make_app(user=user, page=routes.ONBOARDING)
    assert_clean(at)
    assert progress_text(at) == "2 / 5 rated"


def test_a_page_change_that_drops_the_url_parameters_gets_them_back(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.FOR_YOU)
    at.query_params.clear()  # what the browser does when the visitor picks another page
    at.run()
    assert at.query_params == {"uid": str(user[0]), "token": user[1]}


def test_logout_clears_url_and_session(make_app: AppFactory, api: RealApi) -> None:
    at = make_app(user=api.add_user({1: 4.0}), page=routes.PROFILE)
    at.button(key="cm-logout").click().run()
    assert "no password" in at.warning[0].value  # asked first: the code is the only way back
    at.button(key="cm-acc-logout-confirm").click().run()
    assert_clean(at)
    assert at.query_params == {}
    assert "cinematch_credentials" not in at.session_state
    assert at.button(key="cm-start").label == "Start"  # back on Welcome, signed out


def test_a_crafted_address_is_a_visitor_not_a_crash(
    make_app: AppFactory, api: RealApi
) -> None:
    """"²".isdigit() is True but int("²") raises: such a uid must read as signed out."""
    at = make_app(user=(0, "x"))  # a valid-looking start, then the crafted one
    at.query_params["uid"] = "²"
    at.run()
    assert not at.exception


def test_resume_code_signs_in(make_app: AppFactory, api: RealApi) -> None:
    user_id, token = api.add_user({1: 4.0})
    at = make_app()
    at.text_input(key="cm-resume-code").input(f"{user_id}:{token}")
    at.button(key="FormSubmitter:cm-resume-Resume").click().run()
    assert_clean(at)
    assert at.query_params == {"uid": str(user_id), "token": token}
    assert progress_text(at) == "1 / 5 rated"


def test_a_stale_session_offers_a_fresh_start(
    make_app: AppFactory, api: RealApi
) -> None:
    user_id, _ = api.add_user()
    at = make_app(user=(user_id, "not-the-token"), page=routes.FOR_YOU)
    assert not at.exception
    assert "session has ended" in at.error[0].value
    assert "older version" not in at.error[0].value
    at.button(key="cm-error-start-again").click().run()
    assert at.query_params == {}
    assert at.button(key="cm-start").label == "Start"


# -- onboarding -----------------------------------------------------------------------------


def test_onboarding_progress_is_exact_after_every_rating_and_unlocks(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.ONBOARDING)
    assert progress_text(at) == "0 / 5 rated"
    for done in range(1, 5):
        rated = rate_first_on_deck(at, 4.5)
        assert_clean(at)
        assert progress_text(at) == f"{done} / 5 rated"
        assert len(api.ratings_of(user[0])) == done
        assert rated not in movie_ids(at, "cm-onb-rate-")  # it left the deck…
        assert len(movie_ids(at, "cm-onb-rate-")) == 10  # …and another took its seat
        assert not at.success
    rate_first_on_deck(at, 3.0)
    assert progress_text(at) == "5 rated · personal list unlocked"
    # Announced on the card just rated (test_ui_signals), not by growing the page above it;
    # a later visit of the page says it at the top.
    assert not at.success
    assert any("unlocked it" in m.value for m in at.markdown)
    at.switch_page(routes.FOR_YOU).run()
    at.switch_page(routes.ONBOARDING).run()
    assert at.success
    assert api.ratings_of(user[0])[rated] == 4.5  # saved exactly as given


def test_unlock_follows_the_apis_ratings_needed_not_a_constant(
    make_app: AppFactory, api: RealApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "PERSONALISATION_THRESHOLD", 3)
    at = make_app(user=api.add_user(), page=routes.ONBOARDING)
    assert progress_text(at) == "0 / 3 rated"
    for _ in range(3):
        rate_first_on_deck(at, 4.0)
    assert progress_text(at) == "3 rated · personal list unlocked"


def test_havent_seen_it_brings_another_film_and_never_the_same_again(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user({1: 5.0})
    at = make_app(user=user, page=routes.ONBOARDING)
    before = movie_ids(at, "cm-onb-rate-")
    assert 1 not in before  # rated films are excluded from the deck
    skipped = before[0]
    at.button(key=f"cm-onb-skip-{skipped}").click().run()
    assert_clean(at)
    after = movie_ids(at, "cm-onb-rate-")
    assert len(after) == 10
    assert skipped not in after
    assert set(after) - set(before)  # a new film
    exclude = api.calls_to(f"/users/{user[0]}/onboarding")[-1]["exclude"]
    assert set(map(str, before[1:])) <= set(exclude)  # the ones still shown, too
    # Stored for the user: a new session (another device) never sees it on the deck either.
    assert skipped in api.on_list(user[0], "skipped")
    fresh = make_app(user=user, page=routes.ONBOARDING)
    assert skipped not in movie_ids(fresh, "cm-onb-rate-")


def test_onboarding_search_rates_any_film(make_app: AppFactory, api: RealApi) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.ONBOARDING)
    at.text_input(key="cm-onb-query").input("comedy film 4").run()
    at.button_group(key="cm-onb-search-rate-204").set_value(5.0).run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {204: 5.0}
    assert progress_text(at) == "1 / 5 rated"
    assert "Saved" in at.toast[0].value


def test_a_film_rated_in_one_row_shows_that_rating_in_another(
    make_app: AppFactory, api: RealApi
) -> None:
    """The deck and the search results can show the same film: both show its rating."""
    user = api.add_user()
    at = make_app(user=user, page=routes.ONBOARDING)
    movie_id = movie_ids(at, "cm-onb-rate-")[0]
    at.text_input(key="cm-onb-query").input(api.movie(movie_id)["title"]).run()
    search_row = f"cm-onb-search-rate-{movie_id}"
    assert at.button_group(key=search_row).value is None
    at.button_group(key=f"cm-onb-rate-{movie_id}").set_value(3.5).run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {movie_id: 3.5}
    assert at.button_group(key=search_row).value == 3.5


def test_a_failed_rating_is_reported_not_raised(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.ONBOARDING)
    api.down = True
    movie_id = rate_first_on_deck(at, 4.0)
    assert not at.exception
    messages = " ".join(e.value for e in [*at.error, *at.toast])
    assert "wasn't saved" in messages
    assert at.button(key="cm-error-retry")
    api.down = False
    at.button(key="cm-error-retry").click().run()
    # The control went back to no choice, so the same choice can simply be made again.
    assert at.button_group(key=f"cm-onb-rate-{movie_id}").value is None
    at.button_group(key=f"cm-onb-rate-{movie_id}").set_value(4.0).run()
    assert_clean(at)
    assert progress_text(at) == "1 / 5 rated"


# -- for you --------------------------------------------------------------------------------


def test_for_you_badge_counts_down_from_the_api(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user({1: 4.0, 2: 4.0, 3: 3.0}), page=routes.FOR_YOU)
    assert "Popular picks — rate 2 more to personalise" in badge(at)
    at = make_app(user=api.add_user(ACTION_FAN), page=routes.FOR_YOU)
    assert "Personal" in badge(at)
    reasons = [m.value for m in at.markdown if "cm-card-reason" in m.value]
    assert reasons and "Because you loved" in reasons[0]


def test_for_you_filters_and_count_reach_the_api(
    make_app: AppFactory, api: RealApi
) -> None:
    at = make_app(user=api.add_user(), page=routes.FOR_YOU)
    assert len(movie_ids(at, "cm-fy-rate-")) == 10
    at.selectbox(key="cm-fy-genre").select("Comedy").run()
    at.selectbox(key="cm-fy-decade").select("1990s").run()
    at.segmented_control(key="cm-fy-count").set_value(20).run()
    assert_clean(at)
    params = api.calls_to("/recommend")[-1]
    assert params["genre"] == ["Comedy"]
    assert (params["year_from"], params["year_to"]) == (["1990"], ["1999"])
    assert params["n"] == ["20"]
    shown = movie_ids(at, "cm-fy-rate-")
    assert shown
    for movie_id in shown:
        movie = api.movie(movie_id)
        assert "Comedy" in movie["genres"] and 1990 <= movie["year"] <= 1999


def test_rating_from_for_you_removes_the_film(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.FOR_YOU)
    first = movie_ids(at, "cm-fy-rate-")[0]
    at.button_group(key=f"cm-fy-rate-{first}").set_value(2.5).run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {first: 2.5}
    assert first not in movie_ids(at, "cm-fy-rate-")
    assert "rate 4 more" in badge(at)


def test_more_like_this_opens_a_dialog_of_similar_films(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.FOR_YOU)
    seed = movie_ids(at, "cm-fy-rate-")[0]
    at.button(key=f"cm-fy-similar-{seed}").click().run()
    assert_clean(at)
    assert at.get("dialog")
    assert api.calls_to(f"/users/{user[0]}/similar/{seed}")
    assert any("match" in m.value for m in at.markdown if "cm-chip" in m.value)


# -- search -----------------------------------------------------------------------------------


def test_search_filters_and_rating_from_results(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    at = make_app(user=user, page=routes.SEARCH)
    assert not movie_ids(at, "cm-search-rate-")  # nothing until asked
    at.text_input(key="cm-search-query").input("film 4").run()
    assert sorted(movie_ids(at, "cm-search-rate-")) == [4, 104, 204]
    at.selectbox(key="cm-search-genre").select("Romance").run()
    at.number_input(key="cm-search-year").set_value(1983).run()
    params = api.calls_to("/movies")[-1]
    assert params["query"] == ["film 4"]
    assert params["genre"] == ["Romance"] and params["year"] == ["1983"]
    assert movie_ids(at, "cm-search-rate-") == [104]
    at.button_group(key="cm-search-rate-104").set_value(4.0).run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {104: 4.0}
    assert at.button_group(key="cm-search-rate-104").value == 4.0  # shown as yours now


# -- profile and about ------------------------------------------------------------------------


def test_profile_totals_history_edit_and_delete(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user({3: 4.5, 2: 4.0, 1: 3.0})
    at = make_app(user=user, page=routes.PROFILE)
    assert at.metric[0].value == "3"
    assert at.metric[1].value == "★ 3.83"
    assert sorted(movie_ids(at, "cm-history-rate-")) == [1, 2, 3]
    at.button_group(key="cm-history-rate-3").set_value(2.0).run()
    assert api.ratings_of(user[0])[3] == 2.0
    at.button(key="cm-history-delete-2").click().run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {3: 2.0, 1: 3.0}
    assert sorted(movie_ids(at, "cm-history-rate-")) == [1, 3]
    assert at.metric[0].value == "2"


def test_choosing_the_current_rating_again_keeps_it(
    make_app: AppFactory, api: RealApi
) -> None:
    """A second click on the chosen value clears a pill; a rating must not vanish that way."""
    user = api.add_user({3: 4.5})
    at = make_app(user=user, page=routes.PROFILE)
    assert at.button_group(key="cm-history-rate-3").value == 4.5
    at.button_group(key="cm-history-rate-3").set_value(None).run()
    assert_clean(at)
    assert api.ratings_of(user[0]) == {3: 4.5}
    assert at.button_group(key="cm-history-rate-3").value == 4.5


def test_profile_history_pages_through_long_histories(
    make_app: AppFactory, api: RealApi
) -> None:
    everything = {movie_id: 3.0 for movie_id in [*range(1, 11), *range(101, 111)]}
    user_id, token = api.add_user(everything)
    at = make_app(user=(user_id, token), page=routes.PROFILE)
    assert len(movie_ids(at, "cm-history-rate-")) == 15
    at.pagination[0].set_value(2).run()
    assert_clean(at)
    assert len(movie_ids(at, "cm-history-rate-")) == 5
    # Deleted rows stay in place (with Undo) for the visit, so nothing moves under the pointer.
    last_page = movie_ids(at, "cm-history-rate-")
    for movie_id in last_page:
        at.button(key=f"cm-history-delete-{movie_id}").click().run()
    assert_clean(at)
    assert len(api.ratings_of(user_id)) == 15
    assert movie_ids(at, "cm-history-rate-") == []
    assert [b.key for b in at.button if b.key and b.key.startswith("cm-history-undo-")] == [
        f"cm-history-undo-{movie_id}" for movie_id in last_page
    ]
    at.button(key=f"cm-history-undo-{last_page[0]}").click().run()
    assert api.ratings_of(user_id)[last_page[0]] == 3.0
    assert not [b for b in at.button if b.key == f"cm-history-undo-{last_page[0]}"]
    # Coming back to the page later: the removed rows are gone, and so is the second page.
    at.switch_page(routes.FOR_YOU).run()
    at.switch_page(routes.PROFILE).run()
    assert len(movie_ids(at, "cm-history-rate-")) == 15
    at.pagination[0].set_value(2).run()
    assert len(movie_ids(at, "cm-history-rate-")) == 1  # 16 ratings: 15 + 1
    assert not [b for b in at.button if b.key and b.key.startswith("cm-history-undo-")]


def test_about_the_model_shows_rmse_and_top_n_tables(make_app: AppFactory) -> None:
    at = make_app()
    at.switch_page(routes.ABOUT_MODEL).run()
    assert_clean(at)
    rating, top_n = (frame.value for frame in at.dataframe)
    assert list(rating.columns) == ["Model", "RMSE", "MAE"]
    assert rating["RMSE"].min() == pytest.approx(0.5)
    assert {"Recall@10", "NDCG@10"} <= set(top_n.columns)
    assert "popularity" in set(top_n["Model"])
    data_line = next(c.value for c in at.caption if c.value.startswith("Data"))
    assert "ratings: 6,000" in data_line


def test_about_the_model_draws_a_top_n_table_with_one_metric(
    tiny_model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older manifest may carry Recall@10 only: one bar colour, not a crash."""
    manifest_path = tiny_model_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    top_n = manifest["metrics"]["top_n"]
    manifest["metrics"]["top_n"] = [{k: v for k, v in row.items() if k != "ndcg_at_10"}
                                    for row in top_n]
    manifest_path.write_text(json.dumps(manifest))
    with serve(tiny_model_copy, tmp_path / "old.db") as old:
        client = old.ui_client()
        monkeypatch.setattr(api_client, "get_client", lambda: client)
        assert "ndcg_at_10" not in old.client.get("/model/evaluation").json()["top_n"][0]
        at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT)
        at.run()
        at.switch_page(routes.ABOUT_MODEL).run()
    assert_clean(at)
    assert [frame.value for frame in at.dataframe]


# -- the API going away ------------------------------------------------------------------------


def test_api_down_shows_a_banner_with_retry_then_recovers(
    make_app: AppFactory, api: RealApi
) -> None:
    user = api.add_user()
    api.down = True
    at = make_app(user=user, page=routes.FOR_YOU)
    assert not at.exception
    assert "unavailable" in at.error[0].value
    api.down = False
    at.button(key="cm-error-retry").click().run()
    assert_clean(at)
    assert len(movie_ids(at, "cm-fy-rate-")) == 10


def test_unreachable_api_is_a_banner_not_a_traceback(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = ApiClient(f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(api_client, "get_client", lambda: dead)
    at = make_app()
    at.button(key="cm-start").click().run()
    assert not at.exception
    assert "Can't reach the CineMatch service" in at.toast[0].value
    at.switch_page(routes.ABOUT_MODEL).run()
    assert not at.exception
    assert "Can't reach the CineMatch service" in at.error[0].value
    assert at.button(key="cm-error-retry")
