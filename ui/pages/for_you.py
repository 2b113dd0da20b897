"""For you: the recommendation grid, its filters, discover control, rating in place, signals.

A request in plain words ("What are you in the mood for?", ``ui.intent_prompt``) narrows
and steers the list; the API reads it and each card's reason says why the film fits both the
request and the person.

Whether the list is popular picks or personal, and how many ratings unlock a personal one,
is whatever the API's ``source`` and ``ratings_needed`` say.

The list holds still: it is fetched once per choice of filters and kept in the session, and
rating, hiding or "More like this" only take that one card away. A fresh list comes when the
person asks for one (or changes a filter). The unlock at the threshold is announced on the
card the person just rated, where they are, with a button to the personal list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import streamlit as st

from ui import api_client, components, intent_prompt
from ui.api_client import ApiError, Recommendation, RecommendationPage

ALL_GENRES = "All genres"
ANY_DECADE = "Any decade"
COUNTS = (10, 20, 30)
#: The discover control: how far the personal list moves away from the most rated films.
DISCOVER = {"Familiar": 0.0, "Mixed": 0.5, "Discover": 1.0}
BEST_MATCH = "Best match"
BY_STARS = "Predicted stars"
LIST_KEY = "cm-fy-list"
SORT_EXPLAINED = {
    BEST_MATCH: "Sorted by best match: the films most likely to be right for you come first. "
    "The gold stars say how much you'd enjoy each one once you watch it, so they need not "
    "fall in order.",
    BY_STARS: "Sorted by predicted stars: the films you'd rate highest first.",
}


@dataclass
class ShownList:
    """The list on screen, as fetched for ``params``, minus the cards taken away since."""

    params: tuple[object, ...]
    page: RecommendationPage
    gone: set[int] = field(default_factory=set)
    #: The film whose rating unlocked the personal list; its card announces it.
    unlocked_by: int | None = None
    #: Ratings still needed, as the last rating here reported (the list itself stays).
    ratings_needed: int | None = None

    @property
    def items(self) -> list[Recommendation]:
        return [item for item in self.page.items if item.movie_id not in self.gone]


def held_list() -> ShownList | None:
    return st.session_state.get(LIST_KEY)


def drop_card(movie_id: int) -> None:
    held = held_list()
    if held is not None:
        held.gone.add(movie_id)


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
            drop_card(movie_id)
    return progress


@st.dialog("More like this", width="large")
def more_like_this(movie_id: int, title: str) -> None:
    """Films similar to one recommendation, minus hidden ones; rate, hide or keep them here."""
    st.markdown(
        components.lede_html("Because you're looking at", title),
        unsafe_allow_html=True,
    )
    creds = components.require_user()
    try:
        similar = api_client.get_client().similar_for_user(creds, movie_id, n=10)
    except ApiError as err:
        st.error(err.message, icon=":material/cloud_off:")
        return
    if not similar:
        st.caption("No similar films found.")
        return
    films = [item.movie for item in similar]
    by_id = {item.movie.movie_id: item for item in similar}

    def similar_card(film: api_client.Movie, poster_src: str) -> None:
        item = by_id[film.movie_id]
        chip: str | None
        if item.your_rating is not None:
            chip = components.star_chip(item.your_rating, "yours")
        else:
            chip = f"{item.similarity:.0%} match" if 0 <= item.similarity <= 1 else None
        st.markdown(components.card_html(film, poster_src, chip=chip), unsafe_allow_html=True)
        if item.your_rating is not None:
            st.caption("✓ You rated this")
        components.rating_control(
            f"cm-sim-rate-{movie_id}-{film.movie_id}",
            current=item.your_rating,
            on_rate=partial(rate_here, film.movie_id, film.title),
        )
        components.film_actions(
            film, key=f"cm-sim-{movie_id}", on_watchlist=item.on_watchlist,
            after_hide=drop_card,
        )

    components.film_grid(films, key=f"similar-{movie_id}", body=similar_card)


def unlock_tile(movie_id: int) -> None:
    """Where the person just rated: the news, and the way to the list."""
    st.markdown(components.unlock_html("That rating unlocked it."), unsafe_allow_html=True)
    st.button(
        "Show my list",
        key=f"cm-fy-unlock-{movie_id}",
        on_click=fresh_list,
        type="primary",
        icon=":material/auto_awesome:",
        width="stretch",
    )


def recommendation_card(rec: Recommendation, poster_src: str, watchlist: set[int]) -> None:
    held = held_list()
    if held is not None and held.unlocked_by == rec.movie_id:
        unlock_tile(rec.movie_id)
        return
    st.markdown(
        components.card_html(
            rec,
            poster_src,
            chip=components.star_chip(rec.predicted_rating),
            reason=rec.reason,
        ),
        unsafe_allow_html=True,
    )
    components.rating_control(
        f"cm-fy-rate-{rec.movie_id}",
        on_rate=partial(rate_here, rec.movie_id, rec.title),
    )
    components.film_actions(
        rec, key="cm-fy", on_watchlist=rec.movie_id in watchlist, after_hide=drop_card
    )
    if st.button(
        "More like this",
        key=f"cm-fy-similar-{rec.movie_id}",
        icon=":material/movie_filter:",
        type="tertiary",
        width="stretch",
    ):
        more_like_this(rec.movie_id, rec.title)


creds = components.require_user()
client = api_client.get_client()

components.page_header(
    "Now showing",
    "Picked for you",
    "Rate a film you've already seen and only that card leaves; the rest stay put until you "
    "ask for a fresh list.",
)

with components.api_guard():
    genres = client.genres()

request = intent_prompt.prompt()

with st.expander("Filters: genre, decade, how many", icon=":material/tune:"):
    genre_col, decade_col, count_col = st.columns([3, 3, 2], vertical_alignment="bottom")
    genre = genre_col.selectbox("Genre", [ALL_GENRES, *genres], key="cm-fy-genre")
    decade = decade_col.selectbox(
        "Decade", [ANY_DECADE, *components.decade_options()], key="cm-fy-decade"
    )
    count = count_col.segmented_control(
        "Films", COUNTS, default=COUNTS[0], key="cm-fy-count", required=True
    )

discover_col, sort_col = st.columns(2, vertical_alignment="bottom")
discover_label = discover_col.segmented_control(
    "Familiar or new to you?",
    list(DISCOVER),
    default="Familiar",
    key="cm-fy-discover",
    required=True,
    help="Discover moves your list away from the blockbusters, towards films fewer people "
    "have seen that still match your taste.",
)
sort = sort_col.segmented_control(
    "Order", [BEST_MATCH, BY_STARS], default=BEST_MATCH, key="cm-fy-sort", required=True
)

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
    watchlist = components.watchlist_ids(creds)

intent_prompt.show_reading(held.page.intent, held.page.relaxed, held.page.note)
badge_col, fresh_col = st.columns([4, 1], vertical_alignment="center")
badge_col.markdown(
    components.mode_badge_html(
        held.page.source,
        held.page.ratings_needed if held.ratings_needed is None else held.ratings_needed,
    ),
    unsafe_allow_html=True,
)
fresh_col.button(
    "Fresh list", key="cm-fy-fresh", on_click=fresh_list, icon=":material/refresh:",
    width="stretch",
)
if held.page.source == "popularity" and params[4] > 0:
    st.caption("Discover starts working once your list is personal.")
st.caption(SORT_EXPLAINED[sort or BEST_MATCH])

items = held.items
if sort == BY_STARS:
    items = sorted(items, key=lambda rec: -rec.predicted_rating)
if items:
    components.film_grid(items, key="fy", body=partial(recommendation_card, watchlist=watchlist))
elif not held.page.note:  # a request's note already says why the list is empty
    components.empty_state(
        "Nothing on this bill",
        "No unrated films match these filters. Try another genre or decade, or a fresh list.",
    )
