"""Watchlist: the films the person marked "Want to watch", newest first.

Rating one here means it has been watched: the rating is saved, and the API takes a rated film
off the watchlist (wherever it was rated).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import streamlit as st

from ui import api_client, components, routes
from ui.api_client import Movie


def watchlist_card(film: Movie, poster_src: str, added: dict[int, datetime]) -> None:
    day = components.human_date(added.get(film.movie_id))
    chip = f"Added {day}" if day else None
    components.card(film, poster_src, chip=chip)
    components.rating_control(
        f"cm-watch-rate-{film.movie_id}",
        on_rate=partial(components.save_rating, film.movie_id, film.title),
    )
    st.button(
        "Remove",
        key=f"cm-watch-remove-{film.movie_id}",
        icon=":material/bookmark_remove:",
        on_click=components.signal_callback,
        args=("watchlist", film.movie_id, film.title, False),
        type="tertiary",
        width="stretch",
    )


creds = components.require_user()
client = api_client.get_client()

components.page_header(
    "Coming soon to your screen",
    "Your watchlist",
    "Films you want to watch. Seen one? Rate it and it moves to your ratings.",
)

with components.api_guard():
    listed = client.signal_list(creds, "watchlist")

if listed:
    added = {row.movie_id: row.added_at for row in listed}
    components.film_grid(listed, key="watch", body=partial(watchlist_card, added=added))
else:
    components.empty_state(
        "Nothing saved yet",
        "Press “Want to watch” on any film in For you, Search or More like this.",
    )
    components.link_to(routes.FOR_YOU, "Find films", ":material/auto_awesome:")
