"""Sign-up and a user's rating statistics."""

from __future__ import annotations

from collections import Counter, defaultdict

from fastapi import APIRouter, Depends, Request, status

from api import auth
from api.deps import ServicesDep
from api.headers import no_store
from api.params import BAD_USER_ID, UserIdPath
from api.responses import TOO_MANY_SIGNUPS, auth_responses, error_responses
from api.schemas import recommendation_mode
from contract.models import GenreStat, HistogramBin, StatsOut, UserCreated
from db import repository
from db.session import write_transaction
from ml.rules import RATING_VALUES, ratings_needed
from ml.serving.recommender import Recommender

router = APIRouter(tags=["users"])


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user and get their token",
    response_description="The new user's id and bearer token (shown only this once).",
    # The token is a password: no cache on the way may keep a copy of this answer.
    dependencies=[Depends(no_store)],
    responses=error_responses(
        {
            429: TOO_MANY_SIGNUPS,
            503: "The database is unavailable right now; please retry shortly.",
        }
    ),
)
def create_user(request: Request, services: ServicesDep) -> UserCreated:
    """Create an anonymous user. Keep the returned `token`: click **Authorize** in /docs and
    paste it to call this user's routes. The server stores only its SHA-256. One address may
    sign up a household's worth of users (about 20 an hour); a flood is refused with 429 and
    `Retry-After`."""
    token = auth.new_token()
    client = request.client.host if request.client else "unknown"
    with services.session_factory() as session, write_transaction(session):
        services.signup_limiter.check(session, client, f"from {client}")
        user_id = repository.create_user(session, auth.hash_token(token))
    return UserCreated(user_id=user_id, token=token)


@router.get(
    "/user/{user_id}/stats",
    summary="A user's rating statistics",
    responses=auth_responses({422: BAD_USER_ID}),
)
def user_stats(
    user_id: UserIdPath, token: auth.BearerToken, services: ServicesDep
) -> StatsOut:
    """How many films the user rated, their average, a histogram over the whole rating scale,
    their most-rated genres, and how far they are from a personal list."""
    with services.session_factory() as session:
        auth.authorize(session, user_id, token)
        ratings = repository.user_ratings(session, user_id)
    return _stats(user_id, ratings, services.recommender)


def _stats(user_id: int, ratings: dict[int, float], recommender: Recommender) -> StatsOut:
    histogram = dict.fromkeys(RATING_VALUES, 0)
    lowest, highest = RATING_VALUES[0], RATING_VALUES[-1]
    step = RATING_VALUES[1] - RATING_VALUES[0]
    for value, count in Counter(ratings.values()).items():
        # Off-scale values (stored before the API snapped them) count in their nearest step.
        nearest = min(max(lowest + round((value - lowest) / step) * step, lowest), highest)
        histogram[min(RATING_VALUES, key=lambda v: abs(v - nearest))] += count
    genre_count: dict[str, int] = defaultdict(int)
    genre_sum: dict[str, float] = defaultdict(float)
    for movie_id, value in ratings.items():
        try:
            genres = recommender.movie(movie_id).genres
        except KeyError:  # rated under an older catalogue; it still counts in the totals
            continue
        for genre in genres:
            genre_count[genre] += 1
            genre_sum[genre] += value
    top_genres = sorted(
        (
            GenreStat(genre=g, count=c, average_rating=round(genre_sum[g] / c, 2))
            for g, c in genre_count.items()
        ),
        key=lambda stat: (-stat.count, -stat.average_rating, stat.genre),
    )
    total = len(ratings)
    return StatsOut(
        user_id=user_id,
        total_ratings=total,
        average_rating=round(sum(ratings.values()) / total, 2) if total else None,
        rating_histogram=[HistogramBin(rating=r, count=c) for r, c in sorted(histogram.items())],
        top_genres=top_genres,
        recommendation_type=recommendation_mode(total),
        ratings_needed=ratings_needed(total),
    )
