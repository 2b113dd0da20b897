"""What a person says about a film besides rating it, and the per-user views that honour it.

Three lists per user, one route shape each (``PUT`` adds, ``DELETE`` removes, ``GET`` lists):
``hidden`` ("Not interested": never shown again in the user's list, deck or similar films),
``watchlist`` ("Want to watch") and ``skipped`` (the deck's "Haven't seen it": neither the deck
nor the list shows it again). ``PUT`` and ``DELETE`` are idempotent; ``changed`` says whether
anything moved. The personal views (similar films, the onboarding deck) are the public ones
with the user's signals applied.
"""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy.orm import Session

from api import auth
from api.deps import RecommenderDep, Services, ServicesDep, SessionDep
from api.errors import DATABASE_BUSY
from api.params import (
    BAD_USER_ID,
    MAX_EXCLUDED,
    MOVIE_NOT_FOUND,
    MovieIdPath,
    UserIdPath,
    movie_or_404,
)
from api.responses import TOO_MANY_WRITES, auth_responses
from api.schemas import MAX_ID, movie_out
from contract.models import (
    ListedMovieOut,
    OnboardingOut,
    PersonalSimilarListOut,
    PersonalSimilarOut,
    SignalList,
    SignalListOut,
    SignalOut,
)
from db import repository
from db.models import EXCLUDING_SIGNALS
from db.session import write_transaction

router = APIRouter(tags=["lists"])

_SUMMARIES: dict[str, tuple[str, str]] = {
    "hidden": ("Not interested", "never shown again in this user's lists, deck or similar films"),
    "watchlist": ("Want to watch", "kept on the user's watchlist until they rate it"),
    "skipped": ("Haven't seen it", "never shown again in this user's onboarding deck or list"),
}


def _change(
    session: Session, services: Services, user_id: int, kind: SignalList, movie_id: int, *, on: bool
) -> SignalOut:
    """Put the film on (``on``) or take it off one list, as one rate-limited write (a refused
    write costs nothing: the limit is spent in the same transaction)."""
    with write_transaction(session):
        services.write_limiter.check(session, user_id, f"for user {user_id}")
        change = repository.add_signal if on else repository.remove_signal
        changed = change(session, user_id, kind, movie_id)
    if kind in EXCLUDING_SIGNALS:
        services.user_cache.invalidate(user_id)
    return SignalOut(user_id=user_id, movie_id=movie_id, list=kind, on_list=on, changed=changed)


def _add_routes(kind: SignalList) -> None:
    """PUT, DELETE and GET for one list (the three lists differ only in name and effect)."""
    label, effect = _SUMMARIES[kind]
    write_errors = auth_responses(
        {404: MOVIE_NOT_FOUND, 422: BAD_USER_ID, 429: TOO_MANY_WRITES,
         503: DATABASE_BUSY}
    )

    @router.put(
        f"/users/{{user_id}}/{kind}/{{movie_id}}",
        summary=f"{label}: add a film",
        responses=write_errors,
        operation_id=f"add_{kind}",
    )
    def add(
        user_id: UserIdPath,
        movie_id: MovieIdPath,
        token: auth.BearerToken,
        session: SessionDep,
        services: ServicesDep,
    ) -> SignalOut:
        auth.authorize(session, user_id, token)
        movie_or_404(services.recommender, movie_id)
        return _change(session, services, user_id, kind, movie_id, on=True)

    add.__doc__ = (f"Put the film on the user's `{kind}` list ({label}): {effect}. "
                   "Adding it again changes nothing (`changed: false`).")

    @router.delete(
        f"/users/{{user_id}}/{kind}/{{movie_id}}",
        summary=f"{label}: take a film back",
        responses=write_errors,
        operation_id=f"remove_{kind}",
    )
    def remove(
        user_id: UserIdPath,
        movie_id: MovieIdPath,
        token: auth.BearerToken,
        session: SessionDep,
        services: ServicesDep,
    ) -> SignalOut:
        auth.authorize(session, user_id, token)
        return _change(session, services, user_id, kind, movie_id, on=False)

    remove.__doc__ = (f"Take the film off the user's `{kind}` list. Taking off a film that "
                      "is not there changes nothing (`changed: false`).")

    @router.get(
        f"/users/{{user_id}}/{kind}",
        summary=f"{label}: the user's films",
        responses=auth_responses({422: BAD_USER_ID}),
        operation_id=f"list_{kind}",
    )
    def listed(
        user_id: UserIdPath, token: auth.BearerToken, session: SessionDep,
        recommender: RecommenderDep,
    ) -> SignalListOut:
        auth.authorize(session, user_id, token)
        movies = []
        for stored in repository.user_signals(session, user_id, kind):
            try:  # a film the catalogue no longer has is left out, not an error
                movie = recommender.movie(stored.movie_id)
            except KeyError:
                continue
            movies.append(ListedMovieOut(**movie_out(movie).model_dump(),
                                         added_at=stored.created_at))
        return SignalListOut(user_id=user_id, list=kind, count=len(movies), movies=movies)

    listed.__doc__ = f"The films on the user's `{kind}` list ({label}), most recently added first."


