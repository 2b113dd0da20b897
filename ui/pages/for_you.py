"""For you: the recommendation grid, its filters and request, rating in place, signals.

The list holds still: it is fetched once per choice of filters and kept in the session. A card
rated or hidden keeps its seat, saying what was done, with Undo, so nothing slides under the
pointer; the unlock of the personal list is announced on the card just rated. The request,
filters and toggles, and the list, are still there after a visit to another page. The Genre and
Decade filters and the request's chips never contradict: the last chosen wins, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import streamlit as st

from contract import models as wire
from ui import api_client, components, intent_prompt
from ui.api_client import ApiError, Recommendation, RecommendationPage

ALL_GENRES = "All genres"
ANY_DECADE = "Any decade"
COUNTS = (10, 20, 30)
#: The discover control: how far the personal list moves away from the most rated films.
DISCOVER = {"Familiar": 0.0, "Mixed": 0.5, "Discover": 1.0}
#: What the filters or the request replaced last (shown until the next change).
REPLACED_KEY = "cm-fy-replaced"
BEST_MATCH = "Best match"
BY_STARS = "Predicted stars"
LIST_KEY = "cm-fy-list"
#: The settings' widgets and their first values. Streamlit forgets a widget's value on a run
#: that does not draw it (a visit to another page), so the values chosen are also kept under
#: KEPT_KEY and handed back on return: the request, filters and the list built stay.
SETTINGS: dict[str, object] = {
    intent_prompt.TEXT_KEY: "",
    "cm-fy-genre": ALL_GENRES,
    "cm-fy-decade": ANY_DECADE,
    "cm-fy-count": COUNTS[0],
    "cm-fy-discover": "Familiar",
    "cm-fy-sort": BEST_MATCH,
}
KEPT_KEY = "cm-fy-kept"
SORT_EXPLAINED = {
    BEST_MATCH: "Sorted by best match: the films most likely to be right for you come first. "
    "The gold stars say how much you'd enjoy each one once you watch it, so they need not "
    "fall in order.",
    BY_STARS: "Sorted by predicted stars: the films you'd rate highest first.",
}


@dataclass
class ShownList:
    """The list on screen, as fetched for ``params``, and what was done to its cards since."""

    params: tuple[object, ...]
    page: RecommendationPage
    #: movie_id → ("rated", stars) or ("hidden", None): cards shown as done, with Undo.
    done: dict[int, tuple[str, float | None]] = field(default_factory=dict)
    #: The film whose rating unlocked the personal list; its card announces it.
    unlocked_by: int | None = None
    #: Ratings still needed, as the last rating here reported (the list itself stays).
    ratings_needed: int | None = None


def restore_settings(options: dict[str, Sequence[object]]) -> None:
    """Give each settings widget the value last chosen here (or its first value) when
    Streamlit dropped it; a kept value no longer among the widget's ``options`` is reset."""
    kept: dict[str, object] = st.session_state.get(KEPT_KEY, {})
    for key, default in SETTINGS.items():
        if key not in st.session_state:
            st.session_state[key] = kept.get(key, default)
        if key in options and st.session_state[key] not in options[key]:
            st.session_state[key] = default


def keep_settings() -> None:
    st.session_state[KEPT_KEY] = {key: st.session_state.get(key) for key in SETTINGS}


def held_list() -> ShownList | None:
    return st.session_state.get(LIST_KEY)


def mark_done(movie_id: int, what: str, value: float | None = None) -> None:
    held = held_list()
    if held is not None:
        held.done[movie_id] = (what, value)


def hide_here(movie_id: int) -> None:
    mark_done(movie_id, "hidden")


def undo(movie_id: int, title: str) -> None:
    """Take back what was done to a card: the rating is removed, or the film un-hidden."""
    held = held_list()
    what = held.done.get(movie_id) if held is not None else None
    if held is None or what is None:
        return
    if components.take_back(what[0], movie_id, title):
        held.done.pop(movie_id, None)


def fresh_list() -> None:
    st.session_state.pop(LIST_KEY, None)


