"""Rating films: add or change a batch, list them, take one back."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api import auth
from api.deps import RecommenderDep, SessionDep, UserCacheDep, WriteLimiterDep
from api.errors import DATABASE_BUSY
from api.params import BAD_USER_ID, MovieIdPath, UserIdPath
from api.responses import TOO_MANY_WRITES, UNREADABLE_BODY, auth_responses
from api.schemas import (
    RateOut,
    RateRequest,
    RatingDeleted,
    UserRatingOut,
    UserRatingsOut,
    recommendation_mode,
)
from db import repository
from db.session import write_transaction_async
from ml.recommender import Recommender
from ml.rules import ratings_needed
from ml.titles import parse_title

router = APIRouter(tags=["ratings"])


@router.post(
    "/rate",
    summary="Rate films (add or change, all or nothing)",
    responses=auth_responses(
        {
            400: UNREADABLE_BODY,
            404: "unknown movie ids: [999999, 999998]",
            413: "Request body too large: the limit is 65536 bytes.",
            422: "ratings[0].rating: Input should be a valid number (got true)",
            429: TOO_MANY_WRITES,
            503: DATABASE_BUSY,
        }
    ),
)
async def rate(
    body: RateRequest,
    token: auth.BearerToken,
    session: SessionDep,
    recommender: RecommenderDep,
    user_cache: UserCacheDep,
    limiter: WriteLimiterDep,
) -> RateOut:
    """Save 1–200 ratings for the user in one transaction. Re-rating a film replaces the value
    (its first-rated time is kept). Each rating is a JSON number on the scale (`4` or `4.5`,
    not `"4.5"` or `true`); a film may appear once per request. If any film is unknown the
    whole batch is refused with 404 listing them, and nothing is written. A user may make
    about one write a second (bursts of a few dozen); faster is refused with 429 and
    `Retry-After`."""
    auth.authorize(session, body.user_id, token)
    ratings = body.as_mapping()
    unknown = recommender.unknown_movie_ids(ratings)
    if unknown:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"unknown movie ids: {sorted(unknown)}",
        )
    limiter.check(body.user_id)  # after the checks: a refused batch writes nothing, costs nothing
    async with write_transaction_async(session):
        repository.upsert_ratings(session, body.user_id, ratings)
        total = repository.count_user_ratings(session, body.user_id)
    user_cache.invalidate(body.user_id)
    return RateOut(
        user_id=body.user_id,
        saved=len(ratings),
        total_user_ratings=total,
        ratings_needed=ratings_needed(total),
        recommendation_mode=recommendation_mode(total),
    )


@router.get(
    "/users/{user_id}/ratings",
    summary="A user's ratings, newest first",
    responses=auth_responses({422: BAD_USER_ID}),
)
async def list_ratings(
    user_id: UserIdPath, token: auth.BearerToken, session: SessionDep, recommender: RecommenderDep
) -> UserRatingsOut:
    """Every film the user rated, most recently rated or changed first, with its details."""
    auth.authorize(session, user_id, token)
    stored = repository.user_ratings_newest_first(session, user_id)
    items = [_rating_out(rating, recommender) for rating in stored]
    return UserRatingsOut(user_id=user_id, count=len(items), ratings=items)


@router.delete(
    "/users/{user_id}/ratings/{movie_id}",
    summary="Remove one rating",
    responses=auth_responses(
        {
            404: "user 1 has not rated movie 2571",
            422: BAD_USER_ID,
            429: TOO_MANY_WRITES,
            503: DATABASE_BUSY,
        }
    ),
)
async def delete_rating(
    user_id: UserIdPath,
    movie_id: MovieIdPath,
    token: auth.BearerToken,
    session: SessionDep,
    user_cache: UserCacheDep,
    limiter: WriteLimiterDep,
) -> RatingDeleted:
    """Take back a rating. The answer says how many remain and which list the user now gets
    (dropping below the threshold switches back to popularity)."""
    auth.authorize(session, user_id, token)
    limiter.check(user_id)
    async with write_transaction_async(session):
        if not repository.delete_rating(session, user_id, movie_id):
            raise HTTPException(
                status_code=status.HTTP_404_NOT_FOUND,
                detail=f"user {user_id} has not rated movie {movie_id}",
            )
        total = repository.count_user_ratings(session, user_id)
    user_cache.invalidate(user_id)
    return RatingDeleted(
        user_id=user_id,
        movie_id=movie_id,
        total_user_ratings=total,
        ratings_needed=ratings_needed(total),
        recommendation_mode=recommendation_mode(total),
    )


def _rating_out(stored: repository.StoredRating, recommender: Recommender) -> UserRatingOut:
    subtitle = None
    try:
        movie = recommender.movie(stored.movie_id)
        year, genres, tmdb_id = movie.year, list(movie.genres), movie.tmdb_id
        parsed = parse_title(movie.title)
        title, subtitle = parsed.title, parsed.subtitle
    except KeyError:  # rated under an older catalogue: still the user's rating, so still listed
        title, year, genres, tmdb_id = f"Movie {stored.movie_id}", None, [], None
    return UserRatingOut(
        movie_id=stored.movie_id,
        title=title,
        subtitle=subtitle,
        year=year,
        genres=genres,
        tmdb_id=tmdb_id,
        rating=stored.rating,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )
