"""Building blocks the pages share: theme injection, poster cards, rating control, banners.

HTML for cards is built by pure functions (``card_html`` …) so it can be tested and escaped
in one place; the functions that call ``st.*`` only arrange widgets around it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import TypeVar

import streamlit as st

from ui import api_client, posters, session
from ui.api_client import ApiError, FilmLike, RatingProgress

THEME_CSS = Path(__file__).with_name("theme.css")

#: Suffix of the session key remembering which rating a rating control was last drawn with.
_SHOWN_SUFFIX = "-shown"

#: The rating scale, needed to draw the control (the API does not publish it; it validates
#: every rating against the same 0.5–5.0 half-star scale and refuses anything else).
RATING_VALUES: tuple[float, ...] = tuple(step / 2 for step in range(1, 11))

#: Posters per row on a desktop; st.grid drops columns when cells would be narrower than
#: GRID_MIN_COLUMN_PX, so tablets get 3–4 and phones one (a card there is a row: theme.css).
GRID_COLUMNS = 5
GRID_MIN_COLUMN_PX = 180

_FLASH_KEY = "cinematch_flash"
_FLASH_ERROR_KEY = "cinematch_flash_error"

F = TypeVar("F", bound=FilmLike)


# -- theme -------------------------------------------------------------------------------


def inject_theme() -> None:
    """Add ui/theme.css to the page (a style-only st.html takes no space in the layout)."""
    st.html(THEME_CSS)


#: On a phone, close the menu (the sidebar Streamlit shows the pages in) once a page has been
#: chosen from it. Streamlit leaves it open over the page just opened (measured in Chromium at
#: 390 px).
_CLOSE_MENU_JS = """<script>
(() => {
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  if (window.innerWidth <= 640 && sidebar && sidebar.dataset.collapsed === "false") {
    sidebar.querySelector('[data-testid="stSidebarCollapseButton"] button, '
      + 'button[aria-label="Collapse sidebar"]')?.click();
  }
})();
</script>"""


def close_menu_on_phones(page_changed: bool) -> None:
    """Close the phone menu after a page was chosen (the script runs on a page change only).

    The container is drawn on every run so the page's own elements keep their places: had
    it come and gone, every element after it would move, and Streamlit would show the old
    and the new copy side by side while the run finished.
    """
    with st.container(key="cm-close-menu"):
        if page_changed:
            st.html(_CLOSE_MENU_JS, unsafe_allow_javascript=True)


def page_header(eyebrow: str, title: str, lede: str | None = None) -> None:
    st.markdown(page_header_html(eyebrow, title, lede), unsafe_allow_html=True)


def page_header_html(eyebrow: str, title: str, lede: str | None = None) -> str:
    lede_part = lede_html(lede) if lede else ""
    return (
        f'<div class="cm-heading"><p class="cm-eyebrow">{_text(eyebrow)}</p>'
        f'<h1 class="cm-page-title">{_text(title)}</h1>{lede_part}'
        '<div class="cm-rule"></div></div>'
    )


# -- formatting ----------------------------------------------------------------------------


def stars(rating: float) -> str:
    """Half-star glyphs: 3.5 → "★★★½"."""
    whole = int(rating)
    return "★" * whole + ("½" if rating - whole >= 0.5 else "")


def rating_text(value: float) -> str:
    """A rating in words a person reads at a glance: 4.5 → "4.5 ★", 0.5 → "0.5 ★"."""
    return f"{value:.1f} ★"


def rating_choice_label(value: float) -> str:
    """How the rating control names a choice: 0.5 → "½", 3.0 → "3", 4.5 → "4½"."""
    whole = int(value)
    return f"{whole if whole else ''}{'½' if value - whole >= 0.5 else ''}"


def film_meta(film: FilmLike, *, max_genres: int | None = None) -> str:
    """ "1999 · Action, Sci-Fi, Thriller": the year and every genre (or the first few)."""
    parts = [str(film.year)] if film.year else []
    if film.genres:
        parts.append(", ".join(film.genres[:max_genres]))
    return " · ".join(parts)


def human_date(stamp: dt.datetime | str | None, today: dt.date | None = None) -> str:
    """An API timestamp as people say it: "today", "yesterday", "3 Nov", "3 Nov 2025"."""
    if not stamp:
        return ""
    try:
        moment = stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromisoformat(stamp)
    except ValueError:
        return ""
    day = moment.date()
    today = today or dt.date.today()
    if day == today:
        return "today"
    if day == today - dt.timedelta(days=1):
        return "yesterday"
    label = f"{day.day} {day.strftime('%b')}"
    return label if day.year == today.year else f"{label} {day.year}"


def mode_badge_html(mode: str, ratings_needed: int) -> str:
    """The For-you badge: what kind of list this is, and what unlocks a personal one."""
    if mode == "personalized":
        return '<span class="cm-badge cm-badge-personal">✦ Personal</span>'
    more = f"rate {ratings_needed} more to personalise" if ratings_needed > 0 else "personal soon"
    return f'<span class="cm-badge">★ Popular picks — {more}</span>'


def decade_options(decades: Sequence[int]) -> list[str]:
    """The catalogue's decades (``GET /decades``) as labels, newest first: ["2010s", …]."""
    return [f"{decade}s" for decade in sorted(set(decades), reverse=True)]


