"""Request and response bodies of the HTTP API (see docs/CONTRACT.md).

Inputs are strict: a rating must be a JSON number on the product's scale (``true`` and
``"4.5"`` are refused, ``4`` is read as 4.0), ids are bounded 64-bit integers, and a request
carries at most ``MAX_RATINGS_PER_REQUEST`` distinct films. The scale itself comes from
``ml.rules`` so that the API, the trainer and the UI cannot disagree about it.
"""

from __future__ import annotations

import builtins
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from ml.recommender import Movie, Recommendation
from ml.rules import RATING_MAX, RATING_MIN, RATING_STEP, is_personal
from ml.titles import parse_title

#: Largest id SQLite's INTEGER and PostgreSQL's BIGINT hold; larger ids are a 422, not a 500.
MAX_ID = 2**63 - 1
MAX_RATINGS_PER_REQUEST = 200

RecommendationMode = Literal["popularity", "personalized"]


def recommendation_mode(n_ratings: int) -> RecommendationMode:
    """Which list a user with ``n_ratings`` ratings gets (the threshold lives in ml.rules)."""
    return "personalized" if is_personal(n_ratings) else "popularity"


def _on_rating_step(value: float) -> float:
    """The scale's own value for ``value`` (4.5000000001 is stored as 4.5), or an error."""
    steps = (value - RATING_MIN) / RATING_STEP
    if not math.isclose(steps, round(steps), abs_tol=1e-9):
        raise ValueError(
            f"rating must be a multiple of {RATING_STEP} between {RATING_MIN} and {RATING_MAX}"
        )
    return RATING_MIN + round(steps) * RATING_STEP


UserId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID, examples=[1])]
MovieId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID, examples=[2571])]
RatingValue = Annotated[
    float,
    Field(
        strict=True,
        allow_inf_nan=False,
        ge=RATING_MIN,
        le=RATING_MAX,
        description=f"{RATING_MIN} to {RATING_MAX} in steps of {RATING_STEP}.",
        examples=[4.5],
    ),
    AfterValidator(_on_rating_step),
]


_TITLE_DOC = "The title as people write it (articles first, alternatives moved to `subtitle`)."
_SUBTITLE_DOC = "The film's alternative title, e.g. its original one; null when it has none."


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


