"""The CineMatch API application: ``uvicorn api.main:app``.

The model is loaded once, in ``lifespan``, together with the database engine and the caches;
handlers receive them through the dependencies in ``api.deps``. ``create_app`` builds an app
from explicit settings, which is how the tests run it against a tiny model and a temporary
database.

``app`` itself is built on first access (when uvicorn imports it), from the environment's
settings, and loads the model right then: a missing, truncated or mismatched model stops the
process with exit status 3 and ONE log line naming the file, instead of a traceback from
inside the lifespan. Exit status 3 is uvicorn's "failed to start", which also stops a
``--workers`` supervisor from restarting workers that can never start.

Handlers are ``async def`` (all but /health, whose full-table counts run in a worker thread):
on SQLite a read is tens of microseconds of in-process work, far cheaper than the two
threadpool hops a ``def`` handler costs (measured with bench/api_latency.py: /recommend went
from ~3.6 ms to ~1.1 ms p50). Writers wait for their turn with
``db.session.write_transaction_async``, which yields to other requests while it waits, and then
write at once: SQLite's lock is free when a writer's turn comes (bench/load.py, 32 clients, two
workers: /rate p50 148 → 44 ms, 451 → 702 req/s in all). Only a process outside the API holding
the lock would make a write wait inside SQLite, on the loop, for at most busy_timeout. A
networked database would change this trade-off.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.deps import Services
from api.errors import REQUEST_ID_HEADER, install_error_handling
from api.intent_llm import IntentReader, LlmIntentClient
from api.limits import BodySizeLimitMiddleware, SignInLimiter, WriteRateLimiter
from api.logs import configure_logging
from api.routes import accounts, intent, lists, movies, ratings, recommendations, service, users
from api.settings import Settings, get_settings
from api.user_cache import UserCache
from db.session import create_db_engine, create_session_factory, init_db
from db.snapshot import SnapshotReader
from ml.artifacts import ArtifactError
from ml.imports import Catalogue as ImportCatalogue
from ml.intent import IntentParser
from ml.recommender import Recommender, UserProfile
from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN, RATING_STEP
from ml.search import MovieIndex

logger = logging.getLogger("api")
#: uvicorn's exit status for "the app could not start" (uvicorn.config.STARTUP_FAILURE).
STARTUP_FAILURE = 3

DESCRIPTION = f"""
An open movie recommender: rate {PERSONALISATION_THRESHOLD} films, get a personal list.

## Try it from this page
1. **POST /users** → *Try it out* → *Execute*. Copy the `token` (it is shown only once) and
   note the `user_id`.
2. Click **Authorize** (top right), paste the token, and confirm. Swagger now sends
   `Authorization: Bearer <token>` on every call.
3. Find films to rate with **GET /onboarding/movies** or **GET /movies?query=matrix**.
4. **POST /rate** with your `user_id` and at least {PERSONALISATION_THRESHOLD} ratings
   ({RATING_MIN} to {RATING_MAX} in steps of {RATING_STEP}).
5. **GET /recommend?user_id=…** now answers `source: personalized`. With fewer ratings it
   answers the popular list, and `ratings_needed` says how many more to rate.

