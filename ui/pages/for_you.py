"""For you: the recommendation grid, its filters, rating in place and "More like this".

A request in plain words ("What are you in the mood for?", ``ui.intent_prompt``) narrows
and steers the list; the API reads it and each card's reason says why the film fits both the
request and the person.

Whether the list is popular picks or personal, and how many ratings unlock a personal one,
is whatever the API's ``source`` and ``ratings_needed`` say.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import api_client, components, intent_prompt
from ui.api_client import ApiError, Recommendation, SimilarMovie

ALL_GENRES = "All genres"
ANY_DECADE = "Any decade"
COUNTS = (10, 20, 30)


@st.dialog("More like this", width="large")
def more_like_this(movie_id: int, title: str) -> None:
    """Films similar to one recommendation (GET /movies/{id}/similar), in a modal."""
    st.markdown(
        components.lede_html("Because you're looking at", components.display_title(title)),
        unsafe_allow_html=True,
    )
    try:
        similar = api_client.get_client().similar(movie_id, n=10)
    except ApiError as err:
        st.error(err.message, icon=":material/cloud_off:")
        return
    if not similar:
        st.caption("No similar films found.")
        return
    films = [item.movie for item in similar]
    closeness = {item.movie.movie_id: item for item in similar}

    def similar_card(film: api_client.Movie, poster_src: str) -> None:
        item: SimilarMovie = closeness[film.movie_id]
        chip = f"{item.similarity:.0%} match" if 0 <= item.similarity <= 1 else None
        st.markdown(components.card_html(film, poster_src, chip=chip), unsafe_allow_html=True)

    components.film_grid(films, key=f"similar-{movie_id}", body=similar_card)


def recommendation_card(rec: Recommendation, poster_src: str) -> None:
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
        on_rate=partial(components.save_rating, rec.movie_id, rec.title),
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
    "Your predicted rating is in gold. Rate a film you've already seen and it leaves the list.",
)

with components.api_guard():
    genres = client.genres()

request = intent_prompt.prompt()

genre_col, decade_col, count_col = st.columns([3, 3, 2], vertical_alignment="bottom")
genre = genre_col.selectbox("Genre", [ALL_GENRES, *genres], key="cm-fy-genre")
decade = decade_col.selectbox(
    "Decade", [ANY_DECADE, *components.decade_options()], key="cm-fy-decade"
)
count = count_col.segmented_control(
    "Films", COUNTS, default=COUNTS[0], key="cm-fy-count", required=True
)

year_from, year_to = components.decade_bounds(None if decade == ANY_DECADE else decade)
with components.api_guard():
    page = client.recommend(
        creds,
        n=int(count or COUNTS[0]),
        genre=None if genre == ALL_GENRES else genre,
        year_from=year_from,
        year_to=year_to,
        q=request,
    )

intent_prompt.show_reading(page.intent, page.relaxed, page.note)
st.markdown(components.mode_badge_html(page.source, page.ratings_needed), unsafe_allow_html=True)
st.space("small")

if page.items:
    components.film_grid(page.items, key="fy", body=recommendation_card)
elif not page.note:  # a request's note already says why the list is empty
    components.empty_state(
        "Nothing on this bill",
        "No unrated films match these filters. Try another genre or decade.",
    )
