"""Profile: the user's numbers and charts, rating history with edit and delete, the films
marked Not interested, and the account panels (``ui.account``).

A deleted rating keeps its row ("Removed · Undo", which puts it back with its dates) and a film
shown again keeps its row ("Hide again") until the person leaves the page, so nothing moves up
under the pointer.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from contract import models as wire
from ui import account, api_client, components, session
from ui.api_client import UserRating, UserStats

HISTORY_PAGE_SIZE = 15
#: Ratings deleted on this visit, still shown in their rows with Undo: movie_id → row.
REMOVED_KEY = "cm-history-removed"
#: Films un-hidden on this visit, still listed with "Hide again": movie_id → film.
UNHIDDEN_KEY = "cm-hidden-unhidden"
#: The order of the Not interested rows on this visit (movie ids): a row keeps its place.
HIDDEN_SEATS_KEY = "cm-hidden-seats"
#: The order of the history on this visit (movie ids): a row re-rated keeps its place.
HISTORY_SEATS_KEY = "cm-history-seats"


def remove(row: UserRating) -> None:
    if components.delete_rating(row.movie_id, row.title):
        st.session_state.setdefault(REMOVED_KEY, {})[row.movie_id] = row


def undo(row: UserRating) -> None:
    """Put the rating back as it was: its value, and the dates it was rated and changed."""
    if components.act(lambda creds: api_client.get_client().restore_rating(creds, row),
                      f"Put back {components.rating_text(row.rating)} for {row.title}",
                      f"Couldn't put back your rating for {row.title}.") is not None:
        st.session_state.get(REMOVED_KEY, {}).pop(row.movie_id, None)


def with_removed(rows: list[UserRating]) -> list[UserRating]:
    """The history with this visit's deleted rows back in their places (newest first)."""
    removed: dict[int, UserRating] = st.session_state.get(REMOVED_KEY, {})
    present = {row.movie_id for row in rows}
    merged = rows + [row for movie_id, row in removed.items() if movie_id not in present]
    merged.sort(key=lambda row: row.movie_id)
    merged.sort(key=lambda row: row.updated_at, reverse=True)
    return merged


def headline(stats: UserStats) -> None:
    films, average, mode = st.columns(3)
    films.metric("Films rated", stats.total_ratings)
    average.metric(
        "Average rating",
        "—" if stats.average_rating is None else f"★ {stats.average_rating:.2f}",
    )
    # A line under both values, so the history below stays put when a delete or an undo
    # crosses the unlock.
    personal = stats.recommendation_type == "personalized"
    mode.metric(
        "Your list",
        "Personal" if personal else "Popular picks",
        delta="made from your ratings" if personal
        else f"{stats.ratings_needed} more "
        f"rating{'' if stats.ratings_needed == 1 else 's'} for a personal list",
        delta_color="off",
        delta_arrow="off",
    )


def charts(stats: UserStats) -> None:
    distribution, taste = st.columns(2, gap="large")
    with distribution:
        st.subheader("How you rate")
        histogram = {
            "Stars": [f"{row.rating:.1f}" for row in stats.rating_histogram],
            "Films": [row.count for row in stats.rating_histogram],
        }
        st.bar_chart(histogram, x="Stars", y="Films", color="#d4af37", sort=False, height=280)
    with taste:
        st.subheader("Your genres")
        if stats.top_genres:
            tastes = {
                "Genre": [row.genre for row in stats.top_genres],
                "Films": [row.count for row in stats.top_genres],
            }
            st.bar_chart(
                tastes,
                x="Genre",
                y="Films",
                color="#f4e4a6",
                horizontal=True,
                sort="-Films",
                # Room for every genre's label: at 280 px Vega drops every other one.
                height=max(280, 30 * len(stats.top_genres)),
            )
            averages = ", ".join(
                f"{row.genre} ★ {row.average_rating:.1f}"
                for row in stats.top_genres[:4]
                if row.average_rating is not None
            )
            if averages:
                st.caption(f"Average by genre: {averages}")
        else:
            st.caption("Rate a few films to see your taste take shape.")


def rated_when(row: UserRating) -> str:
    """ "Rated 3 Nov", or "Rated 3 Nov · changed today" when re-rated later."""
    first = components.human_date(row.created_at)
    last = components.human_date(row.updated_at)
    if not first:
        return ""
    return f"Rated {first}" + (f" · changed {last}" if last and last != first else "")


def history_rating(row: UserRating) -> None:
    components.rating_control(
        f"cm-history-rate-{row.movie_id}",
        current=row.rating,
        on_rate=partial(components.save_rating, row.movie_id, row.title),
    )


