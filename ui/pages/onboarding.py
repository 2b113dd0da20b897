"""Onboarding: rate films from a poster deck (or any film by search) until the list is personal.

The progress and its goal are the API's (``GET /user/{id}/stats``, read after the rating
callbacks saved). A film rated or skipped keeps its seat on the deck, with Undo, until the
person leaves the page; a replacement joins at the end, so nothing slides under the pointer.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import account, api_client, components, routes, session
from ui.api_client import Movie, UserRating

#: Films on the table at once: two rows of five on a desktop.
DECK_SIZE = 10
DECK_KEY = "cm-onboarding-deck"
#: Ratings still needed as last shown, to tell which rating unlocked the personal list.
NEEDED_KEY = "cm-onboarding-needed"
#: The film whose rating unlocked the personal list: its seat on the deck announces it.
UNLOCKED_KEY = "cm-onboarding-unlocked-by"
#: Cards rated or skipped on this visit, shown as done with Undo: movie_id → (what, stars).
DONE_KEY = "cm-onboarding-done"
OPEN_IMPORT_KEY = account.OPEN_IMPORT_KEY


def done_cards() -> dict[int, tuple[str, float | None]]:
    return session.state(DONE_KEY, {})


def mark_skipped(movie_id: int) -> None:
    done_cards()[movie_id] = ("skipped", None)


def skip(movie_id: int, title: str) -> None:
    """ "Haven't seen it": stored for the user, so the deck never offers it again."""
    components.set_signal("skipped", movie_id, title, True, then=mark_skipped)


def undo(movie_id: int, title: str) -> None:
    """Take back a rating or a skip made on this deck: the card is open again."""
    what = done_cards().get(movie_id)
    if what is None:
        return
    if what[0] == "rated":
        if not components.delete_rating(movie_id, title):
            return
        st.session_state.pop(NEEDED_KEY, None)
    elif not components.set_signal("skipped", movie_id, title, False):
        return
    done_cards().pop(movie_id, None)


def rate_on_deck(movie_id: int, title: str, value: float) -> object:
    """Save the rating; if it is the one that unlocks the list, say so on this very seat."""
    progress = components.save_rating(movie_id, title, value)
    if progress is None:
        return None
    was_needed = st.session_state.get(NEEDED_KEY, 0)
    if was_needed > 0 and progress.ratings_needed == 0:
        st.session_state[UNLOCKED_KEY] = movie_id
        components.flash("Your personal list is ready")
    else:
        st.session_state.pop(UNLOCKED_KEY, None)
        done_cards()[movie_id] = ("rated", value)
    st.session_state[NEEDED_KEY] = progress.ratings_needed
    return progress


def refill_deck(
    client: api_client.ApiClient, creds: api_client.Credentials, rated: set[int]
) -> list[Movie]:
    """Keep DECK_SIZE open films on the table; replacements (never a film rated, hidden,
    skipped or already on the table) join at the end. The film that unlocked the list and
    the films done on this visit keep their seats (they show the news, and Undo)."""
    unlocked_by = st.session_state.get(UNLOCKED_KEY)
    done = done_cards()
    deck: list[Movie] = [
        film
        for film in session.state(DECK_KEY, [])
        if film.movie_id not in rated or film.movie_id == unlocked_by or film.movie_id in done
    ]
    still_open = [f for f in deck if f.movie_id not in done and f.movie_id != unlocked_by]
    missing = DECK_SIZE - len(still_open)
    if missing > 0:
        exclude = {film.movie_id for film in deck} | rated
        deck += client.onboarding_for_user(creds, n=missing, exclude=exclude)
    st.session_state[DECK_KEY] = deck
    return deck


def unlock_tile(movie_id: int) -> None:
    """The unlock, announced where the person just rated, with the way to the list."""
    components.markup(components.unlock_html("That rating unlocked it. Keep rating to sharpen it."))
    components.link_to(routes.FOR_YOU, "See my list", ":material/arrow_forward:")


def show_progress(total: int, needed: int) -> None:
    if needed > 0:
        goal = total + needed
        st.progress(total / goal, text=f"{total} / {goal} rated")
        st.caption(f"Rate {needed} more to unlock your personal list.")
        return
    st.progress(1.0, text=f"{total} rated · personal list unlocked")
    if UNLOCKED_KEY in st.session_state:
        # Announced on the card just rated. Growing the page above it here would push that
        # card, and the news, out of view on a phone.
        st.caption("Your personal list is ready.")
        return
    st.success(
        "Your personal list is ready. Keep rating to sharpen it, or see it now.",
        icon=":material/auto_awesome:",
    )
    components.link_to(routes.FOR_YOU, "See my recommendations", ":material/arrow_forward:")


def deck_card(film: Movie, poster_src: str) -> None:
    if film.movie_id == st.session_state.get(UNLOCKED_KEY):
        unlock_tile(film.movie_id)
        return
    done = done_cards().get(film.movie_id)
    if done is not None:
        components.done_card(
            film, poster_src, key="cm-onb", done=components.done_text(*done),
            on_undo=partial(undo, film.movie_id, film.title),
            controls=partial(deck_controls, film),
        )
        return
    components.card(film, poster_src)
    deck_controls(film)


def deck_controls(film: Movie) -> None:
    components.rating_control(
        f"cm-onb-rate-{film.movie_id}",
        on_rate=partial(rate_on_deck, film.movie_id, film.title),
    )
    components.card_button(
        "Haven't seen it", key=f"cm-onb-skip-{film.movie_id}", icon=":material/visibility_off:",
        on_click=skip, args=(film.movie_id, film.title),
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
        [control] = components.film_row(film, sources[film.movie_id],
                                        key=f"cm-row-onb-{film.movie_id}", widths=[1, 5, 4])
        with control:
            components.rating_control(
                f"cm-onb-search-rate-{film.movie_id}",
                current=ratings.get(film.movie_id),
                on_rate=partial(rate_on_deck, film.movie_id, film.title),
            )


creds = components.require_user()
client = api_client.get_client()
if session.just_arrived():
    # The news in a card's seat, the done cards with their Undo, and the import panel the
    # landing page's offer opened, last one visit.
    st.session_state.pop(UNLOCKED_KEY, None)
    if st.session_state.get(OPEN_IMPORT_KEY) == "open":
        del st.session_state[OPEN_IMPORT_KEY]
    elif st.session_state.get(OPEN_IMPORT_KEY) == "asked":
        st.session_state[OPEN_IMPORT_KEY] = "open"
    done_on_last_visit = set(st.session_state.pop(DONE_KEY, {}))
    st.session_state[DECK_KEY] = [film for film in st.session_state.get(DECK_KEY, [])
                                  if film.movie_id not in done_on_last_visit]

components.page_header(
    "Your screening begins",
    "Rate films you have seen",
    "Pick your rating, ½ to 5 stars. Not seen it? Press “Haven't seen it”. Either way the "
    "card stays where it is, with Undo, and a new film joins at the end of the deck.",
)

with components.api_guard():
    stats = client.user_stats(creds)
    history: list[UserRating] = client.user_ratings(creds)
ratings = {row.movie_id: row.rating for row in history}

show_progress(stats.total_ratings, stats.ratings_needed)
st.session_state[NEEDED_KEY] = stats.ratings_needed
# Always drawn, and open or closed alike on every run of a visit: the deck below must never
# move when a rating is saved (an expander whose ``expanded`` changes is drawn anew, closed).
account.import_panel(
    creds, label=account.IMPORT_OFFER, expanded=st.session_state.get(OPEN_IMPORT_KEY) == "open"
)
if (
    stats.ratings_needed == 0
    and UNLOCKED_KEY not in st.session_state  # not while the news shows in a card's seat
    and account.username_of(creds) is None
):
    # After the unlock: the moment a profile is worth keeping.
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
    deck = refill_deck(client, creds, set(ratings))

if deck:
    components.film_grid(deck, key="onb", body=deck_card)
else:
    components.empty_state(
        "You've seen them all",
        "There are no more films to suggest here. Search for any title above to keep rating.",
    )
