"""Watchlist: the films the person marked "Want to watch", newest first.

Rating one here means it has been watched: the rating is saved, and the API takes a rated film
off the watchlist (wherever it was rated). A film rated or removed here keeps its seat until
the person leaves the page, saying what was done, with Undo, so nothing slides under the
pointer.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import streamlit as st

from ui import api_client, components, routes, session
from ui.api_client import Movie

#: The films shown on this visit, by id: one done here stays though the list lost it.
SHOWN_KEY = "cm-watch-shown"
#: Their order on this visit (``session.in_visit_order``): the list as it was on arrival.
SEATS_KEY = "cm-watch-seats"
#: What was done on this visit, shown with Undo: movie_id → ("rated", stars) or ("removed", None).
DONE_KEY = "cm-watch-done"


def done_here() -> dict[int, tuple[str, float | None]]:
    return session.state(DONE_KEY, {})


def rate(movie_id: int, title: str, value: float) -> object:
    progress = components.save_rating(movie_id, title, value)
    if progress is not None:
        done_here()[movie_id] = ("rated", value)
    return progress


def mark_removed(movie_id: int) -> None:
    done_here()[movie_id] = ("removed", None)


def undo(movie_id: int, title: str) -> None:
    """A rating is deleted and the film put back on the watchlist; a removed film goes back."""
    what = done_here().get(movie_id)
    if what is None or not components.take_back(what[0], movie_id, title):
        return
    if what[0] == "rated" and not components.set_signal("watchlist", movie_id, title, True):
        return
    done_here().pop(movie_id, None)


def watchlist_controls(film: Movie) -> None:
    components.rating_control(
        f"cm-watch-rate-{film.movie_id}", on_rate=partial(rate, film.movie_id, film.title))
    components.card_button(
        "Remove", key=f"cm-watch-remove-{film.movie_id}", icon=":material/bookmark_remove:",
        on_click=components.signal_callback,
        args=("watchlist", film.movie_id, film.title, False, mark_removed),
    )


def watchlist_card(film: Movie, poster_src: str, added: dict[int, datetime]) -> None:
    done = done_here().get(film.movie_id)
    if done is not None:
        components.done_card(
            film, poster_src, key="cm-watch", done=components.done_text(*done),
            on_undo=partial(undo, film.movie_id, film.title),
            controls=partial(watchlist_controls, film),
        )
        return
    day = components.human_date(added.get(film.movie_id))
    components.card(film, poster_src, chip=f"Added {day}" if day else None)
    watchlist_controls(film)


def seated(listed: list[Movie]) -> list[Movie]:
    """The films in their seats: the list, plus the films done here (which it no longer
    holds), in the arrival's order; a film listed since joins at the end."""
    shown: dict[int, Movie] = session.state(SHOWN_KEY, {})
    shown.update((film.movie_id, film) for film in listed)
    present = {film.movie_id for film in listed}
    films = listed + [shown[m] for m in done_here() if m not in present and m in shown]
    return session.in_visit_order(films, SEATS_KEY, new_first=False)


creds = components.require_user()
client = api_client.get_client()
if session.just_arrived():
    for key in (SHOWN_KEY, SEATS_KEY, DONE_KEY):  # seats and Undo last for the visit
        st.session_state.pop(key, None)

components.page_header(
    "Coming soon to your screen",
    "Your watchlist",
    "Films you want to watch. Seen one? Rate it and it moves to your ratings.",
)

with components.api_guard():
    listed = client.signal_list(creds, "watchlist")

films = seated(list(listed))
if films:
    added = {row.movie_id: row.added_at for row in listed}
    components.film_grid(films, key="watch", body=partial(watchlist_card, added=added))
else:
    components.empty_state(
        "Nothing saved yet",
        "Press “Want to watch” on any film in For you, Search or More like this.",
    )
    components.link_to(routes.FOR_YOU, "Find films", ":material/auto_awesome:")
