"""HTTP client for the CineMatch API, usable without a Streamlit run: transport and validation.

Every answer is validated with the API's own response models (``contract.models``), so the UI
reads exactly what ``/openapi.json`` documents. Every call has a timeout, and every failure a
person could meet (service down, slow, a 4xx with a ``detail``, a 5xx, a body that does not
match the contract) becomes one typed :class:`ApiError` whose message can be shown as is.

Pages obtain the client through :func:`get_client`, the one seam tests point at a test app.
"""

from __future__ import annotations

import ipaddress
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import requests
import streamlit as st
from pydantic import BaseModel, ValidationError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from contract import models as wire
from contract.models import SignalList
from ui.settings import DEFAULT_API_URL, read_setting

#: (connect, read) seconds. Reading may wait for a model fold-in, but a person should not
#: stare at a spinner for longer than this.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
#: How long the genres, decades and metrics of the served model are kept before asking again.
MODEL_FACTS_TTL_S = 600.0
#: Ratings asked for per request by ``user_ratings`` (the API's largest page).
RATINGS_PAGE = 500
#: Methods whose request may be sent twice with the effect of once (RFC 9110, 9.2.2): the
#: ones retried when a kept-alive connection turns out to be closed.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NOT_UNDERSTOOD = "The CineMatch service sent a response this app does not understand."

ErrorKind = Literal["unavailable", "auth", "not_found", "invalid", "server"]


