"""The HTTP API's response bodies: the one definition both the API and the UI read.

The API (``api.schemas``) declares its answers with these models, so ``/openapi.json`` is
generated from them; the UI (``ui.api_client``) validates every answer it receives with the same
models. This module imports pydantic only: no web framework and no ``ml``, so the UI can depend
on it without depending on the server. Request bodies, whose validation uses ``ml.rules``, stay
in ``api.schemas``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RecommendationMode = Literal["popularity", "personalized"]
#: The user's lists of films besides ratings: "Not interested", "Want to watch" and the
#: onboarding deck's "Haven't seen it".
SignalList = Literal["hidden", "watchlist", "skipped"]
#: Usernames: what a person can type on a phone and read back; compared case-insensitively.
#: The API validates against it, and the UI checks a form before sending it.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"


class ErrorOut(BaseModel):
    """Every error the API returns has this shape."""

    detail: str = Field(examples=["user 7 not found"])


class ValidationErrorOut(ErrorOut):
    """A 422: ``detail`` reads as a sentence; ``errors`` keeps the per-field list."""

    errors: list[dict[str, Any]] = Field(default_factory=list)


# --- users and ratings ----------------------------------------------------------------------


class UserCreated(BaseModel):
    user_id: int = Field(examples=[1])
    token: str = Field(
        description="Bearer token for this user's routes. Shown once: it is stored only hashed.",
        examples=["Vq3c0m1yqg5m1lq2rK1Lr8W0bI0dSx3Jp0vKZQ1nN2E"],
    )


class RateOut(BaseModel):
    user_id: int
    saved: int = Field(description="Ratings written by this request (new or updated).")
    total_user_ratings: int
    ratings_needed: int = Field(description="More ratings needed before the list is personal.")
    recommendation_mode: RecommendationMode


class RatingDeleted(BaseModel):
    user_id: int
    movie_id: int
    total_user_ratings: int
    ratings_needed: int
    recommendation_mode: RecommendationMode


class FilmOut(BaseModel):
    """What every film-shaped row carries: enough for a poster card."""

    movie_id: int = Field(examples=[2571])
    title: str = Field(
        description="The title as people write it (articles first, alternatives moved to "
        "`subtitle`).", examples=["Amélie"])
    subtitle: str | None = Field(
        default=None, examples=["Le Fabuleux destin d'Amélie Poulain"],
        description="The film's alternative title, e.g. its original one; null when it has none.")
    year: int | None = Field(examples=[1999])
    genres: list[str] = Field(examples=[["Action", "Sci-Fi", "Thriller"]])
    tmdb_id: int | None = Field(examples=[603])


class UserRatingOut(FilmOut):
    rating: float
    created_at: datetime
    updated_at: datetime


class UserRatingsOut(BaseModel):
    """One page of a user's ratings: ``count`` of ``total``, from ``offset``."""

    user_id: int
    count: int
    total: int
    limit: int
    offset: int
    ratings: list[UserRatingOut]


class HistogramBin(BaseModel):
    rating: float
    count: int


class GenreStat(BaseModel):
    genre: str
    count: int
    average_rating: float


class StatsOut(BaseModel):
    user_id: int
    total_ratings: int
    average_rating: float | None
    rating_histogram: list[HistogramBin]
    top_genres: list[GenreStat]
    recommendation_type: RecommendationMode
    ratings_needed: int


# --- movies ----------------------------------------------------------------------------------


class MovieOut(FilmOut):
    imdb_id: str | None = Field(examples=["tt0133093"])
    rating_count: int = Field(examples=[2590])
    mean_rating: float | None = Field(examples=[4.32])


class MoviePage(BaseModel):
    total: int = Field(description="Matches in all, before limit/offset.")
    limit: int
    offset: int
    items: list[MovieOut]
    corrected_query: str | None = Field(
        default=None,
        description="How the query was read when typos had to be corrected "
        "(`godfater` → `godfather`); null when it matched as typed.",
    )
    suggestion: str | None = Field(
        default=None,
        description="When nothing matched: the closest title, for a \"did you mean\".",
    )


class SimilarMovieOut(MovieOut):
    similarity: float = Field(examples=[0.83])


class SimilarOut(BaseModel):
    movie_id: int
    count: int
    similar: list[SimilarMovieOut]


class GenresOut(BaseModel):
    genres: list[str] = Field(examples=[["Action", "Comedy", "Drama"]])


class DecadesOut(BaseModel):
    decades: list[int] = Field(
        description="First year of each decade the catalogue has films from, newest first.",
        examples=[[2010, 2000, 1990]],
    )


class OnboardingOut(BaseModel):
    count: int
    movies: list[MovieOut]


# --- recommendations, health, metrics --------------------------------------------------------


class RecommendationOut(FilmOut):
    predicted_rating: float = Field(description="Clipped to 0.5–5.0.")
    score: float = Field(description="Ranking score (higher is better); not a rating.")
    reason: str | None = Field(examples=["Because you loved The Matrix (1999)"])


