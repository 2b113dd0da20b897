"""HTTP client for the CineMatch API, usable without a Streamlit run: transport and validation.

Every answer is validated with the API's own response models (``contract.models``), so the UI
reads exactly what ``/openapi.json`` documents. Every call has a timeout, and every failure a
person could meet (service down, slow, a 4xx with a ``detail``, a 5xx, a body that does not
match the contract) becomes one typed :class:`ApiError` whose message can be shown as is.
Pages therefore catch a single exception type and never show a traceback.

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

#: (connect, read) seconds. Connecting to a live service is near-instant; reading may wait
#: for a model fold-in, but a person should not stare at a spinner for longer than this.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
#: How long the genres and metrics of the served model are kept before asking again.
MODEL_FACTS_TTL_S = 600.0
#: Ratings asked for per request by ``user_ratings`` (the API's largest page).
RATINGS_PAGE = 500

#: Methods whose request may be sent twice with the effect of once (RFC 9110, 9.2.2): the
#: ones retried when a kept-alive connection turns out to be closed.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

ErrorKind = Literal["unavailable", "auth", "not_found", "invalid", "server"]


class ApiError(Exception):
    """A failed API call, with a message written for the person using the app.

    ``kind`` lets a page choose its reaction: ``"unavailable"`` (down or too slow: offer
    Retry), ``"auth"`` (the saved session is no longer valid: offer to start again),
    ``"not_found"``, ``"invalid"`` (the request was refused) or ``"server"``.
    """

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
    """The address of the browser this script run serves (``st.context.ip_address``: the
    peer of its WebSocket, which the browser cannot choose), or None outside a script run and
    for a browser on the Streamlit server's own machine."""
    if get_script_run_ctx(suppress_warning=True) is None:  # not serving a browser now
        return None
    address = st.context.ip_address
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


