"""The catalogue: search, details, similar films, genres and films to rate first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.deps import RecommenderDep, ServicesDep
from api.params import (
    MAX_EXCLUDED,
    MOVIE_NOT_FOUND,
    GenreQuery,
    MovieIdPath,
    canonical_genre,
    movie_or_404,
)
from api.responses import error_responses
from api.schemas import MAX_ID, movie_out
from contract.models import (
    DecadesOut,
    GenresOut,
    MovieOut,
    MoviePage,
    OnboardingOut,
    SimilarMovieOut,
    SimilarOut,
)

router = APIRouter(tags=["movies"])

BAD_MOVIE_ID = "path parameter movie_id: Input should be greater than or equal to 1 (got 0)"


@router.get(
    "/movies",
    summary="Search the catalogue",
    responses=error_responses(
        {422: "query parameter limit: Input should be less than or equal to 100 (got 500)"}
    ),
)
async def search_movies(
    services: ServicesDep,
    query: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words of the title; each may be a prefix. Case, accents and small "
            "typos are forgiven (`amel` finds Amélie, `godfater` The Godfather, `walle` "
            "WALL·E, `star wars 4` Episode IV).",
            examples=["matrix"],
        ),
    ] = None,
    genre: GenreQuery = None,
    year: Annotated[int | None, Query(ge=1, le=9999, examples=[1999])] = None,
    limit: Annotated[int, Query(ge=1, le=100, examples=[20])] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, examples=[0])] = 0,
) -> MoviePage:
    """Films whose title (or an alternative title) matches `query`, best match first (exact
    title, then titles that start with it, then the rest, then matches found by correcting a
    typo), ties by popularity. Without `query`, the whole catalogue by popularity. `genre`
    and `year` narrow either. `corrected_query` says how a misspelt query was read;
    `suggestion` offers the closest title when nothing matched."""
    index = services.movie_index
    page = index.search(
        query, genre=canonical_genre(index, genre), year=year, limit=limit, offset=offset
    )
    return MoviePage(
        total=page.total,
        limit=limit,
        offset=offset,
        items=[movie_out(movie) for movie in page.movies],
        corrected_query=page.corrected_query,
        suggestion=page.suggestion,
    )


@router.get(
    "/movies/{movie_id}",
    summary="One film",
    responses=error_responses({404: MOVIE_NOT_FOUND, 422: BAD_MOVIE_ID}),
)
async def get_movie(movie_id: MovieIdPath, recommender: RecommenderDep) -> MovieOut:
    """A film's title, year, genres, external ids and rating summary."""
    return movie_out(movie_or_404(recommender, movie_id))


@router.get(
    "/movies/{movie_id}/similar",
    summary="Films similar to one film",
    responses=error_responses({404: MOVIE_NOT_FOUND, 422: BAD_MOVIE_ID}),
)
async def similar_movies(
    movie_id: MovieIdPath,
    recommender: RecommenderDep,
    n: Annotated[int, Query(ge=1, le=50, examples=[10])] = 10,
) -> SimilarOut:
    """The `n` films closest to this one in the model's taste space (cosine similarity)."""
    movie_or_404(recommender, movie_id)
    similar = [
        SimilarMovieOut(**movie_out(movie).model_dump(), similarity=similarity)
        for movie, similarity in recommender.similar(movie_id, n)
    ]
    return SimilarOut(movie_id=movie_id, count=len(similar), similar=similar)


@router.get("/genres", summary="All genres")
async def list_genres(recommender: RecommenderDep) -> GenresOut:
    """Every genre in the catalogue; use one as `genre` in /movies and /recommend."""
    return GenresOut(genres=recommender.genres())


@router.get("/decades", summary="The decades the catalogue covers")
async def list_decades(recommender: RecommenderDep) -> DecadesOut:
    """The decades the catalogue has films from, newest first (`1990` is the 1990s): the
    ones worth offering as a `year_from`/`year_to` filter in /movies and /recommend."""
    return DecadesOut(decades=recommender.decades())


@router.get(
    "/onboarding/movies",
    summary="Films to ask a newcomer to rate",
    responses=error_responses(
        {422: "query parameter n: Input should be less than or equal to 50 (got 80)"}
    ),
)
async def onboarding_movies(
    recommender: RecommenderDep,
    n: Annotated[int, Query(ge=1, le=50, examples=[20])] = 20,
    exclude: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(
            max_length=MAX_EXCLUDED,
            description="Movie ids already shown or rated (repeat the parameter).",
            examples=[[2571, 356]],
        ),
    ] = None,
) -> OnboardingOut:
    """Well-known films that tell tastes apart, for a newcomer's first ratings. Pass the films
    already shown as `exclude` to get fresh ones."""
    movies = recommender.onboarding(n, exclude=frozenset(exclude or ()))
    return OnboardingOut(count=len(movies), movies=[movie_out(movie) for movie in movies])
