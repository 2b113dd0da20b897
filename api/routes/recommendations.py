"""The product's answer: a top-N list for one user, popular or personal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api import auth
from api.deps import MovieIndexDep, ProfilesDep, RecommenderDep, SessionDep
from api.params import GenreQuery, UserIdQuery, canonical_genre
from api.profiles import ProfileCache
from api.responses import auth_responses
from api.schemas import RecommendationOut, RecommendationsOut
from db import repository
from ml.recommender import Recommender, UserProfile
from ml.rules import is_personal, ratings_needed

router = APIRouter(tags=["recommendations"])

YearQuery = Annotated[int | None, Query(ge=1, le=9999, examples=[1990])]


@router.get(
    "/recommend",
    summary="Recommendations for a user",
    responses=auth_responses(
        {422: "query parameter n: Input should be less than or equal to 100 (got 500)"}
    ),
)
async def recommend(
    user_id: UserIdQuery,
    token: auth.BearerToken,
    session: SessionDep,
    recommender: RecommenderDep,
    profiles: ProfilesDep,
    index: MovieIndexDep,
    n: Annotated[int, Query(ge=1, le=100, description="How many films.", examples=[10])] = 10,
    genre: GenreQuery = None,
    year_from: YearQuery = None,
    year_to: YearQuery = None,
) -> RecommendationsOut:
    """Films the user has not rated, best first. Below the personalisation threshold the list
    is the catalogue's most popular films (`source: popularity`, and `ratings_needed` says how
    many more ratings unlock a personal list); from it on, `source: personalized`. The genre
    and year filters apply before the top-`n` cut, so a filtered list is still `n` long when
    enough films match."""
    auth.authorize(session, user_id, token)
    if year_from is not None and year_to is not None and year_from > year_to:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"year_from ({year_from}) must not be after year_to ({year_to})",
        )
    genre = canonical_genre(index, genre)
    ratings = _known_ratings(repository.user_ratings(session, user_id), recommender)
    profile = _profile(user_id, ratings, recommender, profiles)
    result = recommender.recommend(
        ratings, n, genre=genre, year_from=year_from, year_to=year_to, profile=profile
    )
    items = []
    for item in result.items:
        movie = recommender.movie(item.movie_id)
        items.append(
            RecommendationOut(
                movie_id=movie.movie_id,
                title=movie.title,
                year=movie.year,
                genres=list(movie.genres),
                tmdb_id=movie.tmdb_id,
                predicted_rating=item.predicted_rating,
                score=item.score,
                reason=item.reason,
            )
        )
    return RecommendationsOut(
        user_id=user_id,
        source=result.source,
        ratings_needed=ratings_needed(len(ratings)),
        count=len(items),
        model_version=recommender.model_version,
        recommendations=items,
    )


def _known_ratings(ratings: dict[int, float], recommender: Recommender) -> dict[int, float]:
    """Drop films the loaded catalogue no longer has (rated under an older model)."""
    unknown = recommender.unknown_movie_ids(ratings)
    if not unknown:
        return ratings
    dropped = set(unknown)
    return {movie_id: r for movie_id, r in ratings.items() if movie_id not in dropped}


def _profile(
    user_id: int,
    ratings: dict[int, float],
    recommender: Recommender,
    profiles: ProfileCache[UserProfile],
) -> UserProfile | None:
    if not is_personal(len(ratings)):
        return None  # popularity list: nothing to fold in
    return profiles.get_or_compute(user_id, ratings, recommender.profile)
