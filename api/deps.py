"""What handlers receive: the model, a database session and the caches, as ``Annotated`` deps.

Everything is built once in the app's lifespan and kept in ``app.state.services``; the
dependencies only hand it out, so tests can build the app around a tiny model or override
``get_recommender`` outright. The dependencies are ``async`` on purpose: they do no I/O, and
an ``async`` dependency runs on the event loop instead of costing a threadpool hop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.intent_llm import IntentReader
from api.limits import SignInLimiter, WriteRateLimiter
from api.settings import Settings
from api.user_cache import UserCache
from db.snapshot import SnapshotReader
from ml.imports import Catalogue as ImportCatalogue
from ml.recommender import Recommender, UserProfile
from ml.search import MovieIndex


@dataclass(frozen=True)
class Services:
    """The long-lived objects one running app shares between requests."""

    settings: Settings
    recommender: Recommender
    engine: Engine
    session_factory: sessionmaker[Session]
    #: Per-user profiles and served lists, valid while the user's ratings stay the same.
    user_cache: UserCache[UserProfile]
    #: The hot path's one query (token hash and ratings).
    snapshots: SnapshotReader
    movie_index: MovieIndex
    write_limiter: WriteRateLimiter
    #: Plain-words requests (/intent, /recommend?q=): offline parser, LLM if configured.
    intent_reader: IntentReader
    signin_limiter: SignInLimiter
    #: The catalogue as imports match it, built on the first import (~1 s for 10k films).
    import_catalogue: Callable[[], ImportCatalogue]


async def get_services(request: Request) -> Services:
    """Everything at once: the cheapest way for a hot handler to reach several services."""
    return request.app.state.services


def _services(request: Request) -> Services:
    return request.app.state.services


async def get_recommender(request: Request) -> Recommender:
    return _services(request).recommender


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; it opens a connection only when a query runs."""
    with _services(request).session_factory() as session:
        yield session


async def get_user_cache(request: Request) -> UserCache[UserProfile]:
    return _services(request).user_cache


async def get_movie_index(request: Request) -> MovieIndex:
    return _services(request).movie_index


async def get_intent_reader(request: Request) -> IntentReader:
    return _services(request).intent_reader


async def get_write_limiter(request: Request) -> WriteRateLimiter:
    return _services(request).write_limiter


RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SessionDep = Annotated[Session, Depends(get_session)]
UserCacheDep = Annotated[UserCache[UserProfile], Depends(get_user_cache)]
ServicesDep = Annotated[Services, Depends(get_services)]
MovieIndexDep = Annotated[MovieIndex, Depends(get_movie_index)]
WriteLimiterDep = Annotated[WriteRateLimiter, Depends(get_write_limiter)]
IntentReaderDep = Annotated[IntentReader, Depends(get_intent_reader)]
