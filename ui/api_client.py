"""HTTP client for the CineMatch API (see docs/CONTRACT.md), usable without a Streamlit run.

Every call has a timeout, and every failure a person could meet (service down, slow, a 4xx
with a ``detail``, a 5xx, a body that is not the contract's JSON) becomes one typed
:class:`ApiError` whose message can be shown as is. Pages therefore catch a single exception
type and never show a traceback.

Pages obtain the client through :func:`get_client`, the one seam tests replace with a fake.
"""

from __future__ import annotations

import ipaddress
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

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

RecommendationMode = Literal["popularity", "personalized"]
#: The user's lists of films besides ratings: "Not interested", "Want to watch" and the
#: onboarding deck's "Haven't seen it".
SignalList = Literal["hidden", "watchlist", "skipped"]
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


class FilmLike(Protocol):
    """What a poster card needs from any film-shaped response row."""

    @property
    def movie_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def year(self) -> int | None: ...
    @property
    def genres(self) -> tuple[str, ...]: ...
    @property
    def tmdb_id(self) -> int | None: ...


@dataclass(frozen=True)
class Movie:
    """The contract's Movie JSON."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    tmdb_id: int | None
    imdb_id: str | None = None
    rating_count: int = 0
    mean_rating: float | None = None
    subtitle: str | None = None

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Movie:
        return cls(
            movie_id=int(row["movie_id"]),
            title=str(row["title"]),
            subtitle=_optional_str(row.get("subtitle")),
            year=_optional_int(row.get("year")),
            genres=tuple(str(g) for g in row.get("genres") or ()),
            tmdb_id=_optional_int(row.get("tmdb_id")),
            imdb_id=row.get("imdb_id"),
            rating_count=int(row.get("rating_count") or 0),
            mean_rating=_optional_float(row.get("mean_rating")),
        )


@dataclass(frozen=True)
class SimilarMovie:
    """A film from ``GET /movies/{id}/similar`` with its similarity to the seed film."""

    movie: Movie
    similarity: float


@dataclass(frozen=True)
class PersonalSimilar:
    """A film from ``GET /users/{id}/similar/{movie_id}``: similar, minus hidden films, with
    what the user already did with it."""

    movie: Movie
    similarity: float
    your_rating: float | None
    on_watchlist: bool


@dataclass(frozen=True)
class ListedMovie:
    """A film on one of the user's lists, and when it was put there."""

    movie: Movie
    added_at: str | None


@dataclass(frozen=True)
class MoviePage:
    """One page of ``GET /movies`` results, with how a misspelt query was read."""

    total: int
    limit: int
    offset: int
    items: list[Movie]
    corrected_query: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class RatingProgress:
    """The user's standing after ``POST /rate`` or a delete: the numbers onboarding shows."""

    user_id: int
    total_user_ratings: int
    ratings_needed: int
    recommendation_mode: RecommendationMode
    saved: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RatingProgress:
        return cls(
            user_id=int(body["user_id"]),
            total_user_ratings=int(body["total_user_ratings"]),
            ratings_needed=int(body["ratings_needed"]),
            recommendation_mode=_mode(body["recommendation_mode"]),
            saved=_optional_int(body.get("saved")),
        )


@dataclass(frozen=True)
class UserRating:
    """One row of the user's rating history."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    tmdb_id: int | None
    rating: float
    created_at: str | None
    updated_at: str | None
    subtitle: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """One film of ``GET /recommend``."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    tmdb_id: int | None
    predicted_rating: float
    score: float
    reason: str | None
    subtitle: str | None = None


@dataclass(frozen=True)
class IntentFilm:
    movie_id: int
    title: str
    year: int | None
    name: str


@dataclass(frozen=True)
class RequestIntent:
    """How the API read a request in plain words (``intent`` of ``GET /recommend?q=``)."""

    query: str
    genres: tuple[str, ...]
    exclude_genres: tuple[str, ...]
    year_from: int | None
    year_to: int | None
    similar_to: tuple[IntentFilm, ...]
    mood: str | None
    unparsed: tuple[str, ...]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RequestIntent:
        return cls(
            query=str(body["query"]),
            genres=tuple(str(g) for g in body["genres"]),
            exclude_genres=tuple(str(g) for g in body["exclude_genres"]),
            year_from=_optional_int(body.get("year_from")),
            year_to=_optional_int(body.get("year_to")),
            similar_to=tuple(
                IntentFilm(int(f["movie_id"]), str(f["title"]), _optional_int(f.get("year")),
                           str(f.get("name") or f["title"]))
                for f in body["similar_to"]
            ),
            mood=body.get("mood"),
            unparsed=tuple(str(w) for w in body["unparsed"]),
        )