def rate_here(movie_id: int, title: str, value: float) -> object:
    """Save the rating; the card leaves, and the unlock, if this was it, shows in its place."""
    progress = components.save_rating(movie_id, title, value)
    held = held_list()
    if progress is not None and held is not None:
        held.ratings_needed = progress.ratings_needed
        if held.page.source == "popularity" and progress.recommendation_mode == "personalized":
            held.unlocked_by = movie_id
            components.flash("Your personal list is ready")
        else:
            mark_done(movie_id, "rated", value)
    return progress


#: The "More like this" dialog's films, fetched once per opening, and what was done to them.
SIMILAR_KEY = "cm-sim-held"


@dataclass
class HeldSimilar:
    """The dialog's list, held still while it is open: a card rated or hidden keeps its
    seat, saying so, with Undo (as on the page behind it)."""

    seed: int
    films: list[wire.PersonalSimilarOut]
    done: dict[int, tuple[str, float | None]] = field(default_factory=dict)


def held_similar() -> HeldSimilar | None:
    return st.session_state.get(SIMILAR_KEY)


def forget_similar() -> None:
    """A new opening of the dialog fetches its films afresh."""
    st.session_state.pop(SIMILAR_KEY, None)


def rate_similar(movie_id: int, title: str, first: bool, value: float) -> object:
    """Save the rating (its card on the page behind is marked too); a film rated for the
    ``first`` time keeps its seat in the dialog, saying so, with Undo."""
    progress = rate_here(movie_id, title, value)
    held = held_similar()
    if progress is not None and held is not None and first:
        held.done[movie_id] = ("rated", value)
    return progress


def hide_similar(movie_id: int) -> None:
    hide_here(movie_id)
    held = held_similar()
    if held is not None:
        held.done[movie_id] = ("hidden", None)


def undo_similar(movie_id: int, title: str) -> None:
    held = held_similar()
    what = held.done.get(movie_id) if held is not None else None
    if held is None or what is None or not components.take_back(what[0], movie_id, title):
        return
    held.done.pop(movie_id, None)
    behind = held_list()
    if behind is not None and behind.done.get(movie_id) == what:
        behind.done.pop(movie_id, None)


@st.dialog("More like this", width="large")
def more_like_this(movie_id: int, title: str) -> None:
    """Films similar to one recommendation, minus hidden ones; rate, hide or keep them here."""
    # A click in the dialog reruns only the dialog: say what it did now, not on a later run.
    components.show_flash()
    components.markup(components.lede_html("Because you're looking at", title))
    creds = components.require_user()
    held = held_similar()
    try:
        if held is None or held.seed != movie_id:
            held = HeldSimilar(
                movie_id, api_client.get_client().similar_for_user(creds, movie_id, n=10))
            st.session_state[SIMILAR_KEY] = held
        watchlist = components.listed_ids(creds, "watchlist")
    except ApiError as err:
        st.error(err.message, icon=":material/cloud_off:")
        return
    if not held.films:
        st.caption("No similar films found.")
        return

    def similar_controls(item: wire.PersonalSimilarOut) -> None:
        if item.your_rating is not None:
            st.caption("✓ You rated this")
        components.rating_control(
            f"cm-sim-rate-{movie_id}-{item.movie_id}",
            current=item.your_rating,
            on_rate=partial(rate_similar, item.movie_id, item.title, item.your_rating is None),
        )
        components.film_actions(
            item, key=f"cm-sim-{movie_id}", on_watchlist=item.movie_id in watchlist,
            after_hide=hide_similar,
        )

    def similar_card(item: wire.PersonalSimilarOut, poster_src: str) -> None:
        done = held.done.get(item.movie_id)
        if done is not None:
            components.done_card(
                item, poster_src, key=f"cm-sim-{movie_id}", done=components.done_text(*done),
                on_undo=partial(undo_similar, item.movie_id, item.title),
                controls=partial(similar_controls, item),
            )
            return
        chip: str | None
        if item.your_rating is not None:
            chip = components.star_chip(item.your_rating, "yours")
        else:
            chip = f"{item.similarity:.0%} match" if 0 <= item.similarity <= 1 else None
        components.card(item, poster_src, chip=chip)
        similar_controls(item)

    components.film_grid(held.films, key=f"similar-{movie_id}", body=similar_card)