class RatingIn(BaseModel):
    movie_id: MovieId
    rating: RatingValue
    created_at: datetime | None = Field(
        default=None,
        description="When the film was first rated, to put a removed rating back as it was "
        "(Undo); a new rating takes it, an existing one keeps its own. Default: now. "
        "Timezone-aware, not in the future.",
    )
    updated_at: datetime | None = Field(
        default=None,
        description="When the rating was last changed (with `created_at`; default: "
        "`created_at`, else now). Not before `created_at`, not in the future.",
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> RatingIn:
        latest = datetime.now(UTC) + CLOCK_SKEW
        for name in ("created_at", "updated_at"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value > latest):
                raise ValueError(f"{name} must be a timezone-aware time that has passed")
        if self.updated_at is not None and self.created_at is None:
            raise ValueError("updated_at needs created_at")
        if self.created_at and self.updated_at and self.updated_at < self.created_at:
            raise ValueError("updated_at must not be before created_at")
        return self

    def dated(self) -> tuple[datetime, datetime] | None:
        """(created_at, updated_at) when the rating carries its dates, else None."""
        if self.created_at is None:
            return None
        return self.created_at, self.updated_at or self.created_at


#: How far ahead of the server's clock a client's ``created_at`` may be (clocks drift).
CLOCK_SKEW = timedelta(minutes=5)


class RateRequest(BaseModel):
    """One batch of ratings, written in one transaction (all or nothing)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 1,
                    "ratings": [
                        {"movie_id": 2571, "rating": 5},
                        {"movie_id": 4993, "rating": 4.5},
                        {"movie_id": 2959, "rating": 4},
                        {"movie_id": 356, "rating": 3.5},
                        {"movie_id": 1, "rating": 4},
                    ],
                }
            ]
        }
    )

    user_id: UserId
    ratings: list[RatingIn] = Field(min_length=1, max_length=MAX_RATINGS_PER_REQUEST)

    @model_validator(mode="after")
    def _distinct_movies(self) -> RateRequest:
        counts = Counter(r.movie_id for r in self.ratings)
        duplicates = sorted(movie_id for movie_id, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"each movie_id may appear once per request; repeated: {duplicates}")
        return self

    def as_mapping(self) -> dict[int, float]:
        return {r.movie_id: float(r.rating) for r in self.ratings}

    def dated(self) -> list[tuple[int, float, datetime, datetime]]:
        """(movie_id, rating, created_at, updated_at) of the ratings that carry their dates."""
        return [(r.movie_id, float(r.rating), *d) for r in self.ratings if (d := r.dated())]


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


class UserRatingOut(BaseModel):
    movie_id: int
    title: str = Field(description=_TITLE_DOC)
    subtitle: str | None = Field(default=None, description=_SUBTITLE_DOC)
    year: int | None
    genres: list[str]
    tmdb_id: int | None
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


class MovieOut(BaseModel):
    movie_id: int = Field(examples=[2571])
    title: str = Field(description=_TITLE_DOC, examples=["Amélie"])
    subtitle: str | None = Field(
        default=None, description=_SUBTITLE_DOC,
        examples=["Le Fabuleux destin d'Amélie Poulain"],
    )
    year: int | None = Field(examples=[1999])
    genres: list[str] = Field(examples=[["Action", "Sci-Fi", "Thriller"]])
    tmdb_id: int | None = Field(examples=[603])
    imdb_id: str | None = Field(examples=["tt0133093"])
    rating_count: int = Field(examples=[2590])
    mean_rating: float | None = Field(examples=[4.32])

    @classmethod
    def of(cls, movie: Movie) -> MovieOut:
        return cls(
            **_catalogue_fields(movie),
            imdb_id=movie.imdb_id,
            rating_count=movie.rating_count,
            mean_rating=movie.mean_rating,
        )


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


class RecommendationOut(BaseModel):
    movie_id: int
    title: str = Field(description=_TITLE_DOC)
    subtitle: str | None = Field(default=None, description=_SUBTITLE_DOC)
    year: int | None
    genres: list[str]
    tmdb_id: int | None
    predicted_rating: float = Field(description=f"Clipped to {RATING_MIN}–{RATING_MAX}.")
    score: float = Field(description="Ranking score (higher is better); not a rating.")
    reason: str | None = Field(examples=["Because you loved The Matrix (1999)"])

    @classmethod
    def of(cls, movie: Movie, item: Recommendation) -> RecommendationOut:
        return cls(
            **_catalogue_fields(movie),
            predicted_rating=item.predicted_rating,
            score=item.score,
            reason=item.reason,
        )


def _catalogue_fields(movie: Movie) -> dict[str, Any]:
    """What every film in a response says about itself (``ml.titles`` reads the title)."""
    parsed = parse_title(movie.title)
    return {
        "movie_id": movie.movie_id,
        "title": parsed.title,
        "subtitle": parsed.subtitle,
        "year": movie.year,
        "genres": list(movie.genres),
        "tmdb_id": movie.tmdb_id,
    }


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


# --- signals: hidden, watchlist, skipped -----------------------------------------------------

SignalList = Literal["hidden", "watchlist", "skipped"]


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
        description="The title as people write it (`ml.titles`: no alternative titles), "
        "which reads back as this film in a request.")


class IntentOut(BaseModel):
    """A request in plain words, read as constraints (``ml/intent.py``)."""

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

#: Usernames: what a person can type on a phone and read back; compared case-insensitively.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


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
    dry_run: bool


class CredentialsIn(BaseModel):
    """A username and password for signing in on another device (the password is never
    echoed or logged)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "ana.film", "password": "a long passphrase"}]
        }
    )

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3–32 letters, digits, '.', '_' or '-'; unique ignoring case.",
        examples=["ana.film"],
    )
    password: SecretStr = Field(
        description=f"At least {MIN_PASSWORD_CHARS} characters.", examples=["a long passphrase"]
    )


class CredentialsOut(BaseModel):
    user_id: int
    username: str | None = Field(description="Null when no password was set.")


class SignInIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "ana.film", "password": "a long passphrase"}]
        }
    )

    username: str = Field(max_length=64, examples=["ana.film"])
    password: SecretStr = Field(examples=["a long passphrase"])


class SessionOut(BaseModel):
    user_id: int
    token: str = Field(description="A new bearer token for this device (shown only once).")