def decade_bounds(label: str | None) -> tuple[int | None, int | None]:
    """ "1990s" → (1990, 1999): the ``year_from``/``year_to`` the API filters on."""
    if not label or not label.endswith("s") or not label[:-1].isdigit():
        return None, None
    start = int(label[:-1])
    return start, start + 9


# -- cards -----------------------------------------------------------------------------


def card_html(
    film: FilmLike,
    poster_src: str,
    *,
    chip: str | None = None,
    reason: str | None = None,
) -> str:
    """A poster card. ``chip`` overlays the poster's corner (a gold ★ rating).

    Kept on one line of HTML: Markdown would end a raw HTML block at a blank line.
    ``referrerpolicy`` keeps the session's URL (which holds the token) from image hosts.
    """
    title = film.title
    chip_html = f'<span class="cm-chip">{chip}</span>' if chip else ""
    reason_html = (  # the whole reason on hover when two lines cut it
        f'<div class="cm-card-reason" title="{_text(reason)}">{_text(reason)}</div>'
        if reason else "")
    subtitle = film.subtitle
    subtitle_html = (
        f'<div class="cm-card-subtitle" title="{_text(subtitle)}">{_text(subtitle)}</div>'
        if subtitle
        else ""
    )
    meta = film_meta(film)
    return (
        '<div class="cm-card">'
        f'<div class="cm-poster">{chip_html}'
        f'<img src="{escape(poster_src, quote=True)}" alt="Poster: {_text(title)}" '
        'loading="lazy" referrerpolicy="no-referrer"></div>'
        f'<div class="cm-card-title" title="{_text(title)}">{_text(title)}</div>'
        f"{subtitle_html}"
        f'<div class="cm-card-meta" title="{_text(meta)}">{_text(meta)}</div>'
        f"{reason_html}</div>"
    )


def star_chip(value: float, caption: str = "") -> str:
    tail = f" {_text(caption)}" if caption else ""
    return f'<span class="cm-star">★</span> {value:.1f}{tail}'


def thumb_html(film: FilmLike, poster_src: str) -> str:
    return (
        f'<div class="cm-thumb"><img src="{escape(poster_src, quote=True)}" '
        f'alt="Poster: {_text(film.title)}" loading="lazy" '
        'referrerpolicy="no-referrer"></div>'
    )