def unlock_tile(movie_id: int) -> None:
    """Where the person just rated: the news, and the way to the list."""
    components.markup(components.unlock_html("That rating unlocked it."))
    st.button(
        "Show my list",
        key=f"cm-fy-unlock-{movie_id}",
        on_click=fresh_list,
        type="primary",
        icon=":material/auto_awesome:",
        width="stretch",
    )


def recommendation_controls(rec: Recommendation, watchlist: set[int]) -> None:
    components.rating_control(
        f"cm-fy-rate-{rec.movie_id}",
        on_rate=partial(rate_here, rec.movie_id, rec.title),
    )
    components.film_actions(
        rec, key="cm-fy", on_watchlist=rec.movie_id in watchlist, after_hide=hide_here
    )
    if components.card_button(
        "More like this", key=f"cm-fy-similar-{rec.movie_id}", icon=":material/movie_filter:",
        on_click=forget_similar,
    ):
        more_like_this(rec.movie_id, rec.title)


def recommendation_card(rec: Recommendation, poster_src: str, watchlist: set[int]) -> None:
    held = held_list()
    if held is not None and held.unlocked_by == rec.movie_id:
        unlock_tile(rec.movie_id)
        return
    done = held.done.get(rec.movie_id) if held is not None else None
    if done is not None:
        components.done_card(
            rec, poster_src, key="cm-fy", on_undo=partial(undo, rec.movie_id, rec.title),
            done=components.done_text(*done), reason=rec.reason,
            controls=partial(recommendation_controls, rec, watchlist),
        )
        return
    components.card(rec, poster_src, chip=components.star_chip(rec.predicted_rating),
                    reason=rec.reason)
    recommendation_controls(rec, watchlist)


def _filter_years() -> tuple[int | None, int | None]:
    decade = st.session_state.get("cm-fy-decade")
    return components.decade_bounds(None if decade in (None, ANY_DECADE) else decade)


def _filter_genre() -> str | None:
    genre = st.session_state.get("cm-fy-genre")
    return None if genre in (None, ALL_GENRES) else genre


def _quoted(chips: list[intent_prompt.Chip]) -> str:
    return ", ".join(f"“{chip.label}”" for chip in chips)


def filter_chosen(which: str) -> None:
    """A filter was set after the request: chips it contradicts leave the request."""
    st.session_state.pop(REPLACED_KEY, None)
    held = held_list()
    intent = held.page.intent if held is not None else None
    if intent is None:
        return
    genre, years = _filter_genre(), _filter_years()
    rewritten = intent_prompt.request_without_clashes(
        intent, genre if which == "genre" else None, years if which == "decade" else (None, None)
    )
    if rewritten is None:
        return
    text, gone = rewritten
    st.session_state[intent_prompt.TEXT_KEY] = text
    decade = st.session_state.get("cm-fy-decade")
    chosen = f"Genre: {genre}" if which == "genre" else f"Decade: {decade}"
    st.session_state[REPLACED_KEY] = (
        f"{chosen} replaces {_quoted(gone)} in your request.")


def request_chosen() -> None:
    """A request was typed after the filters: a filter it contradicts is reset."""
    st.session_state.pop(REPLACED_KEY, None)
    text = str(st.session_state.get(intent_prompt.TEXT_KEY) or "").strip()
    genre, years = _filter_genre(), _filter_years()
    if not text or (genre is None and years == (None, None)):
        return
    try:
        intent = api_client.get_client().read_intent(text)
    except ApiError:
        return  # the list's own request will say what went wrong
    chips = intent_prompt.chips_of(intent)
    replaced = []
    if genre is not None and any(intent_prompt.clashes(c, genre, (None, None)) for c in chips):
        st.session_state["cm-fy-genre"] = ALL_GENRES
        replaced.append(f"the Genre filter ({genre})")
    if years != (None, None) and any(intent_prompt.clashes(c, None, years) for c in chips):
        replaced.append(f"the Decade filter ({st.session_state['cm-fy-decade']})")
        st.session_state["cm-fy-decade"] = ANY_DECADE
    if replaced:
        st.session_state[REPLACED_KEY] = (
            f"Your request “{text}” replaces {' and '.join(replaced)}.")