for _kind in get_args(SignalList):
    _add_routes(_kind)


@router.get(
    "/users/{user_id}/similar/{movie_id}",
    summary="Films like one film, for this user",
    responses=auth_responses({404: MOVIE_NOT_FOUND, 422: BAD_USER_ID}),
)
def similar_for_user(
    user_id: UserIdPath,
    movie_id: MovieIdPath,
    token: auth.BearerToken,
    session: SessionDep,
    recommender: RecommenderDep,
    n: Annotated[int, Query(ge=1, le=50, examples=[10])] = 10,
) -> PersonalSimilarListOut:
    """`GET /movies/{movie_id}/similar` without the films this user hid, each marked with the
    user's own rating (`your_rating`) and whether it is on their watchlist."""
    auth.authorize(session, user_id, token)
    movie_or_404(recommender, movie_id)
    hidden = {s.movie_id for s in repository.user_signals(session, user_id, "hidden")}
    watchlist = {s.movie_id for s in repository.user_signals(session, user_id, "watchlist")}
    ratings = repository.user_ratings(session, user_id)
    similar = [
        PersonalSimilarOut(
            **movie_out(movie).model_dump(), similarity=similarity,
            your_rating=ratings.get(movie.movie_id), on_watchlist=movie.movie_id in watchlist,
        )
        for movie, similarity in recommender.similar(movie_id, n, exclude=hidden)
    ]
    return PersonalSimilarListOut(user_id=user_id, movie_id=movie_id, count=len(similar),
                                  similar=similar)


@router.get(
    "/users/{user_id}/onboarding",
    summary="Films to ask this user to rate next",
    responses=auth_responses({422: BAD_USER_ID}),
)
def onboarding_for_user(
    user_id: UserIdPath,
    token: auth.BearerToken,
    session: SessionDep,
    services: ServicesDep,
    n: Annotated[int, Query(ge=1, le=50, examples=[20])] = 20,
    exclude: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(max_length=MAX_EXCLUDED, description="More movie ids not to show (repeat it).",
              examples=[[2571, 356]]),
    ] = None,
) -> OnboardingOut:
    """`GET /onboarding/movies` for this user: never a film they rated, hid or skipped
    ("Haven't seen it"), so the deck never asks twice."""
    auth.authorize(session, user_id, token)
    never = set(repository.user_ratings(session, user_id))
    never |= set(repository.excluded(session, user_id).all)
    never |= set(exclude or ())
    movies = services.recommender.onboarding(n, exclude=frozenset(never))
    return OnboardingOut(count=len(movies), movies=[movie_out(movie) for movie in movies])