def row_title_html(film: FilmLike) -> str:
    """The title line of a compact row (search results, history), subtitle beneath."""
    subtitle = film.subtitle
    tail = f'<div class="cm-row-subtitle">{_text(subtitle)}</div>' if subtitle else ""
    return f'<div class="cm-row-title">{_text(film.title)}</div>{tail}'


def unlock_html(detail: str) -> str:
    """The news that the personal list is ready, drawn in the seat of the card just rated."""
    return (
        '<div class="cm-unlock"><div class="cm-unlock-title">✦ Your personal list is ready'
        f"</div><div>{_text(detail)}</div></div>"
    )


def lede_html(text: str, emphasis: str = "") -> str:
    """A line of body copy, with an optional emphasised tail (e.g. a film title)."""
    tail = f" <em>{_text(emphasis)}</em>" if emphasis else ""
    return f'<p class="cm-lede">{_text(text)}{tail}</p>'


def poster_sources(films: Sequence[FilmLike]) -> dict[int, str]:
    """Posters for a whole grid in one concurrent batch (see ui/posters.py)."""
    return posters.get_poster_client().poster_sources(films)


def film_grid(
    films: Sequence[F],
    *,
    key: str,
    body: Callable[[F, str], None],
) -> None:
    """Lay ``films`` out as poster cards; ``body(film, poster_src)`` fills each card.

    Each card is a keyed container (``st-key-cm-card-…``), which theme.css lifts and lights
    as one piece, controls included.
    """
    sources = poster_sources(films)
    grid = st.grid(GRID_COLUMNS, min_column_width=GRID_MIN_COLUMN_PX, gap="medium")
    for film in films:
        with grid, st.container(key=f"cm-card-{key}-{film.movie_id}"):
            body(film, sources[film.movie_id])


def link_to(page: str, label: str, icon: str | None = None) -> None:
    """A page link that carries the session's URL parameters, so the address stays resumable."""
    creds = session.current_credentials()
    st.page_link(
        page,
        label=label,
        icon=icon,
        query_params=session.query_params_for(creds) if creds else None,
    )


def empty_state(title: str, text: str) -> None:
    st.markdown(
        f'<div class="cm-empty"><div class="cm-empty-title">{_text(title)}</div>'
        f"<div>{_text(text)}</div></div>",
        unsafe_allow_html=True,
    )


# -- rating ------------------------------------------------------------------------------


def rating_control(
    key: str,
    *,
    on_rate: Callable[[float], object],
    current: float | None = None,
    label: str = "Your rating",
    disabled: bool = False,
) -> None:
    """Ten half-star choices, ½ to 5; choosing one saves it at once with ``on_rate(value)``.

    Why choices and not a slider: a slider reports every position it passes. With the
    keyboard, the first arrow press from "unrated" saved ½★ and the film left the grid
    before the person could go on (measured in Chromium), and a dragged slider saves wherever
    the pointer lets go. A choice is one deliberate value, by click, tap or Tab + Enter.

    A rated film shows its rating chosen, and choosing another re-rates it. Choosing the
    current one again would clear the choice; ratings are removed on the profile page, so the
    control keeps showing the rating. If ``on_rate`` returns ``None`` (the save failed) the
    control goes back to where it was, so the screen never shows a rating the service does
    not have and the same choice can be made again.
    """
    # A keyed widget keeps its own value across reruns and ignores a new ``default``, so when
    # the service's rating changes under it (the same film rated from another row on the
    # page) the control is set to it here, before it is drawn. Streamlit drops a widget's
    # value when a run does not draw it (another page), while the helper key stays: the
    # value is then set again too, or a rated film would come back with blank stars.
    shown = f"{key}{_SHOWN_SUFFIX}"
    if key not in st.session_state or st.session_state.get(shown) != current:
        st.session_state[key] = current
        st.session_state[shown] = current
    st.pills(
        label,
        options=RATING_VALUES,
        format_func=rating_choice_label,
        key=key,
        on_change=_rating_chosen,
        args=(key, on_rate, current),
        label_visibility="collapsed",
        width="stretch",
        disabled=disabled,
    )


