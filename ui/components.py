"""Building blocks the pages share: theme, poster cards and rows, rating control, banners.

Card HTML is built by pure functions (``card_html`` …), tested and escaped in one place.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Literal, TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

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


#: On a phone, close the menu (the sidebar of pages) once a page was chosen from it: Streamlit
#: leaves it open over the page just opened. Streamlit runs a script again only when its text
#: changes, so the text carries the number of page changes: it runs once per page opened.
_CLOSE_MENU_JS = """<script>
(() => {{  // page {visit}
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  if (window.innerWidth <= 640 && sidebar && sidebar.dataset.collapsed === "false") {{
    sidebar.querySelector('[data-testid="stSidebarCollapseButton"] button, '
      + 'button[aria-label="Collapse sidebar"]')?.click();
  }}
}})();
</script>"""
_PAGES_OPENED_KEY = "cm-pages-opened"


def close_menu_on_phones(page_changed: bool) -> None:
    """Close the phone menu after a page change. The script is drawn on every run (it runs
    again only on a page change), so its container is the same on every run, and theme.css
    takes it out of the layout: the page's own elements never move when it comes and goes."""
    opened = st.session_state.get(_PAGES_OPENED_KEY, 0) + int(page_changed)
    st.session_state[_PAGES_OPENED_KEY] = opened
    with st.container(key="cm-close-menu"):
        st.html(_CLOSE_MENU_JS.format(visit=opened), unsafe_allow_javascript=True)


def page_header(eyebrow: str, title: str, lede: str | None = None) -> None:
    markup(
        f'<div class="cm-heading"><p class="cm-eyebrow">{_text(eyebrow)}</p>'
        f'<h1 class="cm-page-title">{_text(title)}</h1>{lede_html(lede) if lede else ""}'
        '<div class="cm-rule"></div></div>'
    )


def markup(html: str) -> None:
    """Our own (escaped) HTML, drawn through Markdown as theme.css expects."""
    st.markdown(html, unsafe_allow_html=True)


# -- formatting ----------------------------------------------------------------------------


def rating_text(value: float) -> str:
    """A rating in words a person reads at a glance: 4.5 → "4.5 ★", 0.5 → "0.5 ★"."""
    return f"{value:.1f} ★"


def rating_choice_label(value: float) -> str:
    """How the rating control names a choice: 0.5 → "½", 3.0 → "3", 4.5 → "4½"."""
    whole = int(value)
    return f"{whole if whole else ''}{'½' if value - whole >= 0.5 else ''}"


def film_meta(film: FilmLike) -> str:
    """ "1999 · Action, Sci-Fi, Thriller": the year and every genre."""
    parts = [str(film.year)] if film.year else []
    if film.genres:
        parts.append(", ".join(film.genres))
    return " · ".join(parts)


def human_date(moment: dt.datetime | None) -> str:
    """An API timestamp as people say it: "today", "yesterday", "3 Nov", "3 Nov 2025"."""
    if moment is None:
        return ""
    day = moment.date()
    today = dt.date.today()
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
    chip_class: str = "",
) -> str:
    """A poster card. ``chip`` overlays the poster's corner (a gold ★ rating; one line, cut
    with an ellipsis when the poster is narrow); each text line shows its whole text on
    hover when it is cut.

    Kept on one line of HTML: Markdown would end a raw HTML block at a blank line.
    """
    classes = f"cm-chip {chip_class}" if chip_class else "cm-chip"
    chip_html = f'<span class="{classes}">{chip}</span>' if chip else ""
    return (
        f'<div class="cm-card"><div class="cm-poster">{chip_html}'
        f"{_poster_img(film, poster_src)}</div>"
        + _line("cm-card-title", film.title, always=True)
        + _line("cm-card-subtitle", film.subtitle)
        + _line("cm-card-meta", film_meta(film), always=True)
        + _line("cm-card-reason", reason) + "</div>"
    )


def card(film: FilmLike, poster_src: str, *, chip: str | None = None,
         reason: str | None = None, chip_class: str = "") -> None:
    markup(card_html(film, poster_src, chip=chip, reason=reason, chip_class=chip_class))


def _line(css_class: str, text: str | None, *, always: bool = False) -> str:
    if not text and not always:
        return ""
    return f'<div class="{css_class}" title="{_text(text)}">{_text(text)}</div>'


def _poster_img(film: FilmLike, poster_src: str) -> str:
    """``referrerpolicy`` keeps the session's URL (which holds the token) from image hosts."""
    return (f'<img src="{escape(poster_src, quote=True)}" alt="Poster: {_text(film.title)}" '
            'loading="lazy" referrerpolicy="no-referrer">')


def star_chip(value: float, caption: str = "") -> str:
    tail = f" {_text(caption)}" if caption else ""
    return f'<span class="cm-star">★</span> {value:.1f}{tail}'


def thumb_html(film: FilmLike, poster_src: str) -> str:
    return f'<div class="cm-thumb">{_poster_img(film, poster_src)}</div>'


