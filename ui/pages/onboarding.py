"""Onboarding: rate films from a poster deck (or any film by search) until the list is personal.

The progress shown is read from the API on every run (``GET /user/{id}/stats`` after any
rating callback has already saved), so it is never one rating behind as the seed service's
was; the goal comes from the API's ``ratings_needed``, not from a number written here.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import account, api_client, components, routes, session
from ui.api_client import Movie, UserRating

#: Films on the table at once: two rows of five on a desktop.
DECK_SIZE = 10
DECK_KEY = "cm-onboarding-deck"
SKIPPED_KEY = "cm-onboarding-skipped"


def skip(movie_id: int) -> None:
    """ "Haven't seen it": drop the film and never offer it again this session."""
    deck: list[Movie] = st.session_state.get(DECK_KEY, [])
    st.session_state[DECK_KEY] = [film for film in deck if film.movie_id != movie_id]
    skipped: list[int] = session.state(SKIPPED_KEY, [])
    skipped.append(movie_id)


def refill_deck(client: api_client.ApiClient, rated: set[int]) -> list[Movie]:
    """Keep DECK_SIZE unrated films on the table, asking the API for replacements.

    Everything shown, skipped or rated is excluded, so a replacement is always new.
    """
    deck: list[Movie] = [film for film in session.state(DECK_KEY, []) if film.movie_id not in rated]
    missing = DECK_SIZE - len(deck)
    if missing > 0:
        skipped: list[int] = session.state(SKIPPED_KEY, [])
        exclude = {film.movie_id for film in deck} | set(skipped) | rated
        deck += client.onboarding_movies(n=missing, exclude=exclude)
    st.session_state[DECK_KEY] = deck
    return deck


def show_progress(total: int, needed: int) -> None:
    if needed > 0:
        goal = total + needed
        st.progress(total / goal, text=f"{total} / {goal} rated")
        st.caption(f"Rate {needed} more to unlock your personal list.")
        return
    st.progress(1.0, text=f"{total} rated · personal list unlocked")
    st.success(
        "Your personal list is ready. Keep rating to sharpen it, or see it now.",
        icon=":material/auto_awesome:",
    )
    components.link_to(routes.FOR_YOU, "See my recommendations", ":material/arrow_forward:")


def deck_card(film: Movie, poster_src: str) -> None:
    st.markdown(components.card_html(film, poster_src), unsafe_allow_html=True)
    components.rating_control(
        f"cm-onb-rate-{film.movie_id}",
        on_rate=partial(components.save_rating, film.movie_id, film.title),
    )
    st.button(
        "Haven't seen it",
        key=f"cm-onb-skip-{film.movie_id}",
        on_click=skip,
        args=(film.movie_id,),
        icon=":material/visibility_off:",
        type="tertiary",
        width="stretch",
    )


def search_results(client: api_client.ApiClient, query: str, ratings: dict[int, float]) -> None:
    """Rate any film by title, not only the ones on the deck."""
    with components.api_guard():
        page = client.search_movies(query, limit=5)
    if not page.items:
        st.caption(f"No film matches “{query}”.")
        return
    sources = components.poster_sources(page.items)
    for film in page.items:
        with st.container(key=f"cm-row-onb-{film.movie_id}"):
            thumb, info, control = st.columns([1, 5, 4], vertical_alignment="center")
            thumb.markdown(
                components.thumb_html(film, sources[film.movie_id]), unsafe_allow_html=True
            )
            info.markdown(components.row_title_html(film), unsafe_allow_html=True)
            info.caption(components.film_meta(film, max_genres=3))
            with control:
                components.rating_control(
                    f"cm-onb-search-rate-{film.movie_id}",
                    current=ratings.get(film.movie_id),
                    on_rate=partial(components.save_rating, film.movie_id, film.title),
                )


creds = components.require_user()
client = api_client.get_client()

components.page_header(
    "Your screening begins",
    "Rate films you have seen",
    "Pick your rating, ½ to 5 stars. Not seen it? Skip it and another film takes its seat.",
)

with components.api_guard():
    stats = client.user_stats(creds)
    history: list[UserRating] = client.user_ratings(creds)
ratings = {row.movie_id: row.rating for row in history}

show_progress(stats.total_ratings, stats.ratings_needed)
if stats.ratings_needed == 0 and account.username_of(creds) is None:
    # Right after the unlock: the moment a profile is worth keeping.
    with st.expander("Save my profile: sign in on any device", icon=":material/lock:"):
        account.save_profile_form(creds, None)

query = st.text_input(
    "Find a film you've seen",
    key="cm-onb-query",
    placeholder="Search any title…",
    icon=":material/search:",
)
if query.strip():
    search_results(client, query.strip(), ratings)

st.space("small")
with components.api_guard():
    deck = refill_deck(client, set(ratings))

if deck:
    components.film_grid(deck, key="onb", body=deck_card)
else:
    components.empty_state(
        "You've seen them all",
        "There are no more films to suggest here. Search for any title above to keep rating.",
    )