def _rating_chosen(key: str, on_rate: Callable[[float], object], current: float | None) -> None:
    value = st.session_state.get(key)
    if value is None or on_rate(value) is None:
        st.session_state[key] = current


def save_rating(movie_id: int, title: str, rating: float) -> RatingProgress | None:
    """POST the rating at once; report success or failure on the next render.

    Runs inside widget callbacks, so it records messages instead of drawing them.
    """
    creds = session.current_credentials()
    if creds is None:
        return None
    try:
        progress = api_client.get_client().rate(creds, {movie_id: rating})
    except ApiError as err:
        flash_error(f"Your rating for {title} wasn't saved. {err.message}")
        return None
    flash(f"Saved {rating_text(rating)} for {title}")
    return progress


def delete_rating(movie_id: int, title: str) -> bool:
    """DELETE the rating from a callback; whether it was removed."""
    creds = session.current_credentials()
    if creds is None:
        return False
    try:
        api_client.get_client().delete_rating(creds, movie_id)
    except ApiError as err:
        flash_error(f"Couldn't remove {title}. {err.message}")
        return False
    flash(f"Removed your rating for {title}")
    return True


# -- signals: Not interested, Want to watch ------------------------------------------------


def set_signal(
    kind: api_client.SignalList,
    movie_id: int,
    title: str,
    on: bool,
    then: Callable[[int], object] | None = None,
) -> bool:
    """Put the film on (``on``) or take it off the user's ``kind`` list, from a callback.

    ``then(movie_id)`` runs after a successful change (e.g. drop the card from a list).
    """
    creds = session.current_credentials()
    if creds is None:
        return False
    try:
        api_client.get_client().set_signal(creds, kind, movie_id, on=on)
    except ApiError as err:
        flash_error(f"Couldn't update {title}. {err.message}")
        return False
    messages = {
        ("hidden", True): f"{title} won't be suggested again",
        ("hidden", False): f"{title} can be suggested again",
        ("watchlist", True): f"Added {title} to your watchlist",
        ("watchlist", False): f"Removed {title} from your watchlist",
        ("skipped", True): f"Skipped {title}",
        ("skipped", False): f"{title} is back in the deck",
    }
    flash(messages[(kind, on)])
    if then is not None:
        then(movie_id)
    return True



def signal_callback(
    kind: api_client.SignalList,
    movie_id: int,
    title: str,
    on: bool,
    then: Callable[[int], object] | None = None,
) -> None:
    """``set_signal`` as a widget's ``on_click`` (Streamlit's callbacks return nothing)."""
    set_signal(kind, movie_id, title, on, then)


def film_actions(
    film: FilmLike,
    *,
    key: str,
    on_watchlist: bool,
    after_hide: Callable[[int], object] | None = None,
    hidden: bool = False,
) -> None:
    """ "Want to watch" (a toggle) and "Not interested" under a card, one per line: side by
    side, a five-across desktop grid cut both labels short. A ``hidden`` film offers
    "Show it again" in the place of "Not interested"."""
    st.button(
        "On watchlist" if on_watchlist else "Want to watch",
        key=f"{key}-watch-{film.movie_id}",
        icon=":material/bookmark_added:" if on_watchlist else ":material/bookmark_add:",
        help="Take it off your watchlist" if on_watchlist else "Keep it on your watchlist",
        on_click=signal_callback,
        args=("watchlist", film.movie_id, film.title, not on_watchlist),
        type="secondary" if on_watchlist else "tertiary",
        width="stretch",
    )
    if hidden:
        st.button(
            "Show it again",
            key=f"{key}-unhide-{film.movie_id}",
            icon=":material/visibility:",
            help="You marked it Not interested: let it be suggested again",
            on_click=signal_callback,
            args=("hidden", film.movie_id, film.title, False),
            type="secondary",
            width="stretch",
        )
        return
    st.button(
        "Not interested",
        key=f"{key}-hide-{film.movie_id}",
        icon=":material/visibility_off:",
        help="Never suggest this film again",
        on_click=signal_callback,
        args=("hidden", film.movie_id, film.title, True, after_hide),
        type="tertiary",
        width="stretch",
    )


