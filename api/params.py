"""Path and query parameters shared by several routes, bounded so bad ids are a 422, not a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query, status

from api.schemas import MAX_ID
from ml.serving.recommender import Movie, Recommender
from ml.text.search import MovieIndex

UserIdPath = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The id POST /users returned.", examples=[1])
]
UserIdQuery = Annotated[
    int, Query(ge=1, le=MAX_ID, description="The id POST /users returned.", examples=[1])
]
MovieIdPath = Annotated[
    int, Path(ge=1, le=MAX_ID, description="A MovieLens movie id.", examples=[2571])
]

GenreQuery = Annotated[
    str | None,
    Query(max_length=64, description="Only films of this genre (any case).", examples=["Comedy"]),
]

BAD_USER_ID = "path parameter user_id: Input should be greater than or equal to 1 (got 0)"
MOVIE_NOT_FOUND = "movie 999999 not found"
#: Most movie ids one onboarding request may exclude.
MAX_EXCLUDED = 1000


def movie_or_404(recommender: Recommender, movie_id: int) -> Movie:
    try:
        return recommender.movie(movie_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"movie {movie_id} not found") from None


def canonical_genre(index: MovieIndex, genre: str | None) -> str | None:
    """The catalogue's spelling of ``genre`` (any case); 422 pointing to /genres if unknown."""
    if genre is None:
        return None
    canonical = index.canonical_genre(genre)
    if canonical is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown genre {genre!r}; GET /genres lists the valid ones",
        )
    return canonical
