"""What handlers receive: the services built in the app's lifespan (``app.state.services``),
the model and a database session, as ``Annotated`` dependencies. The ones that do no I/O are
``async``: they run on the event loop instead of costing a threadpool hop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.intent_llm import IntentReader
from api.limits import CredentialsLimiter, RateLimiter, SignInLimiter
from api.settings import Settings
from api.user_cache import UserCache
from ml.serving.recommender import Recommender, UserProfile
from ml.text.imports import Catalogue as ImportCatalogue
from ml.text.search import MovieIndex


@dataclass(frozen=True)
class Services:
    """The long-lived objects one running app shares between requests."""

    settings: Settings
    recommender: Recommender
    engine: Engine
    session_factory: sessionmaker[Session]
    #: Per-user profiles and served lists, valid while the user's ratings stay the same.
    user_cache: UserCache[UserProfile]
    movie_index: MovieIndex
    #: Writes per user, and sign-ups per client address (both in the database).
    write_limiter: RateLimiter
    signup_limiter: RateLimiter
    #: Plain-words requests (/intent, /recommend?q=): offline parser, LLM if configured.
    intent_reader: IntentReader
    signin_limiter: SignInLimiter
    #: Password changes per user and per address (each is an argon2 hash).
    credentials_limiter: CredentialsLimiter
    #: The catalogue as imports match it, built on the first import (~1 s for 10k films).
    import_catalogue: Callable[[], ImportCatalogue]


async def get_services(request: Request) -> Services:
    return services_of(request)


def services_of(request: Request) -> Services:
    """The services this request saw first: a model reload in the middle of a request
    (``api.model_swap``) never hands one request parts of two models."""
    state = request.scope.setdefault("state", {})  # what ``request.state`` wraps
    services = state.get("services")
    if services is None:  # a dict lookup, not a raised AttributeError, on every request
        services = state["services"] = request.app.state.services
    return services


async def get_recommender(request: Request) -> Recommender:
    return services_of(request).recommender


def get_session(request: Request) -> Iterator[Session]:
    """A session per request, opened and closed in the threadpool (a plain ``def``), so even
    the rollback that returns its connection to the pool never runs on the event loop."""
    with services_of(request).session_factory() as session:
        yield session


ServicesDep = Annotated[Services, Depends(get_services)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SessionDep = Annotated[Session, Depends(get_session)]
