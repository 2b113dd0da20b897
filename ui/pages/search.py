"""Search: find any film by title, genre and year, and rate it from the results."""

from __future__ import annotations

import hashlib
from functools import partial

import streamlit as st

from ui import api_client, components
from ui.api_client import Movie

ALL_GENRES = "All genres"
PAGE_SIZE = 20


def result_card(
    film: Movie, poster_src: str, ratings: dict[int, float], watchlist: set[int],
    hidden: set[int],
) -> None:
    mine = ratings.get(film.movie_id)
    chip = components.star_chip(mine, "yours") if mine is not None else None
    if film.movie_id in hidden:
        chip = "Not interested" if chip is None else f"{chip} · Not interested"
    components.card(film, poster_src, chip=chip)
    components.rating_control(
        f"cm-search-rate-{film.movie_id}",
        current=mine,
        on_rate=partial(components.save_rating, film.movie_id, film.title),
    )
    components.film_actions(
        film, key="cm-search", on_watchlist=film.movie_id in watchlist,
        hidden=film.movie_id in hidden,
    )


def use_suggestion(title: str) -> None:
    """ "Did you mean …": search for the suggested title instead."""
    st.session_state["cm-search-query"] = title


creds = components.require_user()
client = api_client.get_client()

components.page_header(
    "The archive",
    "Search the catalogue",
    "Look up any film by its title, or browse a genre and year. Rate what you've seen.",
)

with components.api_guard():
    genres = client.genres()

query_col, genre_col, year_col = st.columns([5, 3, 2], vertical_alignment="bottom")
query = query_col.text_input(
    "Title",
    key="cm-search-query",
    placeholder="e.g. Casablanca",
    icon=":material/search:",
)
genre = genre_col.selectbox("Genre", [ALL_GENRES, *genres], key="cm-search-genre")
year = year_col.number_input(
    "Year",
    min_value=1870,
    max_value=2100,
    value=None,
    step=1,
    placeholder="Any year",
    key="cm-search-year",
)

chosen_genre = None if genre == ALL_GENRES else genre
if not query.strip() and chosen_genre is None and year is None:
    components.empty_state(
        "What are we watching?", "Type a title, or pick a genre or a year to browse."
    )
    st.stop()

# One pager per search: a new title, genre or year starts again on its first page.
page_key = (
    "cm-search-page-"
    + hashlib.sha1(f"{query.strip()}|{chosen_genre}|{year}".encode()).hexdigest()[:12]
)
page_number = int(st.session_state.get(page_key) or 1)
with components.api_guard():
    results = client.search_movies(
        query.strip(),
        genre=chosen_genre,
        year=int(year) if year is not None else None,
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    ratings = {row.movie_id: row.rating for row in client.user_ratings(creds)}
    watchlist = components.listed_ids(creds, "watchlist")
    hidden = components.listed_ids(creds, "hidden")

noun = "film" if results.total == 1 else "films"
st.caption(f"{results.total} {noun} found")
if results.corrected_query:
    components.markup(components.lede_html("Showing results for", results.corrected_query))
if results.suggestion and not results.items:
    st.button(
        f"Did you mean {results.suggestion}?",
        key="cm-search-suggestion",
        on_click=use_suggestion,
        args=(results.suggestion,),
        icon=":material/lightbulb:",
    )
if results.items:
    components.film_grid(
        results.items,
        key="search",
        body=partial(result_card, ratings=ratings, watchlist=watchlist, hidden=hidden),
    )
    pages = max(1, -(-results.total // PAGE_SIZE))
    if pages > 1:
        st.pagination(pages, key=page_key)
else:
    components.empty_state("No match", "Nothing in the catalogue matches that search.")
