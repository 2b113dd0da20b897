"""Rating films: add or change a batch, list them, take one back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api import auth
from api.deps import ServicesDep
from api.errors import DATABASE_BUSY
from api.limits import rating_count_within_cap
from api.params import BAD_USER_ID, MovieIdPath, UserIdPath
from api.responses import TOO_MANY_RATINGS, TOO_MANY_WRITES, UNREADABLE_BODY, auth_responses
from api.schemas import RateRequest, catalogue_fields, recommendation_mode
from contract.models import RateOut, RatingDeleted, UserRatingOut, UserRatingsOut
from db import repository
from db.session import write_transaction
from ml.rules import ratings_needed
from ml.serving.recommender import Recommender

router = APIRouter(tags=["ratings"])


@router.post(
    "/rate",
    summary="Rate films (add or change, all or nothing)",
    responses=auth_responses(
        {
            400: UNREADABLE_BODY,
            404: "unknown movie ids: [999999, 999998]",
            409: TOO_MANY_RATINGS,
            413: "Request body too large: the limit is 65536 bytes.",
            422: "ratings[0].rating: Input should be a valid number (got true)",
            429: TOO_MANY_WRITES,
            503: DATABASE_BUSY,
        }
    ),
)
def rate(body: RateRequest, token: auth.BearerToken, services: ServicesDep) -> RateOut:
    """Save 1–200 ratings for the user in one transaction. Re-rating a film replaces the value
    (its first-rated time is kept). Each rating is a JSON number on the scale (`4` or `4.5`,
    not `"4.5"` or `true`); a film may appear once per request. If any film is unknown the
    whole batch is refused with 404 listing them, and nothing is written. A user may make
    about one write a second (bursts of a few dozen); faster is refused with 429 and
    `Retry-After`. A user holds at most `CINEMATCH_MAX_RATINGS_PER_USER` ratings (default
    20,000): a batch that would go over is refused whole with 409. A rating may carry its
    `created_at` (and `updated_at`) to be put back as it was after a removal (Undo). A film
    rated leaves the user's watchlist."""
    user_id, ratings = body.user_id, body.as_mapping()
    unknown = services.recommender.unknown_movie_ids(ratings)
    with services.session_factory() as session:
        auth.authorize(session, user_id, token)
        if unknown:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown movie ids: {sorted(unknown)}")
        # One transaction: a batch refused by the limit or the cap writes nothing, costs nothing.
        with write_transaction(session):
            services.write_limiter.check(session, user_id, f"for user {user_id}")
            dated = body.dated()
            undated = {m: r for m, r in ratings.items() if m not in {d[0] for d in dated}}
            repository.upsert_ratings(session, user_id, undated)
            repository.restore_ratings(session, user_id, dated)
            total = rating_count_within_cap(session, user_id, services.settings)
    services.user_cache.invalidate(user_id)
    return RateOut(
        user_id=body.user_id,
        saved=len(ratings),
        total_user_ratings=total,
        ratings_needed=ratings_needed(total),
        recommendation_mode=recommendation_mode(total),
    )


#: Largest page of GET /users/{id}/ratings (about 250 bytes a rating).
MAX_RATINGS_PAGE = 500


@router.get(
    "/users/{user_id}/ratings",
    summary="A user's ratings, newest first, a page at a time",
    responses=auth_responses({422: BAD_USER_ID}),
)
def list_ratings(
    user_id: UserIdPath,
    token: auth.BearerToken,
    services: ServicesDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RATINGS_PAGE, description="Ratings per page.", examples=[100])
    ] = 100,
    offset: Annotated[
        int, Query(ge=0, le=10**9, description="Ratings to skip.", examples=[0])
    ] = 0,
) -> UserRatingsOut:
    """The films the user rated, most recently rated or changed first, with their details:
    `limit` of them (at most 500) from `offset`. `total` is how many the user has; the next
    page starts at `offset + count` while that is below `total`."""
    with services.session_factory() as session:
        auth.authorize(session, user_id, token)
        total = repository.count_user_ratings(session, user_id)
        stored = repository.user_ratings_newest_first(
            session, user_id, limit=limit, offset=offset
        )
    items = [_rating_out(rating, services.recommender) for rating in stored]
    return UserRatingsOut(
        user_id=user_id, count=len(items), total=total, limit=limit, offset=offset, ratings=items
    )


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
def delete_rating(
    user_id: UserIdPath, movie_id: MovieIdPath, token: auth.BearerToken, services: ServicesDep
) -> RatingDeleted:
    """Take back a rating. The answer says how many remain and which list the user now gets
    (dropping below the threshold switches back to popularity)."""
    with services.session_factory() as session:
        auth.authorize(session, user_id, token)
        with write_transaction(session):
            services.write_limiter.check(session, user_id, f"for user {user_id}")
            if not repository.delete_rating(session, user_id, movie_id):
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND, f"user {user_id} has not rated movie {movie_id}"
                )
            total = repository.count_user_ratings(session, user_id)
    services.user_cache.invalidate(user_id)
    return RatingDeleted(
        user_id=user_id,
        movie_id=movie_id,
        total_user_ratings=total,
        ratings_needed=ratings_needed(total),
        recommendation_mode=recommendation_mode(total),
    )


def _rating_out(stored: repository.StoredRating, recommender: Recommender) -> UserRatingOut:
    try:
        film = catalogue_fields(recommender.movie(stored.movie_id))
    except KeyError:  # rated under an older catalogue: still the user's rating, so still listed
        film = dict(movie_id=stored.movie_id, title=f"Movie {stored.movie_id}", subtitle=None,
                    year=None, genres=[], tmdb_id=None)
    return UserRatingOut(
        **film, rating=stored.rating, created_at=stored.created_at, updated_at=stored.updated_at
    )
