"""Request bodies of the HTTP API (the responses are ``contract.models``, shared with the UI).

The requests are strict (a rating must be a JSON number on ``ml.rules``' scale; ``true`` and
``"4.5"`` are refused, ``4`` is read as 4.0), ids are bounded 64-bit integers, and a request
carries at most ``MAX_RATINGS_PER_REQUEST`` distinct films.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from contract.models import USERNAME_PATTERN, MovieOut, RecommendationMode, RecommendationOut
from ml.rules import EARLIEST_RATING_TIME, RATING_MAX, RATING_MIN, RATING_STEP, is_personal
from ml.serving.recommender import Movie, Recommendation
from ml.text.titles import parse_title

#: Largest id SQLite's INTEGER and PostgreSQL's BIGINT hold; larger ids are a 422, not a 500.
MAX_ID = 2**63 - 1
MAX_RATINGS_PER_REQUEST = 200


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


def _iso_text(value: Any) -> Any:
    """Refuse a number (or a string of one) where an ISO 8601 time is due: pydantic would
    read it as seconds since 1970, which the schema does not promise."""
    if isinstance(value, int | float) or (
            isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", value)):
        raise ValueError("must be an ISO 8601 time such as 2024-03-01T12:00:00Z")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_text)]


class RatingIn(BaseModel):
    movie_id: MovieId
    rating: RatingValue
    created_at: IsoTime | None = Field(
        default=None,
        description="When the film was first rated, to put a removed rating back as it was "
        "(Undo); a new rating takes it, an existing one keeps its own. Default: now. "
        "Timezone-aware, from 1970 on, not in the future.",
    )
    updated_at: IsoTime | None = Field(
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
            if value is not None and value < EARLIEST_RATING_TIME:
                raise ValueError(f"{name} must be from {EARLIEST_RATING_TIME.year} on")
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


#: The films and ratings of /docs' example batch.
_EXAMPLE = ((2571, 5), (4993, 4.5), (2959, 4), (356, 3.5), (1, 4))


class RateRequest(BaseModel):
    """One batch of ratings, written in one transaction (all or nothing)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": 1, "ratings": [{"movie_id": m, "rating": r} for m, r in _EXAMPLE]}
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


def movie_out(movie: Movie) -> MovieOut:
    """A catalogue film as the API answers with it."""
    return MovieOut(
        **catalogue_fields(movie),
        imdb_id=movie.imdb_id,
        rating_count=movie.rating_count,
        mean_rating=movie.mean_rating,
    )


def recommendation_out(movie: Movie, item: Recommendation) -> RecommendationOut:
    """One recommended film, with what the model says about it."""
    return RecommendationOut(
        **catalogue_fields(movie),
        predicted_rating=item.predicted_rating,
        score=item.score,
        reason=item.reason,
    )


def catalogue_fields(movie: Movie) -> dict[str, Any]:
    """What every film in a response says about itself (``ml.text.titles`` reads the title)."""
    parsed = parse_title(movie.title)
    return {
        "movie_id": movie.movie_id,
        "title": parsed.title,
        "subtitle": parsed.subtitle,
        "year": movie.year,
        "genres": list(movie.genres),
        "tmdb_id": movie.tmdb_id,
    }


MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


def _encodable(value: Any) -> Any:
    """Refuse text with lone surrogates (JSON's ``\\ud800``): no UTF-8 byte holds them, so
    neither the password hash nor the database could."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


Password = Annotated[SecretStr, AfterValidator(_encodable)]


_SIGN_IN_EXAMPLE = ConfigDict(
    json_schema_extra={"examples": [{"username": "ana.film", "password": "a long passphrase"}]}
)


class CredentialsIn(BaseModel):
    """A username and password for signing in on another device (the password is never
    echoed or logged)."""

    model_config = _SIGN_IN_EXAMPLE

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3–32 letters, digits, '.', '_' or '-'; unique ignoring case.",
        examples=["ana.film"],
    )
    password: Password = Field(
        description=f"At least {MIN_PASSWORD_CHARS} characters.", examples=["a long passphrase"]
    )


class SignInIn(BaseModel):
    model_config = _SIGN_IN_EXAMPLE

    username: Annotated[str, AfterValidator(_encodable)] = Field(
        max_length=64, examples=["ana.film"])
    password: Password = Field(examples=["a long passphrase"])