class ApiError(Exception):
    """A failed API call, with a message written for the person using the app; ``kind``
    picks the page's reaction ("unavailable": offer Retry; "auth": offer to start again)."""

    def __init__(self, message: str, *, kind: ErrorKind, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind: ErrorKind = kind
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Who the UI acts for: the id and bearer token ``POST /users`` handed out once."""

    user_id: int
    token: str


# The pages' names for the contract's answers (one definition: ``contract.models``).
FilmLike = wire.FilmOut
Movie = wire.MovieOut
RatingProgress = wire.RateOut | wire.RatingDeleted
UserRating = wire.UserRatingOut
Recommendation = wire.RecommendationOut
RequestIntent = wire.IntentOut
RecommendationPage = wire.RecommendationsOut
UserStats = wire.StatsOut
ImportResult = wire.ImportOut

M = TypeVar("M", bound=BaseModel)


def browser_address() -> str | None:
    """The address of the browser this script run serves (the peer of its WebSocket, which
    the browser cannot choose); None outside a script run or for an unreadable address."""
    if get_script_run_ctx(suppress_warning=True) is None:  # not serving a browser now
        return None
    address = st.context.ip_address
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


class ApiClient:
    """Typed methods for each endpoint of the contract, one instance for every session.

    ``requests.Session`` is not documented as thread-safe and Streamlit reruns on new
    threads, so sessions (with their keep-alive connections) are lent out one request at a
    time from an idle pool. Every request names its browser in ``X-Forwarded-For``: the API
    limits sign-ups per client address (and believes the header only from
    ``CINEMATCH_TRUSTED_PROXIES``, docs/operations.md, "Deploy").
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session_factory: Callable[[], requests.Session] = requests.Session,
        client_address: Callable[[], str | None] = browser_address,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session_factory = session_factory
        self._client_address = client_address
        self._idle_sessions: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
        self._model_facts: dict[str, tuple[float, Any]] = {}
        self._model_facts_lock = threading.Lock()

    # -- public, no token -------------------------------------------------------------

    def health(self) -> wire.HealthOut:
        return self._get(wire.HealthOut, "GET", "/health")

    def create_user(self) -> Credentials:
        created = self._get(wire.UserCreated, "POST", "/users")
        return Credentials(user_id=created.user_id, token=created.token)

    def genres(self) -> list[str]:
        return self._model_fact(wire.GenresOut, "/genres").genres

    def decades(self) -> list[int]:
        """The decades the catalogue has films from, newest first (1990 for the 1990s)."""
        return self._model_fact(wire.DecadesOut, "/decades").decades

    def metrics(self) -> wire.MetricsOut:
        return self._model_fact(wire.MetricsOut, "/model/evaluation")

    def search_movies(self, query: str = "", *, genre: str | None = None,
                      year: int | None = None, limit: int = 20, offset: int = 0
                      ) -> wire.MoviePage:
        optional = _given(query=query.strip(), genre=genre, year=year)
        params = {"limit": limit, "offset": offset, **optional}
        return self._get(wire.MoviePage, "GET", "/movies", params=params)

    def read_intent(self, q: str) -> RequestIntent:
        """How the API reads a request in plain words (``GET /intent``), without a list."""
        return self._get(RequestIntent, "GET", "/intent", params={"q": q})

    # -- the user's own data (bearer token) -------------------------------------------

    def rate(self, creds: Credentials, ratings: Mapping[int, float]) -> wire.RateOut:
        rows = [{"movie_id": int(m), "rating": float(r)} for m, r in ratings.items()]
        return self._rate(creds, rows)

    def restore_rating(self, creds: Credentials, row: UserRating) -> wire.RateOut:
        """Put a removed rating back as it was, with its first-rated and changed dates."""
        return self._rate(creds, [{
            "movie_id": row.movie_id, "rating": float(row.rating),
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
        }])

    def _rate(self, creds: Credentials, rows: list[dict[str, Any]]) -> wire.RateOut:
        payload = {"user_id": creds.user_id, "ratings": rows}
        return self._get(wire.RateOut, "POST", "/rate", creds=creds, json=payload)

    def delete_rating(self, creds: Credentials, movie_id: int) -> wire.RatingDeleted:
        return self._mine(wire.RatingDeleted, "DELETE", creds, f"/ratings/{int(movie_id)}")

    def user_ratings(self, creds: Credentials) -> list[UserRating]:
        """All of the user's ratings, newest first, a page of ``RATINGS_PAGE`` at a time."""
        rows: list[UserRating] = []
        while True:
            params = {"limit": RATINGS_PAGE, "offset": len(rows)}
            page = self._mine(wire.UserRatingsOut, "GET", creds, "/ratings", params=params,
                              user=True)
            rows += page.ratings
            if not page.ratings or len(rows) >= page.total:
                return rows

    def recommend(self, creds: Credentials, n: int = 10, *, genre: str | None = None,
                  year_from: int | None = None, year_to: int | None = None,
                  discover: float = 0.0, q: str | None = None) -> RecommendationPage:
        optional = _given(discover=discover or None, q=q, genre=genre, year_from=year_from,
                          year_to=year_to)
        params = {"user_id": creds.user_id, "n": n, **optional}
        return self._get(
            RecommendationPage, "GET", "/recommend", creds=creds, params=params, user=True
        )

    def user_stats(self, creds: Credentials) -> UserStats:
        path = f"/user/{creds.user_id}/stats"
        return self._get(UserStats, "GET", path, creds=creds, user=True)

    def set_signal(
        self, creds: Credentials, kind: SignalList, movie_id: int, *, on: bool
    ) -> bool:
        """Put the film on the user's ``kind`` list (``on``) or take it off; whether it is on
        it now."""
        method = "PUT" if on else "DELETE"
        return self._mine(wire.SignalOut, method, creds, f"/{kind}/{int(movie_id)}").on_list

    def signal_list(self, creds: Credentials, kind: SignalList) -> list[wire.ListedMovieOut]:
        """The films on one of the user's lists, most recently added first."""
        return self._mine(wire.SignalListOut, "GET", creds, f"/{kind}", user=True).movies

    def similar_for_user(
        self, creds: Credentials, movie_id: int, n: int = 10
    ) -> list[wire.PersonalSimilarOut]:
        tail = f"/similar/{int(movie_id)}"
        return self._mine(wire.PersonalSimilarListOut, "GET", creds, tail, params={"n": n}).similar

    def onboarding_for_user(
        self, creds: Credentials, n: int = 20, exclude: Collection[int] = ()
    ) -> list[Movie]:
        """The deck for this user: never a film they rated, hid or skipped. A list of
        tuples repeats the key, ``exclude=1&exclude=2``, as the contract asks."""
        params = [("n", n)] + [("exclude", int(movie_id)) for movie_id in sorted(set(exclude))]
        deck = self._mine(wire.OnboardingOut, "GET", creds, "/onboarding", params=params,
                          user=True)
        return deck.movies

    # -- the account: import, export, password sign-in, deletion ------------------------

    def import_ratings(self, creds: Credentials, filename: str, data: bytes, *,
                       source: str = "auto", dry_run: bool = True) -> ImportResult:
        params = {"source": source, "dry_run": "true" if dry_run else "false"}
        files = {"file": (filename, data, "text/csv")}
        return self._mine(ImportResult, "POST", creds, "/import", params=params, files=files,
                          user=True)

    def export_ratings(self, creds: Credentials) -> bytes:
        """The CSV of ``GET /users/{id}/export``, as bytes for a download button."""
        return self._sent("GET", f"/users/{creds.user_id}/export", creds=creds, user=True)

    def username(self, creds: Credentials) -> str | None:
        """The account's username, or None when it has no password yet."""
        return self._mine(wire.CredentialsOut, "GET", creds, "/credentials", user=True).username

    def set_credentials(self, creds: Credentials, username: str, password: str) -> str | None:
        body = {"username": username, "password": password}
        saved = self._mine(wire.CredentialsOut, "PUT", creds, "/credentials", json=body,
                           user=True)
        return saved.username

    def sign_in(self, username: str, password: str) -> Credentials:
        """A new token for this device (``POST /sessions``); a 401 here means the username
        or password is wrong, not that a session ended."""
        body = {"username": username, "password": password}
        try:
            session = self._get(wire.SessionOut, "POST", "/sessions", json=body)
        except ApiError as err:
            if err.status != 401:
                raise
            raise ApiError(
                "That username and password don't match. Check both and try again.",
                kind="invalid",
                status=err.status,
            ) from err
        return Credentials(user_id=session.user_id, token=session.token)

    def sign_out(self, creds: Credentials) -> None:
        """Revoke this device's token (``DELETE /sessions/current``)."""
        self._sent("DELETE", "/sessions/current", creds=creds)

    def delete_account(self, creds: Credentials) -> None:
        self._sent("DELETE", f"/users/{creds.user_id}", creds=creds, user=True)

    # -- transport --------------------------------------------------------------------

    def _model_fact(self, model: type[M], path: str) -> M:
        """``GET path`` for a fact of the served model, answered from memory for
        ``MODEL_FACTS_TTL_S``: it changes with the model only, and pages ask on every rerun."""
        now = time.monotonic()
        with self._model_facts_lock:
            cached = self._model_facts.get(path)
        if cached is not None and now - cached[0] < MODEL_FACTS_TTL_S:
            return cached[1]
        fact = self._get(model, "GET", path)
        with self._model_facts_lock:
            self._model_facts[path] = (now, fact)
        return fact

    def _mine(self, model: type[M], method: str, creds: Credentials, tail: str,
              **options: Any) -> M:
        """``model`` from one request on the user's own resource, ``/users/{id}{tail}``."""
        return self._get(model, method, f"/users/{creds.user_id}{tail}", creds=creds, **options)

    def _get(self, model: type[M], method: str, path: str, *, user: bool = False,
             **send: Any) -> M:
        """The answer to one request (``send``: the options of :meth:`_send`), validated as
        the contract's ``model``, or an :class:`ApiError`.

        ``user=True`` marks endpoints addressed by the user id alone, where a 404 means the
        saved session points at a user the service no longer knows.
        """
        response = self._send(method, path, **send)
        _raise_for_status(response, user=user)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ApiError(NOT_UNDERSTOOD, kind="server", status=response.status_code) from exc

    def _sent(self, method: str, path: str, *, user: bool = False, **send: Any) -> bytes:
        """The body of one request whose answer is not JSON (or is empty)."""
        response = self._send(method, path, **send)
        _raise_for_status(response, user=user)
        return response.content

    @contextmanager
    def _session(self) -> Iterator[requests.Session]:
        """An idle session (or a new one when all are busy), returned to the pool after use."""
        try:
            session = self._idle_sessions.get_nowait()
        except queue.Empty:
            session = self._session_factory()
        try:
            yield session
        finally:
            self._idle_sessions.put(session)

    def _close_idle_sessions(self) -> None:
        """Close the idle sessions, whose connections may be as stale as one that failed."""
        while True:
            try:
                self._idle_sessions.get_nowait().close()
            except queue.Empty:
                return

    def _send(self, method: str, path: str, *, creds: Credentials | None = None,
              params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
              json: Any = None, files: Mapping[str, tuple[str, bytes, str]] | None = None
              ) -> requests.Response:
        """Send one request; a transport failure raises :class:`ApiError`."""
        headers = {"Accept": "application/json"}
        address = self._client_address()
        if address is not None:
            headers["X-Forwarded-For"] = address
        if creds is not None:
            headers["Authorization"] = f"Bearer {creds.token}"
        url = f"{self.base_url}{path}"
        options: dict[str, Any] = {
            "params": params, "json": json, "files": files, "headers": headers,
            "timeout": self.timeout,
        }
        try:
            try:
                with self._session() as session:
                    return session.request(method, url, **options)
            except requests.Timeout:
                raise
            except requests.ConnectionError:
                if method.upper() not in IDEMPOTENT_METHODS:
                    raise
                # A kept-alive connection the server had just closed (its idle timeout
                # raced this request): once more, on a fresh session and connection.
                self._close_idle_sessions()
                with self._session() as session:
                    return session.request(method, url, **options)
        except requests.Timeout as exc:
            raise ApiError(
                f"The CineMatch service at {self.base_url} is taking too long to answer "
                f"(over {self.timeout[1]:g} s). Please try again in a moment.",
                kind="unavailable",
            ) from exc
        except requests.ConnectionError as exc:
            raise ApiError(
                f"Can't reach the CineMatch service at {self.base_url}. "
                "It may be starting up or down; please try again in a moment.",
                kind="unavailable",
            ) from exc
        except requests.RequestException as exc:
            raise ApiError(
                f"The request to the CineMatch service failed ({type(exc).__name__}).",
                kind="unavailable",
            ) from exc


def _given(**values: Any) -> dict[str, Any]:
    """The optional query parameters that are set (not None, not "")."""
    return {name: value for name, value in values.items() if value is not None and value != ""}


def _raise_for_status(response: requests.Response, *, user: bool) -> None:
    """An :class:`ApiError` for an answer that is not a success, with the API's ``detail``."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = _detail(response)
    if status in (401, 403) or (status == 404 and user):
        message = "This session is no longer recognised by the CineMatch service."
        raise ApiError(message + (f" ({detail})" if detail else ""), kind="auth", status=status)
    if status == 404:
        raise ApiError(detail or "Not found.", kind="not_found", status=status)
    if 400 <= status < 500:
        raise ApiError(
            detail or f"The request was refused ({status}).", kind="invalid", status=status
        )
    if status in (502, 503, 504):
        raise ApiError(
            "The CineMatch service is unavailable right now"
            + (f": {detail}" if detail else ".")
            + " Please try again in a moment.",
            kind="unavailable",
            status=status,
        )
    raise ApiError(
        f"The CineMatch service had a problem ({status})" + (f": {detail}" if detail else "."),
        kind="server",
        status=status,
    )


def _detail(response: requests.Response) -> str:
    """The contract's ``{"detail": "..."}``; FastAPI's 422 list of errors is joined too."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):  # not JSON (a proxy's page), or not an object
        return ""
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                         for item in detail)
    return "" if detail is None else str(detail)


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str) -> ApiClient:
    return ApiClient(base_url)


def api_base_url() -> str:
    """``CINEMATCH_API_URL`` from the environment or secrets, else the local default."""
    return read_setting("CINEMATCH_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL


def get_client() -> ApiClient:
    """The client every page uses: one per API base URL, shared by all sessions.

    Tests replace this function, so pages call it as ``api_client.get_client()`` rather than
    importing the name.
    """
    return _shared_client(api_base_url())