def row_title_html(film: FilmLike) -> str:
    """The title line of a compact row (search results, history), subtitle beneath."""
    subtitle = film.subtitle
    tail = f'<div class="cm-row-subtitle">{_text(subtitle)}</div>' if subtitle else ""
    return f'<div class="cm-row-title">{_text(film.title)}</div>{tail}'


def film_row(
    film: FilmLike, poster_src: str, *, key: str, widths: list[int], meta: str | None = None
) -> list[DeltaGenerator]:
    """A compact row in a keyed container: thumbnail, title and ``meta`` (by default the
    year and genres), then the columns of the rest of ``widths`` for the caller to fill."""
    with st.container(key=key):
        thumb, info, *rest = st.columns(widths, vertical_alignment="center")
    thumb.markdown(thumb_html(film, poster_src), unsafe_allow_html=True)
    info.markdown(row_title_html(film), unsafe_allow_html=True)
    info.caption(film_meta(film) if meta is None else meta)
    return rest


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


def film_grid(films: Sequence[F], *, key: str, body: Callable[[F, str], None]) -> None:
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
    params = session.query_params_for(creds) if creds else None
    st.page_link(page, label=label, icon=icon, query_params=params)


def empty_state(title: str, text: str) -> None:
    markup(f'<div class="cm-empty"><div class="cm-empty-title">{_text(title)}</div>'
           f"<div>{_text(text)}</div></div>")


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

    Choices, not a slider: a slider reports every position it passes, so the first arrow
    key from "unrated" saved ½★. Choosing another value re-rates; ratings are removed on the
    profile page, so choosing the current one again keeps it. If ``on_rate`` returns
    ``None`` (the save failed) the control goes back to where it was.
    """
    key, disabled = seat_key(key), disabled or drawing_ghost()
    # A keyed widget ignores a new default, and Streamlit drops its value on a run that does
    # not draw it: when the service's rating differs from the one last drawn, set it here.
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


R = TypeVar("R")


def act(call: Callable[[api_client.Credentials], R], done: str, failed: str) -> R | None:
    """Make one change for the signed-in user from a widget callback, which cannot draw:
    the outcome is flashed (``done``, or ``failed`` with the API's reason). None on failure."""
    creds = session.current_credentials()
    if creds is None:
        return None
    try:
        result = call(creds)
    except ApiError as err:
        flash_error(f"{failed} {err.message}")
        return None
    flash(done)
    return result


def save_rating(movie_id: int, title: str, rating: float) -> RatingProgress | None:
    """Save the rating at once; what the API says the user's progress is now."""
    return act(lambda creds: api_client.get_client().rate(creds, {movie_id: rating}),
                f"Saved {rating_text(rating)} for {title}",
                f"Your rating for {title} wasn't saved.")


def delete_rating(movie_id: int, title: str) -> bool:
    """Remove the rating; whether it was removed."""
    return act(lambda creds: api_client.get_client().delete_rating(creds, movie_id),
                f"Removed your rating for {title}", f"Couldn't remove {title}.") is not None


# -- signals: Not interested, Want to watch ------------------------------------------------

_SIGNAL_DONE = {
    ("hidden", True): "{} won't be suggested again",
    ("hidden", False): "{} can be suggested again",
    ("watchlist", True): "Added {} to your watchlist",
    ("watchlist", False): "Removed {} from your watchlist",
    ("skipped", True): "Skipped {}",
    ("skipped", False): "{} is back in the deck",
}


def set_signal(
    kind: api_client.SignalList,
    movie_id: int,
    title: str,
    on: bool,
    then: Callable[[int], object] | None = None,
) -> bool:
    """Put the film on (``on``) or take it off the user's ``kind`` list; ``then(movie_id)``
    runs after a successful change (e.g. drop the card from a list)."""
    changed = act(
        lambda creds: api_client.get_client().set_signal(creds, kind, movie_id, on=on),
        _SIGNAL_DONE[(kind, on)].format(title), f"Couldn't update {title}.",
    ) is not None
    if changed and then is not None:
        then(movie_id)
    return changed


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
    """ "Want to watch" (a toggle) and "Not interested" under a card, one per line (side by
    side, a five-across grid cut both labels short). A ``hidden`` film offers "Show it
    again" in the place of "Not interested"."""
    if on_watchlist:
        _signal_button("On watchlist", f"{key}-watch", ":material/bookmark_added:",
                       "Take it off your watchlist", film, "watchlist", False, "secondary")
    else:
        _signal_button("Want to watch", f"{key}-watch", ":material/bookmark_add:",
                       "Keep it on your watchlist", film, "watchlist", True)
    if hidden:
        _signal_button("Show it again", f"{key}-unhide", ":material/visibility:",
                       "You marked it Not interested: let it be suggested again",
                       film, "hidden", False, "secondary")
    else:
        _signal_button("Not interested", f"{key}-hide", ":material/visibility_off:",
                       "Never suggest this film again", film, "hidden", True, then=after_hide)


def _signal_button(
    label: str, key: str, icon: str, tip: str, film: FilmLike, kind: api_client.SignalList,
    on: bool, style: Literal["secondary", "tertiary"] = "tertiary",
    then: Callable[[int], object] | None = None,
) -> None:
    card_button(label, key=f"{key}-{film.movie_id}", icon=icon, help=tip,
                on_click=signal_callback, args=(kind, film.movie_id, film.title, on, then),
                type=style)


def card_button(
    label: str, *, key: str, icon: str, on_click: Callable[..., None] | None = None,
    args: tuple[object, ...] = (), help: str | None = None,
    type: Literal["primary", "secondary", "tertiary"] = "tertiary",
) -> bool:
    """A full-width button under a card; in a done card's seat, its inert ghost."""
    return st.button(
        label, key=seat_key(key), icon=icon, help=help, on_click=on_click, args=args,
        type=type, width="stretch", disabled=drawing_ghost(),
    )


def listed_ids(creds: api_client.Credentials, kind: api_client.SignalList) -> set[int]:
    """The films on one of the user's lists (marks the cards' watchlist toggle, say)."""
    return {row.movie_id for row in api_client.get_client().signal_list(creds, kind)}


# -- seats: a card acted on keeps its place ------------------------------------------------

#: Whether the controls being drawn are a seat's ghost (see :func:`seat`).
_GHOST: contextvars.ContextVar[bool] = contextvars.ContextVar("cm_ghost", default=False)

#: What a card says once something was done to it: ``done_text(what, stars)``.
_DONE_TEXT = {
    "hidden": "Not interested: won't be suggested",
    "skipped": "Skipped: not seen",
    "removed": "Removed from your watchlist",
}


def done_text(what: str, stars: float | None = None) -> str:
    """ "Rated 4.0 ★", or what a hidden, skipped or removed card says."""
    return f"Rated {rating_text(stars or 0)}" if what == "rated" else _DONE_TEXT[what]


def drawing_ghost() -> bool:
    return _GHOST.get()


def seat_key(key: str) -> str:
    """A control's key; in a seat's ghost its own (``cm-ghost-…``), so the ghost never
    takes the live control's value."""
    return f"cm-ghost-{key}" if drawing_ghost() else key


def seat(key: str, controls: Callable[[], object]) -> DeltaGenerator:
    """Where controls were, once their work is done: ``controls()`` is drawn again as an
    invisible, inert ghost that holds their exact height at every screen size, and the
    container returned lies over it, for the caller to say what was done. So nothing below
    moves under the pointer. (The controls' rating_control and card_button draw the ghost.)"""
    with st.container(key=f"cm-seat-{key}"):
        with st.container(key=f"cm-ghost-{key}"):
            token = _GHOST.set(True)
            try:
                controls()
            finally:
                _GHOST.reset(token)
        return st.container(key=f"cm-over-{key}")


def done_card(
    film: FilmLike,
    poster_src: str,
    *,
    key: str,
    done: str,
    on_undo: Callable[[], None],
    controls: Callable[[], object],
    reason: str | None = None,
) -> None:
    """A card just acted on, kept in its seat until the list is refreshed: the poster with
    what was done, and Undo, over the ghost of its ``controls`` (:func:`seat`), so the card
    is exactly as tall as before and a second tap meets the same film, never the next one.
    ``reason``: the line the card showed under its title. The chip says it in a word
    (a phone hides it: the note is beside it)."""
    card(film, poster_src, chip=_text(done.split(":")[0]), reason=reason,
         chip_class="cm-chip-done")
    with seat(f"{key}-{film.movie_id}", controls):
        markup(f'<div class="cm-done" role="status">✓ {_text(done)}</div>')
        st.button(
            "Undo", key=f"{key}-undo-{film.movie_id}", icon=":material/undo:",
            on_click=on_undo, type="secondary", width="stretch",
        )


def take_back(what: str, movie_id: int, title: str) -> bool:
    """Undo what was done to a card (see :func:`done_text`): a rating is deleted, a film
    hidden or skipped is let back, a film removed from the watchlist goes back on it.
    Whether it worked."""
    if what == "rated":
        return delete_rating(movie_id, title)
    if what == "removed":
        return set_signal("watchlist", movie_id, title, True)
    kind: api_client.SignalList = "hidden" if what == "hidden" else "skipped"
    return set_signal(kind, movie_id, title, False)


# -- messages and errors ------------------------------------------------------------------


def flash(message: str) -> None:
    st.session_state[_FLASH_KEY] = message


def flash_error(message: str) -> None:
    st.session_state[_FLASH_ERROR_KEY] = message


def show_flash() -> None:
    """Show (once) what the last callback reported, as a toast: it floats in the viewport,
    wherever on a long page the person acted. An error stays until closed."""
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