def history_row(row: UserRating, poster_src: str, removed: bool) -> None:
    meta = " · ".join(part for part in (components.film_meta(row), rated_when(row)) if part)
    control, action = components.film_row(row, poster_src, key=f"cm-row-history-{row.movie_id}",
                                          widths=[1, 6, 4, 2], meta=meta)
    if removed:
        # Over the ghost of its stars: the row keeps its height.
        with control, components.seat(f"history-{row.movie_id}", partial(history_rating, row)):
            st.caption(f"Removed · it was {components.rating_text(row.rating)}")
        action.button(
            "Undo", key=f"cm-history-undo-{row.movie_id}", icon=":material/undo:",
            help="Put this rating back", on_click=undo, args=(row,), type="secondary",
        )
        return
    with control:
        history_rating(row)
    action.button(
        "Delete", key=f"cm-history-delete-{row.movie_id}", icon=":material/delete:",
        help="Remove this rating (you can undo it)", on_click=remove, args=(row,),
        type="tertiary",
    )


def history(rows: list[UserRating]) -> None:
    st.subheader("Your ratings")
    removed: dict[int, UserRating] = st.session_state.get(REMOVED_KEY, {})
    # Newest first as on arrival; a row re-rated or put back keeps its place for the visit.
    rows = session.in_visit_order(with_removed(rows), HISTORY_SEATS_KEY, new_first=True)
    if not rows:
        components.empty_state("No ratings yet", "Films you rate appear here, newest first.")
        return
    pages = max(1, -(-len(rows) // HISTORY_PAGE_SIZE))
    # Keyed by the page count, so a delete that removes the last page cannot leave the pager
    # pointing past the end.
    page_key = f"cm-history-page-{pages}"
    page = int(st.session_state.get(page_key) or 1)
    shown = rows[(page - 1) * HISTORY_PAGE_SIZE : page * HISTORY_PAGE_SIZE]
    sources = components.poster_sources(shown)
    for row in shown:
        history_row(row, sources[row.movie_id], removed=row.movie_id in removed)
    if pages > 1:
        st.pagination(pages, key=page_key)


def hidden_films(listed: list[wire.ListedMovieOut]) -> None:
    """The films marked Not interested, each with "Show it again"."""
    st.subheader("Not interested")
    unhidden: dict[int, api_client.Movie] = st.session_state.get(UNHIDDEN_KEY, {})
    films: list[api_client.Movie] = list(listed)
    present = {film.movie_id for film in films}
    films += [film for movie_id, film in unhidden.items() if movie_id not in present]
    # Seated as on arrival (hiding a film again makes it the newest; it keeps its row).
    films = session.in_visit_order(films, HIDDEN_SEATS_KEY, new_first=False)
    if not films:
        st.caption("Films you mark Not interested are listed here, to show them again.")
        return
    st.caption("These are never suggested. Show one again to let it back into your lists.")
    sources = components.poster_sources(films)
    for film in films:
        [action] = components.film_row(film, sources[film.movie_id],
                                       key=f"cm-row-hidden-{film.movie_id}", widths=[1, 8, 4])
        if film.movie_id in unhidden:
            action.button(
                "Hide again", key=f"cm-hidden-hide-{film.movie_id}",
                icon=":material/visibility_off:", on_click=set_hidden,
                args=(film, True), type="tertiary",
            )
        else:
            action.button(
                "Show it again", key=f"cm-hidden-show-{film.movie_id}",
                icon=":material/visibility:", on_click=set_hidden, args=(film, False),
                type="secondary",
            )


def set_hidden(film: api_client.Movie, hidden: bool) -> None:
    if components.set_signal("hidden", film.movie_id, film.title, hidden):
        unhidden = st.session_state.setdefault(UNHIDDEN_KEY, {})
        if hidden:
            unhidden.pop(film.movie_id, None)
        else:
            unhidden[film.movie_id] = film


creds = components.require_user()
client = api_client.get_client()
if session.just_arrived():
    st.session_state.pop(REMOVED_KEY, None)  # Undo lasts for the visit
    st.session_state.pop(UNHIDDEN_KEY, None)
    st.session_state.pop(HIDDEN_SEATS_KEY, None)
    st.session_state.pop(HISTORY_SEATS_KEY, None)

components.page_header("Your seat", "Profile", "What you have rated, and what it says about you.")

with components.api_guard():
    stats = client.user_stats(creds)
    rows = client.user_ratings(creds)
    hidden = client.signal_list(creds, "hidden")

headline(stats)
st.space("medium")
charts(stats)
st.space("medium")
history(rows)
st.space("medium")
hidden_films(hidden)
st.space("medium")
username = account.username_of(creds)
bring, keep = st.columns(2, gap="large")
with bring:
    st.subheader("Your ratings, anywhere")
    account.import_panel(creds)
    account.export_panel(creds)
with keep:
    account.save_profile_form(creds, username)
st.space("medium")
account.session_panel(creds, username)