@dataclass(frozen=True)
class RecommendationPage:
    """A recommendation list and how it was made (popularity until enough ratings)."""

    user_id: int
    source: RecommendationMode
    ratings_needed: int
    model_version: str | None
    items: list[Recommendation]
    #: With a plain-words request: how it was read, what was relaxed, why a list is empty.
    intent: RequestIntent | None = None
    relaxed: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class GenreTaste:
    """How much and how well a user rated one genre."""

    genre: str
    count: int
    average_rating: float | None


@dataclass(frozen=True)
class UserStats:
    """``GET /user/{id}/stats``: the profile page's numbers."""

    user_id: int
    total_ratings: int
    average_rating: float | None
    rating_histogram: list[tuple[float, int]]
    top_genres: list[GenreTaste]
    recommendation_type: RecommendationMode
    ratings_needed: int


@dataclass(frozen=True)
class ModelMetrics:
    """``GET /metrics``: offline evaluation of the served model against its baselines."""

    model_version: str | None
    trained_at: str | None
    data: Any
    rating: list[dict[str, Any]]
    top_n: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    #: This service's own ratings it learnt from, and from how many people (0: none).
    app_ratings: int = 0
    app_users: int = 0


@dataclass(frozen=True)
class ImportResult:
    """What ``POST /users/{id}/import`` did or, with ``dry_run``, would do."""

    source: str
    rows: int
    #: (title, year, movie_id, rating) per film found.
    matched: list[tuple[str, int | None, int, float]]
    #: (title, year, reason) per row not imported.
    unmatched: list[tuple[str, int | None, str]]
    saved: int
    unchanged: int
    dry_run: bool

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ImportResult:
        return cls(
            source=str(body["source"]),
            rows=int(body["rows"]),
            matched=[
                (str(m["title"]), _optional_int(m["year"]), int(m["movie_id"]), float(m["rating"]))
                for m in body["matched"]
            ],
            unmatched=[
                (str(u["title"]), _optional_int(u["year"]), str(u["reason"]))
                for u in body["unmatched"]
            ],
            saved=int(body["saved"]),
            unchanged=int(body.get("unchanged", 0)),
            dry_run=bool(body["dry_run"]),
        )


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

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def create_user(self) -> Credentials:
        body = self._request("POST", "/users")
        with _parsing():
            return Credentials(user_id=int(body["user_id"]), token=str(body["token"]))

    def genres(self) -> list[str]:
        """The catalogue's genres (kept for MODEL_FACTS_TTL_S: they change with the model only,
        and the For you and Search pages ask on every rerun)."""
        body = self._model_fact("/genres")
        with _parsing():
            return [str(g) for g in body["genres"]]

    def decades(self) -> list[int]:
        """The decades the catalogue has films from, newest first (1990 for the 1990s)."""
        body = self._model_fact("/decades")
        with _parsing():
            return [int(d) for d in body["decades"]]

    def movie(self, movie_id: int) -> Movie:
        body = self._request("GET", f"/movies/{int(movie_id)}")
        with _parsing():
            return Movie.from_json(body)

    def search_movies(
        self,
        query: str = "",
        *,
        genre: str | None = None,
        year: int | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> MoviePage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if query.strip():
            params["query"] = query.strip()
        if genre:
            params["genre"] = genre
        if year is not None:
            params["year"] = year
        body = self._request("GET", "/movies", params=params)
        with _parsing():
            return MoviePage(
                total=int(body["total"]),
                limit=int(body["limit"]),
                offset=int(body["offset"]),
                items=[Movie.from_json(row) for row in body["items"]],
                corrected_query=_optional_str(body.get("corrected_query")),
                suggestion=_optional_str(body.get("suggestion")),
            )

    def similar(self, movie_id: int, n: int = 10) -> list[SimilarMovie]:
        body = self._request("GET", f"/movies/{int(movie_id)}/similar", params={"n": n})
        with _parsing():
            return [
                SimilarMovie(movie=Movie.from_json(row), similarity=float(row["similarity"]))
                for row in body["similar"]
            ]

    def read_intent(self, q: str) -> RequestIntent:
        """How the API reads a request in plain words (``GET /intent``), without a list."""
        body = self._request("GET", "/intent", params={"q": q})
        with _parsing():
            return RequestIntent.from_json(body)

    def onboarding_movies(self, n: int = 20, exclude: Collection[int] = ()) -> list[Movie]:
        # A list of tuples makes requests repeat the key: exclude=1&exclude=2 (the contract).
        params: list[tuple[str, int]] = [("n", n)]
        params += [("exclude", int(movie_id)) for movie_id in sorted(set(exclude))]
        body = self._request("GET", "/onboarding/movies", params=params)
        with _parsing():
            return [Movie.from_json(row) for row in body["movies"]]

    def metrics(self) -> ModelMetrics:
        body = self._model_fact("/model/evaluation")
        with _parsing():
            return ModelMetrics(
                model_version=body.get("model_version"),
                trained_at=body.get("trained_at"),
                data=body.get("data"),
                rating=[dict(row) for row in body.get("rating") or ()],
                top_n=[dict(row) for row in body.get("top_n") or ()],
                raw=dict(body),
                app_ratings=int((body.get("app_ratings") or {}).get("n_ratings") or 0),
                app_users=int((body.get("app_ratings") or {}).get("n_users") or 0),
            )

    # -- the user's own data (bearer token) -------------------------------------------

    def rate(self, creds: Credentials, ratings: Mapping[int, float]) -> RatingProgress:
        payload = {
            "user_id": creds.user_id,
            "ratings": [
                {"movie_id": int(movie_id), "rating": float(rating)}
                for movie_id, rating in ratings.items()
            ],
        }
        body = self._request("POST", "/rate", creds=creds, json=payload)
        with _parsing():
            return RatingProgress.from_json(body)

    def restore_rating(self, creds: Credentials, row: UserRating) -> RatingProgress:
        """Put a removed rating back as it was, with its first-rated and changed dates."""
        rating: dict[str, Any] = {"movie_id": row.movie_id, "rating": float(row.rating)}
        if row.created_at:
            rating["created_at"] = row.created_at
            if row.updated_at:
                rating["updated_at"] = row.updated_at
        body = self._request(
            "POST", "/rate", creds=creds, json={"user_id": creds.user_id, "ratings": [rating]}
        )
        with _parsing():
            return RatingProgress.from_json(body)

    def delete_rating(self, creds: Credentials, movie_id: int) -> RatingProgress:
        body = self._request(
            "DELETE", f"/users/{creds.user_id}/ratings/{int(movie_id)}", creds=creds
        )
        with _parsing():
            return RatingProgress.from_json(body)

    def user_ratings(self, creds: Credentials) -> list[UserRating]:
        """All of the user's ratings, newest first, fetched a page at a time (the API serves
        at most ``RATINGS_PAGE`` per request)."""
        rows: list[dict[str, Any]] = []
        while True:
            body = self._request(
                "GET",
                f"/users/{creds.user_id}/ratings",
                creds=creds,
                params={"limit": RATINGS_PAGE, "offset": len(rows)},
                user=True,
            )
            with _parsing():
                page, total = list(body["ratings"]), int(body["total"])
            rows += page
            if not page or len(rows) >= total:
                break
        with _parsing():
            return [
                UserRating(
                    movie_id=int(row["movie_id"]),
                    title=str(row["title"]),
                    year=_optional_int(row.get("year")),
                    genres=tuple(str(g) for g in row.get("genres") or ()),
                    tmdb_id=_optional_int(row.get("tmdb_id")),
                    rating=float(row["rating"]),
                    created_at=row.get("created_at"),
                    updated_at=row.get("updated_at"),
                    subtitle=_optional_str(row.get("subtitle")),
                )
                for row in rows
            ]

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
        body = self._request("GET", "/recommend", creds=creds, params=params, user=True)
        with _parsing():
            return RecommendationPage(
                user_id=int(body["user_id"]),
                source=_mode(body["source"]),
                ratings_needed=int(body["ratings_needed"]),
                model_version=body.get("model_version"),
                items=[
                    Recommendation(
                        movie_id=int(row["movie_id"]),
                        title=str(row["title"]),
                        year=_optional_int(row.get("year")),
                        genres=tuple(str(g) for g in row.get("genres") or ()),
                        tmdb_id=_optional_int(row.get("tmdb_id")),
                        predicted_rating=float(row["predicted_rating"]),
                        score=float(row.get("score") or 0.0),
                        reason=row.get("reason"),
                        subtitle=_optional_str(row.get("subtitle")),
                    )
                    for row in body["recommendations"]
                ],
                intent=RequestIntent.from_json(body["intent"]) if body.get("intent") else None,
                relaxed=tuple(str(r["reason"]) for r in body.get("relaxed") or ()),
                note=body.get("note"),
            )

    def user_stats(self, creds: Credentials) -> UserStats:
        body = self._request("GET", f"/user/{creds.user_id}/stats", creds=creds, user=True)
        with _parsing():
            return UserStats(
                user_id=int(body["user_id"]),
                total_ratings=int(body["total_ratings"]),
                average_rating=_optional_float(body.get("average_rating")),
                rating_histogram=[
                    (float(row["rating"]), int(row["count"])) for row in body["rating_histogram"]
                ],
                top_genres=[
                    GenreTaste(
                        genre=str(row["genre"]),
                        count=int(row["count"]),
                        average_rating=_optional_float(row.get("average_rating")),
                    )
                    for row in body["top_genres"]
                ],
                recommendation_type=_mode(body["recommendation_type"]),
                ratings_needed=int(body["ratings_needed"]),
            )

    def set_signal(
        self, creds: Credentials, kind: SignalList, movie_id: int, *, on: bool
    ) -> bool:
        """Put the film on the user's ``kind`` list (``on``) or take it off; whether it is on
        it now."""
        method = "PUT" if on else "DELETE"
        body = self._request(
            method, f"/users/{creds.user_id}/{kind}/{int(movie_id)}", creds=creds
        )
        with _parsing():
            return bool(body["on_list"])

    def signal_list(self, creds: Credentials, kind: SignalList) -> list[ListedMovie]:
        """The films on one of the user's lists, most recently added first."""
        body = self._request("GET", f"/users/{creds.user_id}/{kind}", creds=creds, user=True)
        with _parsing():
            return [
                ListedMovie(movie=Movie.from_json(row), added_at=row.get("added_at"))
                for row in body["movies"]
            ]

    def similar_for_user(
        self, creds: Credentials, movie_id: int, n: int = 10
    ) -> list[PersonalSimilar]:
        body = self._request(
            "GET",
            f"/users/{creds.user_id}/similar/{int(movie_id)}",
            creds=creds,
            params={"n": n},
        )
        with _parsing():
            return [
                PersonalSimilar(
                    movie=Movie.from_json(row),
                    similarity=float(row["similarity"]),
                    your_rating=_optional_float(row.get("your_rating")),
                    on_watchlist=bool(row.get("on_watchlist")),
                )
                for row in body["similar"]
            ]

    def onboarding_for_user(
        self, creds: Credentials, n: int = 20, exclude: Collection[int] = ()
    ) -> list[Movie]:
        """The deck for this user: never a film they rated, hid or skipped."""
        params: list[tuple[str, int]] = [("n", n)]
        params += [("exclude", int(movie_id)) for movie_id in sorted(set(exclude))]
        body = self._request(
            "GET", f"/users/{creds.user_id}/onboarding", creds=creds, params=params, user=True
        )
        with _parsing():
            return [Movie.from_json(row) for row in body["movies"]]
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
        body = self._request(
            "POST",
            f"/users/{creds.user_id}/import",
            creds=creds,
            params={"source": source, "dry_run": "true" if dry_run else "false"},
            files={"file": (filename, data, "text/csv")},
            user=True,
        )
        with _parsing():
            return ImportResult.from_json(body)

    def export_ratings(self, creds: Credentials) -> bytes:
        """The CSV of ``GET /users/{id}/export``, as bytes for a download button."""
        response = self._send("GET", f"/users/{creds.user_id}/export", creds=creds)
        if not 200 <= response.status_code < 300:
            _json_or_error(response, user=True)
        return response.content

    def username(self, creds: Credentials) -> str | None:
        """The account's username, or None when it has no password yet."""
        body = self._request(
            "GET", f"/users/{creds.user_id}/credentials", creds=creds, user=True
        )
        with _parsing():
            return None if body["username"] is None else str(body["username"])

    def set_credentials(self, creds: Credentials, username: str, password: str) -> str:
        body = self._request(
            "PUT",
            f"/users/{creds.user_id}/credentials",
            creds=creds,
            json={"username": username, "password": password},
            user=True,
        )
        with _parsing():
            return str(body["username"])

    def sign_in(self, username: str, password: str) -> Credentials:
        """A new token for this device from a username and password (``POST /sessions``).

        A 401 here means the username or password is wrong, not that a session ended."""
        try:
            body = self._request(
                "POST", "/sessions", json={"username": username, "password": password}
            )
        except ApiError as err:
            if err.status != 401:
                raise
            raise ApiError(
                "That username and password don't match. Check both and try again.",
                kind="invalid",
                status=err.status,
            ) from err
        with _parsing():
            return Credentials(user_id=int(body["user_id"]), token=str(body["token"]))

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

    @contextmanager
    def _fresh_session(self) -> Iterator[requests.Session]:
        """A new session (so a new connection), pooled afterwards; the idle sessions, whose
        connections may be as stale as the one that just failed, are closed first."""
        while True:
            try:
                self._idle_sessions.get_nowait().close()
            except queue.Empty:
                break
        session = self._session_factory()
        try:
            yield session
        finally:
            self._idle_sessions.put(session)

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
                with self._fresh_session() as session:
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


@contextmanager
def _parsing() -> Iterator[None]:
    """Turn a response that does not match the contract into an :class:`ApiError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(
            "The CineMatch service sent a response this app does not understand.",
            kind="server",
        ) from exc


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _mode(value: Any) -> RecommendationMode:
    if value == "personalized":
        return "personalized"
    if value == "popularity":
        return "popularity"
    raise ValueError(f"unknown recommendation mode {value!r}")


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
