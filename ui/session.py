"""Who is signed in, kept in the URL (``?uid=…&token=…``) so that a refresh keeps the user.

Session state dies with the tab and cookies are read-only in Streamlit, and a page change drops
the query parameters, so every run syncs both ways: a user in the URL (a refresh, a bookmark, a
pasted link) wins; a user the URL lost is written back. The token is a bearer secret: posters
are drawn with ``referrerpolicy="no-referrer"`` so it never leaks to image hosts.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import streamlit as st

from ui.api_client import Credentials

QUERY_USER = "uid"
QUERY_TOKEN = "token"
_CREDENTIALS_KEY = "cinematch_credentials"
_REDIRECT_KEY = "cinematch_redirect"


def sync_credentials() -> Credentials | None:
    """Reconcile the URL and the session (see module docstring) and return the user."""
    from_url = _credentials_from_url()
    held: Credentials | None = st.session_state.get(_CREDENTIALS_KEY)
    if from_url is not None and from_url != held:
        if held is not None:
            _forget_user_state()
        st.session_state[_CREDENTIALS_KEY] = from_url
        return from_url
    if held is not None and from_url is None:
        st.query_params.update(query_params_for(held))
    return held


def current_credentials() -> Credentials | None:
    """The signed-in user of this session, as synced at the top of the run."""
    return st.session_state.get(_CREDENTIALS_KEY)


def sign_in(creds: Credentials, *, then_open: str | None = None) -> None:
    """Remember ``creds`` in the session and the URL; ``then_open`` a page on the next run
    (a page shown only to a signed-in user is not registered yet in this one)."""
    _forget_user_state()
    st.session_state[_CREDENTIALS_KEY] = creds
    st.query_params.update(query_params_for(creds))
    if then_open is not None:
        st.session_state[_REDIRECT_KEY] = then_open


def sign_out() -> None:
    """Forget the user: the URL's parameters and everything this session held."""
    for name in (QUERY_USER, QUERY_TOKEN):
        if name in st.query_params:
            del st.query_params[name]
    for key in list(st.session_state.keys()):
        del st.session_state[key]


_PAGE_KEY = "cinematch_page"
_PREVIOUS_PAGE_KEY = "cinematch_previous_page"


def note_page(title: str) -> None:
    """Remember which page this run shows, and which the previous run showed."""
    st.session_state[_PREVIOUS_PAGE_KEY] = st.session_state.get(_PAGE_KEY)
    st.session_state[_PAGE_KEY] = title


def just_arrived() -> bool:
    """Whether this run is the first on its page (the person came from another page)."""
    return st.session_state.get(_PREVIOUS_PAGE_KEY) != st.session_state.get(_PAGE_KEY)


def pop_redirect() -> str | None:
    """The page :func:`sign_in` asked to open, consumed once."""
    return st.session_state.pop(_REDIRECT_KEY, None)


def query_params_for(creds: Credentials) -> dict[str, str]:
    return {QUERY_USER: str(creds.user_id), QUERY_TOKEN: creds.token}


def resume_code(creds: Credentials) -> str:
    """A short text a person can keep to come back on another device: ``<id>:<token>``."""
    return f"{creds.user_id}:{creds.token}"


def parse_resume_code(code: str) -> Credentials | None:
    """The inverse of :func:`resume_code`; ``None`` for anything malformed."""
    user_part, sep, token = code.strip().partition(":")
    if not sep or not _is_user_id(user_part) or not token.strip():
        return None
    return Credentials(user_id=int(user_part), token=token.strip())


def _is_user_id(text: str) -> bool:
    """ASCII digits only: "²".isdigit() is True, and int("²") raises."""
    return text.isascii() and text.isdigit()


def state(key: str, default: Any) -> Any:
    """``st.session_state[key]``, initialised to ``default`` on first use."""
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


class _Seated(Protocol):
    @property
    def movie_id(self) -> int: ...


S = TypeVar("S", bound=_Seated)


def in_visit_order(films: list[S], key: str, *, new_first: bool) -> list[S]:
    """``films`` in the order they had earlier on this visit (``key`` holds their ids), so
    a row acted on keeps its place; films not seen yet take seats at the front
    (``new_first``, in their own order) or at the end. The page pops ``key`` on arrival."""
    seats: list[int] = state(key, [])
    known = set(seats)
    new = [film.movie_id for film in films if film.movie_id not in known]
    seats[:] = new + seats if new_first else seats + new
    place = {movie_id: index for index, movie_id in enumerate(seats)}
    return sorted(films, key=lambda film: place[film.movie_id])


def _credentials_from_url() -> Credentials | None:
    user = st.query_params.get(QUERY_USER, "")
    token = st.query_params.get(QUERY_TOKEN, "")
    if not _is_user_id(user) or not token:
        return None
    return Credentials(user_id=int(user), token=token)


def _forget_user_state() -> None:
    """Drop per-user page state (onboarding deck, widget values) when the user changes."""
    for key in list(st.session_state.keys()):
        if key != _CREDENTIALS_KEY:
            del st.session_state[key]