Errors are always JSON `{{"detail": "<message>"}}`; each response carries an `X-Request-ID`.
"""

TAGS = [
    {"name": "users", "description": "Sign up (get a token) and see your statistics."},
    {
        "name": "accounts",
        "description": "Import and export ratings, sign in on another device, delete an account.",
    },
    {"name": "ratings", "description": "Rate films, list and remove your ratings."},
    {"name": "lists", "description": "Not interested, Want to watch, Haven't seen it; and "
     "similar films and the onboarding deck with those applied."},
    {"name": "recommendations", "description": "Your top-N list, popular or personal."},
    {"name": "movies", "description": "Search and browse the catalogue (no token needed)."},
    {"name": "service", "description": "Health and model metrics."},
]


def create_app(
    settings: Settings | None = None, *, recommender: Recommender | None = None
) -> FastAPI:
    """Build the app; the database (and the model, unless given) open when its lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = recommender or Recommender.load(settings.model_dir)
        engine = create_db_engine(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        init_db(engine)
        movie_index = MovieIndex(model.movies())
        app.state.services = Services(
            settings=settings,
            recommender=model,
            engine=engine,
            session_factory=create_session_factory(engine),
            user_cache=UserCache[UserProfile](
                settings.profile_cache_size, settings.list_cache_mb * 1_000_000
            ),
            snapshots=SnapshotReader(engine),
            movie_index=movie_index,
            write_limiter=WriteRateLimiter(
                settings.write_limit_per_minute, settings.write_limit_burst
            ),
            intent_reader=intent_reader(settings, model, movie_index),
            signin_limiter=SignInLimiter(
                WriteRateLimiter(settings.signin_limit_per_minute, settings.signin_limit_burst),
                WriteRateLimiter(
                    4 * settings.signin_limit_per_minute, 4 * settings.signin_limit_burst
                ),
            ),
            import_catalogue=_import_catalogue_builder(model),
        )
        _freeze_startup_objects()
        logger.info(
            "serving model %s (%d films) on %s",
            model.model_version,
            model.n_movies,
            engine.url.render_as_string(hide_password=True),
        )
        try:
            yield
        finally:
            await app.state.services.intent_reader.aclose()
            engine.dispose()
            gc.unfreeze()  # what the app held can be collected again (tests build many apps)

    app = FastAPI(
        title="CineMatch API",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    # Inside the request-id middleware, so a 413 carries an id and an access line too.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # A CSV upload plus its multipart envelope; the handler holds the file to the limit.
        larger=[(accounts.IMPORT_PATH, settings.import_max_bytes + 64 * 1024)],
    )
    install_error_handling(app)
    # Added last so it is outermost: even a 500 carries the CORS headers the browser needs to
    # show it. Bearer tokens travel in a header, so cookies (credentials) are never allowed.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER],
    )
    for router in (
        users.router,
        accounts.router,
        ratings.router,
        lists.router,
        recommendations.router,
        intent.router,
        movies.router,
        service.router,
    ):
        app.include_router(router)
    return app


def intent_reader(settings: Settings, model: Recommender, index: MovieIndex) -> IntentReader:
    """The offline parser, behind the LLM when both its URL and key are set."""
    parser = IntentParser(index, model.genres())
    if not (settings.llm_url and settings.llm_key):
        return IntentReader(parser)
    llm = LlmIntentClient(settings.llm_url, settings.llm_key.get_secret_value(),
                          settings.llm_model, model.genres(), settings.llm_timeout_s)
    return IntentReader(parser, llm)


def _import_catalogue_builder(model: Recommender) -> Callable[[], ImportCatalogue]:
    """The catalogue as imports match it, built at the first import (~0.8 s and ~100k
    objects for 10k films, which a worker that never imports does not pay) and then frozen
    out of the garbage collector's reach like the startup objects."""

    @functools.cache
    def build() -> ImportCatalogue:
        catalogue = ImportCatalogue(model.movies())
        gc.freeze()
        return catalogue

    return build


def _freeze_startup_objects() -> None:
    """Move everything loaded so far out of the garbage collector's reach.

    The catalogue, search index and id maps are ~130k objects that live as long as the process;
    each full collection walked them all and stalled every request for ~70 ms (measured
    in-process), a periodic hiccup that set the p99 of every endpoint. Frozen objects are never
    scanned; new garbage is collected as before. (No ``gc.collect()`` first: it would cost each
    start ~0.1 s, and the little startup garbage frozen with the rest is freed at shutdown.)
    """
    gc.freeze()


def _app_from_environment() -> FastAPI:
    """The served app: settings from the environment, the model loaded now or never."""
    settings = get_settings()
    try:
        recommender = Recommender.load(settings.model_dir)
    except ArtifactError as error:
        logger.critical("cannot start: %s", error)
        raise SystemExit(STARTUP_FAILURE) from None
    return create_app(settings, recommender=recommender)


def __getattr__(name: str) -> FastAPI:
    # PEP 562: ``api.main.app`` is built when first asked for (uvicorn's import), so that
    # importing this module for ``create_app`` (the tests) never loads a model.
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = _app_from_environment()
    globals()["app"] = built
    return built


# JSON lines on stderr with request ids (api.logs); where logging is already configured
# (pytest, uvicorn --log-config) its handlers are kept.
configure_logging()
