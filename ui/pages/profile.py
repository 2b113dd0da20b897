"""Profile: the user's numbers and charts, full rating history with edit and delete; import,
export, sign-in, logout and account deletion (``ui.account``)."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import account, api_client, components
from ui.api_client import UserRating, UserStats

HISTORY_PAGE_SIZE = 15


def headline(stats: UserStats) -> None:
    films, average, mode = st.columns(3)
    films.metric("Films rated", stats.total_ratings)
    average.metric(
        "Average rating",
        "—" if stats.average_rating is None else f"★ {stats.average_rating:.2f}",
    )
    if stats.recommendation_type == "personalized":
        mode.metric("Your list", "Personal")
    else:
        mode.metric(
            "Your list",
            "Popular picks",
            delta=f"{stats.ratings_needed} ratings to personal",
            delta_color="off",
        )


def charts(stats: UserStats) -> None:
    distribution, taste = st.columns(2, gap="large")
    with distribution:
        st.subheader("How you rate")
        histogram = {
            "Stars": [f"{value:.1f}" for value, _ in stats.rating_histogram],
            "Films": [count for _, count in stats.rating_histogram],
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


def history_row(row: UserRating, poster_src: str) -> None:
    with st.container(key=f"cm-row-history-{row.movie_id}"):
        thumb, info, control, remove = st.columns([1, 6, 4, 1], vertical_alignment="center")
        thumb.markdown(components.thumb_html(row, poster_src), unsafe_allow_html=True)
        info.markdown(components.row_title_html(row), unsafe_allow_html=True)
        info.caption(components.film_meta(row, max_genres=3))
        with control:
            components.rating_control(
                f"cm-history-rate-{row.movie_id}",
                current=row.rating,
                on_rate=partial(components.save_rating, row.movie_id, row.title),
            )
        remove.button(
            "Delete",
            key=f"cm-history-delete-{row.movie_id}",
            icon=":material/delete:",
            help="Remove this rating",
            on_click=components.delete_rating,
            args=(row.movie_id, row.title),
            type="tertiary",
        )


def history(rows: list[UserRating]) -> None:
    st.subheader("Your ratings")
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
        history_row(row, sources[row.movie_id])
    if pages > 1:
        st.pagination(pages, key=page_key)


creds = components.require_user()
client = api_client.get_client()

components.page_header("Your seat", "Profile", "What you have rated, and what it says about you.")

with components.api_guard():
    stats = client.user_stats(creds)
    rows = client.user_ratings(creds)

headline(stats)
st.space("medium")
charts(stats)
st.space("medium")
history(rows)
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