class ApiClient:
    """Typed methods for each endpoint of the contract.

    One instance is shared by every browser session (see :func:`get_client`). HTTP sessions
    (each with its keep-alive connections) are lent out one request at a time from a small
    idle pool: ``requests.Session`` is not documented as thread-safe, and Streamlit runs each
    rerun in a new thread, so a session per thread was a new connection (for a remote HTTPS
    API, a new TLS handshake) on every click.

    Every request names the browser it is made for in ``X-Forwarded-For``
    (``client_address``, by default :func:`browser_address`): the API limits sign-ups per
    client address, and without it every visitor would share the Streamlit server's. The API
    believes the header only from addresses its operator lists in
    ``CINEMATCH_TRUSTED_PROXIES`` (docs/operations.md, "Deploy").
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

    def _model_fact(self, path: str) -> Any:
        """``GET path`` for a fact of the served model, answered from memory for a while."""
        now = time.monotonic()
        with self._model_facts_lock:
            cached = self._model_facts.get(path)
        if cached is not None and now - cached[0] < MODEL_FACTS_TTL_S:
            return cached[1]
        body = self._request("GET", path)
        with self._model_facts_lock:
            self._model_facts[path] = (now, body)
        return body

    def health(self) -> wire.HealthOut:
        return self._get(wire.HealthOut, "GET", "/health")

    def create_user(self) -> Credentials:
        created = self._get(wire.UserCreated, "POST", "/users")
        return Credentials(user_id=created.user_id, token=created.token)

    def genres(self) -> list[str]:
        """The catalogue's genres (kept for MODEL_FACTS_TTL_S: they change with the model only,
        and the For you and Search pages ask on every rerun)."""
        return _valid(wire.GenresOut, self._model_fact("/genres")).genres

    def decades(self) -> list[int]:
        """The decades the catalogue has films from, newest first (1990 for the 1990s)."""
        return _valid(wire.DecadesOut, self._model_fact("/decades")).decades

    def movie(self, movie_id: int) -> Movie:
        return self._get(Movie, "GET", f"/movies/{int(movie_id)}")

    def search_movies(
        self,
        query: str = "",
        *,
        genre: str | None = None,
        year: int | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> wire.MoviePage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if query.strip():
            params["query"] = query.strip()
        if genre:
            params["genre"] = genre
        if year is not None:
            params["year"] = year
        return self._get(wire.MoviePage, "GET", "/movies", params=params)

    def similar(self, movie_id: int, n: int = 10) -> list[wire.SimilarMovieOut]:
        path = f"/movies/{int(movie_id)}/similar"
        return self._get(wire.SimilarOut, "GET", path, params={"n": n}).similar

    def read_intent(self, q: str) -> RequestIntent:
        """How the API reads a request in plain words (``GET /intent``), without a list."""
        return self._get(RequestIntent, "GET", "/intent", params={"q": q})

    def onboarding_movies(self, n: int = 20, exclude: Collection[int] = ()) -> list[Movie]:
        params = _deck_params(n, exclude)
        return self._get(wire.OnboardingOut, "GET", "/onboarding/movies", params=params).movies

    def metrics(self) -> wire.MetricsOut:
        return _valid(wire.MetricsOut, self._model_fact("/model/evaluation"))

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
        path = f"/users/{creds.user_id}/ratings/{int(movie_id)}"
        return self._get(wire.RatingDeleted, "DELETE", path, creds=creds)

    def user_ratings(self, creds: Credentials) -> list[UserRating]:
        """All of the user's ratings, newest first, fetched a page at a time (the API serves
        at most ``RATINGS_PAGE`` per request)."""
        rows: list[UserRating] = []
        while True:
            page = self._get(
                wire.UserRatingsOut,
                "GET",
                f"/users/{creds.user_id}/ratings",
                creds=creds,
                params={"limit": RATINGS_PAGE, "offset": len(rows)},
                user=True,
            )
            rows += page.ratings
            if not page.ratings or len(rows) >= page.total:
                return rows

    def recommend(
        self,
        creds: Credentials,
        n: int = 10,
        *,
        genre: str | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        discover: float = 0.0,
        q: str | None = None,
    ) -> RecommendationPage:
        params: dict[str, Any] = {"user_id": creds.user_id, "n": n}
        if discover:
            params["discover"] = discover
        if q:
            params["q"] = q
        if genre:
            params["genre"] = genre
        if year_from is not None:
            params["year_from"] = year_from
        if year_to is not None:
            params["year_to"] = year_to
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
        path = f"/users/{creds.user_id}/{kind}/{int(movie_id)}"
        return self._get(wire.SignalOut, method, path, creds=creds).on_list

    def signal_list(self, creds: Credentials, kind: SignalList) -> list[wire.ListedMovieOut]:
        """The films on one of the user's lists, most recently added first."""
        path = f"/users/{creds.user_id}/{kind}"
        return self._get(wire.SignalListOut, "GET", path, creds=creds, user=True).movies

    def similar_for_user(
        self, creds: Credentials, movie_id: int, n: int = 10
    ) -> list[wire.PersonalSimilarOut]:
        path = f"/users/{creds.user_id}/similar/{int(movie_id)}"
        body = self._get(wire.PersonalSimilarListOut, "GET", path, creds=creds, params={"n": n})
        return body.similar

    def onboarding_for_user(
        self, creds: Credentials, n: int = 20, exclude: Collection[int] = ()
    ) -> list[Movie]:
        """The deck for this user: never a film they rated, hid or skipped."""
        path = f"/users/{creds.user_id}/onboarding"
        params = _deck_params(n, exclude)
        body = self._get(wire.OnboardingOut, "GET", path, creds=creds, params=params, user=True)
        return body.movies

    # -- the account: import, export, password sign-in, deletion ------------------------

    def import_ratings(
        self,
        creds: Credentials,
        filename: str,
        data: bytes,
        *,
        source: str = "auto",
        dry_run: bool = True,
    ) -> ImportResult:
        return self._get(
            ImportResult,
            "POST",
            f"/users/{creds.user_id}/import",
            creds=creds,
            params={"source": source, "dry_run": "true" if dry_run else "false"},
            files={"file": (filename, data, "text/csv")},
            user=True,
        )

    def export_ratings(self, creds: Credentials) -> bytes:
        """The CSV of ``GET /users/{id}/export``, as bytes for a download button."""
        response = self._send("GET", f"/users/{creds.user_id}/export", creds=creds)
        self._no_content(response, user=True)
        return response.content

    def username(self, creds: Credentials) -> str | None:
        """The account's username, or None when it has no password yet."""
        path = f"/users/{creds.user_id}/credentials"
        return self._get(wire.CredentialsOut, "GET", path, creds=creds, user=True).username

    def set_credentials(self, creds: Credentials, username: str, password: str) -> str | None:
        body = self._get(
            wire.CredentialsOut,
            "PUT",
            f"/users/{creds.user_id}/credentials",
            creds=creds,
            json={"username": username, "password": password},
            user=True,
        )
        return body.username

    def sign_in(self, username: str, password: str) -> Credentials:
        """A new token for this device from a username and password (``POST /sessions``).

        A 401 here means the username or password is wrong, not that a session ended."""
        try:
            body = self._get(
                wire.SessionOut,
                "POST", "/sessions", json={"username": username, "password": password},
            )
        except ApiError as err:
            if err.status != 401:
                raise
            raise ApiError(
                "That username and password don't match. Check both and try again.",
                kind="invalid",
                status=err.status,
            ) from err
        return Credentials(user_id=body.user_id, token=body.token)

    def sign_out(self, creds: Credentials) -> None:
        """Revoke this device's token (``DELETE /sessions/current``)."""
        self._no_content(self._send("DELETE", "/sessions/current", creds=creds))

    def delete_account(self, creds: Credentials) -> None:
        self._no_content(self._send("DELETE", f"/users/{creds.user_id}", creds=creds), user=True)

    @staticmethod
    def _no_content(response: requests.Response, *, user: bool = False) -> None:
        if not 200 <= response.status_code < 300:
            _json_or_error(response, user=user)

    # -- transport --------------------------------------------------------------------

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

    def _get(self, model: type[M], method: str, path: str, **options: Any) -> M:
        """The answer to one request, validated as the contract's ``model``."""
        return _valid(model, self._request(method, path, **options))

    def _request(
        self, method: str, path: str, *, user: bool = False, **send: Any
    ) -> dict[str, Any]:
        """Send one request (``send``: the options of :meth:`_send`) and return its JSON
        object, or raise :class:`ApiError`.

        ``user=True`` marks endpoints addressed by the user id alone, where a 404 means the
        saved session points at a user the service no longer knows.
        """
        return _json_or_error(self._send(method, path, **send), user=user)

    def _send(
        self,
        method: str,
        path: str,
        *,
        creds: Credentials | None = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
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


def _deck_params(n: int, exclude: Collection[int]) -> list[tuple[str, int]]:
    """A list of tuples makes requests repeat the key: exclude=1&exclude=2 (the contract)."""
    return [("n", n)] + [("exclude", int(movie_id)) for movie_id in sorted(set(exclude))]


def _json_or_error(response: requests.Response, *, user: bool) -> dict[str, Any]:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise ApiError(
                "The CineMatch service sent a response this app does not understand.",
                kind="server",
                status=status,
            )
        return body
    detail = _detail(body)
    if status in (401, 403) or (status == 404 and user):
        message = "This session is no longer recognised by the CineMatch service."
        if detail:
            message += f" ({detail})"
        raise ApiError(message, kind="auth", status=status)
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


def _detail(body: Any) -> str:
    """The contract's ``{"detail": "..."}``; FastAPI's 422 list of errors is joined too."""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        messages = [
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        ]
        return "; ".join(messages)
    return "" if detail is None else str(detail)


def _valid(model: type[M], body: Any) -> M:
    """``body`` as the contract's ``model``, or an :class:`ApiError` when it does not match."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(
            "The CineMatch service sent a response this app does not understand.",
            kind="server",
        ) from exc


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str) -> ApiClient:
    return ApiClient(base_url)


def api_base_url() -> str:
    """``CINEMATCH_API_URL`` from the environment or secrets, else the local default."""
    return read_setting("CINEMATCH_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL


def get_client() -> ApiClient:
    """The client every page uses: one per API base URL, shared by all sessions.

    Tests replace this function (``monkeypatch.setattr(api_client, "get_client", ...)``), so
    pages must call it as ``api_client.get_client()`` rather than importing the name.
    """
    return _shared_client(api_base_url())