def watchlist_ids(creds: api_client.Credentials) -> set[int]:
    """The films on the user's watchlist (marks the cards' toggle)."""
    return {row.movie_id for row in api_client.get_client().signal_list(creds, "watchlist")}


def hidden_ids(creds: api_client.Credentials) -> set[int]:
    """The films the user marked Not interested (Search marks them)."""
    return {row.movie_id for row in api_client.get_client().signal_list(creds, "hidden")}


def done_card(
    film: FilmLike,
    poster_src: str,
    *,
    key: str,
    done: str,
    on_undo: Callable[[], None],
    undo_label: str = "Undo",
    tall: bool = True,
) -> None:
    """A card just acted on, kept in its seat until the list is refreshed: the poster with
    what was done, and Undo. The note is as tall as the controls it replaces (``tall``: a
    list card's four rows; else a deck card's two), so nothing below moves under the
    pointer and a second tap meets the same film, never the next one."""
    st.markdown(card_html(film, poster_src, chip=_text(done)), unsafe_allow_html=True)
    st.markdown(
        f'<div class="cm-done{"" if tall else " cm-done-short"}" role="status">'
        f"✓ {_text(done)}</div>",
        unsafe_allow_html=True,
    )
    st.button(
        undo_label, key=f"{key}-undo-{film.movie_id}", icon=":material/undo:",
        on_click=on_undo, type="secondary", width="stretch",
    )


# -- messages and errors ------------------------------------------------------------------


def flash(message: str) -> None:
    st.session_state[_FLASH_KEY] = message


def flash_error(message: str) -> None:
    st.session_state[_FLASH_ERROR_KEY] = message


def show_flash() -> None:
    """Show (once) what the last callback reported, as a toast: it floats in the viewport,
    so the person sees it wherever on a long page they acted (a banner at the top of the
    page could be thousands of pixels above them). An error stays until closed."""
    message = st.session_state.pop(_FLASH_KEY, None)
    if message:
        st.toast(message, icon=":material/star:")
    error = st.session_state.pop(_FLASH_ERROR_KEY, None)
    if error:
        st.toast(error, icon=":material/error:", duration="infinite")


def api_error_banner(err: ApiError) -> None:
    """A clear banner for a failed API call, with the one action that can help."""
    if err.kind == "auth":
        st.error(
            "This link's session has ended: it was signed out, or the account was deleted. "
            "Sign in again, or start a new profile.",
            icon=":material/lock:",
        )
        st.button(
            "Start again", on_click=session.sign_out, key="cm-error-start-again", type="primary"
        )
        return
    icon = ":material/cloud_off:" if err.kind == "unavailable" else ":material/error:"
    st.error(err.message, icon=icon)
    # A click is all a retry needs: it reruns the page, which repeats the call.
    st.button("Retry", key="cm-error-retry", icon=":material/refresh:", type="primary")


@contextmanager
def api_guard() -> Iterator[None]:
    """Run page code that calls the API; on failure show the banner and stop the page."""
    try:
        yield
    except ApiError as err:
        api_error_banner(err)
        st.stop()


def require_user() -> api_client.Credentials:
    """The signed-in user, or a friendly stop for pages that need one."""
    creds = session.current_credentials()
    if creds is None:
        empty_state("No seat reserved yet", "Start on the Welcome page to create your profile.")
        st.stop()
    return creds


def _text(value: str | None) -> str:
    """Escape text for our HTML; ``$`` too, which Markdown would read as maths."""
    return escape(value or "", quote=True).replace("$", "&#36;")