creds = components.require_user()
client = api_client.get_client()

components.page_header(
    "Now showing",
    "Picked for you",
    "Rate a film you've already seen: it keeps its place, with Undo, and the list holds "
    "still until you ask for a fresh one.",
)

with components.api_guard():
    genres = client.genres()
    decades = client.decades()

genre_options = [ALL_GENRES, *genres]
decade_options = [ANY_DECADE, *components.decade_options(decades)]
restore_settings({
    "cm-fy-genre": genre_options, "cm-fy-decade": decade_options, "cm-fy-count": list(COUNTS),
    "cm-fy-discover": list(DISCOVER), "cm-fy-sort": [BEST_MATCH, BY_STARS],
})
request = intent_prompt.prompt(on_new_request=request_chosen)

with st.expander("Filters: genre, decade, how many", icon=":material/tune:"):
    genre_col, decade_col, count_col = st.columns([3, 3, 2], vertical_alignment="bottom")
    genre = genre_col.selectbox(
        "Genre", genre_options, key="cm-fy-genre", on_change=filter_chosen,
        args=("genre",),
    )
    decade = decade_col.selectbox(
        "Decade", decade_options, key="cm-fy-decade",
        on_change=filter_chosen, args=("decade",),
    )
    count = count_col.segmented_control(
        "Films", COUNTS, key="cm-fy-count", required=True
    )

discover_col, sort_col = st.columns(2, vertical_alignment="bottom")
discover_label = discover_col.segmented_control(
    "Familiar or new to you?",
    list(DISCOVER),
    key="cm-fy-discover",
    required=True,
    help="Discover moves your list away from the blockbusters, towards films fewer people "
    "have seen that still match your taste.",
)
sort = sort_col.segmented_control(
    "Order", [BEST_MATCH, BY_STARS], key="cm-fy-sort", required=True
)
keep_settings()

year_from, year_to = components.decade_bounds(None if decade == ANY_DECADE else decade)
params = (
    int(count or COUNTS[0]),
    None if genre == ALL_GENRES else genre,
    year_from,
    year_to,
    DISCOVER.get(discover_label or "Familiar", 0.0),
    request,
)
held = held_list()
if held is None or held.params != params:
    with components.api_guard():
        page = client.recommend(
            creds, n=params[0], genre=params[1], year_from=year_from, year_to=year_to,
            discover=params[4], q=request,
        )
    held = ShownList(params=params, page=page)
    st.session_state[LIST_KEY] = held
with components.api_guard():
    watchlist = components.listed_ids(creds, "watchlist")

intent_prompt.show_reading(
    held.page.intent, tuple(r.reason for r in held.page.relaxed), held.page.note)
if replaced := st.session_state.get(REPLACED_KEY):
    st.info(replaced, icon=":material/swap_horiz:")
badge_col, fresh_col = st.container(key="cm-fy-badge-row").columns(
    [4, 1], vertical_alignment="center"
)
needed = held.page.ratings_needed if held.ratings_needed is None else held.ratings_needed
badge_col.markdown(components.mode_badge_html(held.page.source, needed), unsafe_allow_html=True)
fresh_col.button(
    "Fresh list", key="cm-fy-fresh", on_click=fresh_list, icon=":material/refresh:",
    width="stretch",
)
if held.page.source == "popularity" and params[4] > 0:
    st.caption("Discover starts working once your list is personal.")
with st.container(key="cm-fy-sort-explained"):
    st.caption(SORT_EXPLAINED[sort or BEST_MATCH])

items = held.page.recommendations
if sort == BY_STARS:
    items = sorted(items, key=lambda rec: -rec.predicted_rating)
if items:
    components.film_grid(items, key="fy", body=partial(recommendation_card, watchlist=watchlist))
elif not held.page.note:  # a request's note already says why the list is empty
    components.empty_state(
        "Nothing on this bill",
        "No unrated films match these filters. Try another genre or decade, or a fresh list.",
    )