class RecommendationsOut(BaseModel):
    user_id: int
    source: RecommendationMode
    ratings_needed: int
    count: int
    model_version: str
    recommendations: list[RecommendationOut]
    intent: IntentOut | None = Field(
        default=None, description="How `q` was read (present only when `q` was sent).")
    relaxed: list[RelaxationOut] = Field(
        default_factory=list,
        description="Constraints of `q` loosened, in the order tried, because too few films "
        "matched them.")
    note: str | None = Field(
        default=None, description="Why the list is empty or ignores `q`, when it does.")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    model_version: str
    n_movies: int
    n_users: int | None
    n_ratings: int | None
    #: ``busy``: another process holds the write lock right now (a backup); still serving.
    database: Literal["ok", "busy", "read-only", "full", "gone", "unreachable"]


class AppRatingsOut(BaseModel):
    """How many of this service's own ratings the model learnt from (its manifest's
    ``app_ratings``); all zero for a model trained on MovieLens alone, like the shipped one."""

    n_ratings: int = Field(0, description="Ratings given in this service that it trained on.")
    n_users: int = Field(0, description="People of this service whose ratings it trained on.")
    read_at: str | None = Field(
        None, description="When those ratings were read (ISO 8601, UTC); null when none.")


class MetricsOut(BaseModel):
    """The trained model's offline evaluation, as recorded in its manifest."""

    model_config = ConfigDict(extra="allow")

    model_version: str
    trained_at: str | None = None
    app_ratings: AppRatingsOut = Field(default_factory=AppRatingsOut)
    data: Any = None
    rating: list[dict[str, Any]] = Field(default_factory=list)
    top_n: list[dict[str, Any]] = Field(default_factory=list)


class SignalOut(BaseModel):
    """The answer to putting a film on, or taking it off, one of the user's lists."""

    user_id: int
    movie_id: int
    list: SignalList = Field(examples=["watchlist"])
    on_list: bool = Field(description="Whether the film is on the list now.")
    changed: bool = Field(description="False when it already was (or was not) there.")


class ListedMovieOut(MovieOut):
    added_at: datetime


class SignalListOut(BaseModel):
    user_id: int
    list: SignalList
    count: int
    movies: builtins.list[ListedMovieOut] = Field(description="Most recently added first.")


class PersonalSimilarOut(SimilarMovieOut):
    your_rating: float | None = Field(description="The user's rating of this film, if any.")
    on_watchlist: bool


class PersonalSimilarListOut(BaseModel):
    user_id: int
    movie_id: int
    count: int
    similar: list[PersonalSimilarOut]


class IntentFilmOut(BaseModel):
    movie_id: int = Field(examples=[1214])
    title: str = Field(examples=["Alien"])
    year: int | None = Field(examples=[1979])
    name: str = Field(
        examples=["Alien"],
        description="The title as people write it (`ml.text.titles`: no alternative titles), "
        "which reads back as this film in a request.")


class IntentOut(BaseModel):
    """A request in plain words, read as constraints (``ml/text/intent.py``)."""

    query: str = Field(examples=["something scary from the 90s, like Alien"])
    genres: list[str] = Field(
        examples=[["Horror"]], description="Asked for together (a film has all of them).")
    exclude_genres: list[str] = Field(examples=[["Comedy"]])
    year_from: int | None = Field(examples=[1990])
    year_to: int | None = Field(examples=[1999])
    similar_to: list[IntentFilmOut] = Field(description="Reference films the list leans towards.")
    mood: str | None = Field(examples=["scary"])
    unparsed: list[str] = Field(
        examples=[["rainy sunday"]], description="Words that could not be used.")
    parser: Literal["offline", "llm"] = Field(
        description="Which reader answered: the LLM when configured and valid, else offline.")
    note: str | None = Field(
        default=None,
        description="Why the offline parser answered although an LLM is configured: its "
        "per-address limit or its budget a minute was reached.",
        examples=[None])


class RelaxationOut(BaseModel):
    step: Literal["genres_any", "years_widened", "years", "genres"]
    reason: str = Field(examples=["Only 2 films matched 1990–1991: widened by 10 years each side"])


# --- accounts: import, export, sign-in ---------------------------------------------------------


class ImportedRating(BaseModel):
    title: str
    year: int | None
    movie_id: int
    rating: float


class NotImported(BaseModel):
    title: str
    year: int | None
    reason: str = Field(examples=["not in the catalogue"])


class ImportOut(BaseModel):
    """What an import did (or, with ``dry_run``, would do)."""

    source: Literal["letterboxd", "imdb", "movielens", "cinematch"]
    rows: int = Field(description="Data rows read from the file.")
    matched: list[ImportedRating] = Field(description="One entry per film found.")
    unmatched: list[NotImported]
    saved: int = Field(
        description="Ratings written (new, or newer than the stored one); with dry_run, "
        "how many would be."
    )
    unchanged: int = Field(
        description="Matched films already rated at least as recently (kept as stored)."
    )
    listed: int = Field(
        default=0,
        description="Films of a CineMatch export's watchlist and hidden list put back on them "
        "(not there already); with dry_run, how many would be.",
    )
    dry_run: bool


class CredentialsOut(BaseModel):
    user_id: int
    username: str | None = Field(description="Null when no password was set.")


class SessionOut(BaseModel):
    user_id: int
    token: str = Field(description="A new bearer token for this device (shown only once).")
