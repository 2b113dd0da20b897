"""The CineMatch API application: ``uvicorn --factory api.main:app_from_environment``.

``create_app`` builds an app from explicit settings (the tests run it against a tiny model and
a temporary database); its lifespan loads the model, opens the database (migrating it unless
``CINEMATCH_MIGRATE_ON_START=false``) and builds the caches that ``api.deps`` hands out.
``app_from_environment`` is the served factory: it loads the model and opens the database
before serving, so a bad model or database stops the process with ONE log line naming the
file and uvicorn's "failed to start" status 3 (which also stops a ``--workers`` supervisor
from restarting workers that can never start).

The event loop never waits on the database: handlers that touch it are plain ``def`` (run in
FastAPI's threadpool), and /recommend hands only its read to the threadpool. Routes with no
database work stay ``async``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import metrics
from api.deps import Services
from api.errors import REQUEST_ID_HEADER, install_error_handling
from api.headers import NosniffCORSMiddleware
from api.limits import BodySizeLimitMiddleware, CredentialsLimiter, RateLimiter, SignInLimiter
from api.logs import configure_logging
from api.model_swap import ModelSwapper, model_parts
from api.proxy_conf import import_body_bytes
from api.routes import (
    accounts,
    admin,
    intent,
    lists,
    movies,
    ratings,
    recommendations,
    service,
    users,
)
from api.settings import Settings, get_settings
from api.startup import StartupError, check_database, open_database
from db.session import create_session_factory
from ml.rules import PERSONALISATION_THRESHOLD, RATING_MAX, RATING_MIN, RATING_STEP
from ml.serving.artifacts import ArtifactError
from ml.serving.recommender import Recommender

logger = logging.getLogger("api")
#: Where Swagger UI's script and styles are served from.
DOCS_ASSETS_URL = "/docs/assets"
#: Young-generation allocations between collections, then the older generations' ratios
#: (CPython's defaults: 700, 10, 10; see ``_freeze_startup_objects``).
GC_THRESHOLDS = (20_000, 20, 20)
_DEFAULT_GC_THRESHOLDS = gc.get_threshold()
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
        model, load_s = recommender, None  # a model handed in had its load timed by its loader
        if model is None:
            started = time.perf_counter()
            model = Recommender.load(settings.model_dir)
            load_s = time.perf_counter() - started
        metrics.model_loaded(model.model_version, load_s, time.time())
        engine = open_database(settings)
        app.state.services = Services(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            write_limiter=RateLimiter(
                "write", settings.write_limit_per_minute, settings.write_limit_burst
            ),
            signup_limiter=RateLimiter(
                "sign-up", settings.signup_limit_per_hour, settings.signup_limit_burst, per="hour"
            ),
            signin_limiter=SignInLimiter(
                settings.signin_limit_per_minute, settings.signin_limit_burst
            ),
            credentials_limiter=CredentialsLimiter(
                settings.signin_limit_per_minute, settings.signin_limit_burst
            ),
            **model_parts(settings, model),
        )
        swapper = app.state.model_swapper = ModelSwapper(app, settings)
        watcher = (
            asyncio.create_task(swapper.watch(settings.model_watch_s))
            if settings.model_watch_s > 0
            else None
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
            if watcher is not None:
                watcher.cancel()
            await app.state.services.intent_reader.aclose()
            engine.dispose()
            gc.unfreeze()  # what the app held can be collected again (tests build many apps)
            gc.set_threshold(*_DEFAULT_GC_THRESHOLDS)

    # Swagger UI from this API (fastapi-offline), not a CDN, and no online validator badge: /docs
    # works without internet access. No ReDoc: its bundle fetches its logo from a CDN.
    app = FastAPIOffline(
        title="CineMatch API",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        redoc_url=None,
        static_url=DOCS_ASSETS_URL,
        swagger_ui_parameters={"validatorUrl": None},
    )
    # Inside the request-id middleware, so a 413 carries an id and an access line too.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # A CSV upload plus its multipart envelope (nginx's limits come from api.proxy_conf).
        larger=[(accounts.IMPORT_PATH, import_body_bytes(settings))],
    )
    install_error_handling(app)
    if settings.trusted_proxies:
        # uvicorn's own middleware (launchers pass --no-proxy-headers, so this is the one place
        # proxies are trusted): the client is the right-most untrusted X-Forwarded-For entry.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    # Added last so it is outermost: even a 500 carries the CORS headers the browser needs to
    # show it. Bearer tokens travel in a header, so cookies (credentials) are never allowed.
    app.add_middleware(
        NosniffCORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER],
    )
    # In this order: /docs lists the tags, and the routes within them, as they are included.
    for module in (recommendations, users, accounts, ratings, lists, intent, movies, service):
        app.include_router(module.router)
    if settings.admin_token is not None:  # no operator token, no operator routes (404)
        app.include_router(admin.router)
    return app


def _freeze_startup_objects() -> None:
    """Move everything loaded so far out of the garbage collector's reach, and collect the
    young generation less often.

    The catalogue, search index and id maps are ~130k long-lived objects; each full collection
    walked them all and stalled every request for ~70 ms. No ``gc.collect()`` first: it would
    cost each start ~0.1 s, and the little startup garbage frozen with the rest is freed at
    shutdown. A request allocates a few hundred containers, so at CPython's default threshold
    a young collection ran every other request; at ``GC_THRESHOLDS`` /recommend's server CPU
    fell ~15%. That is safe because reference counting frees almost all of a request's
    garbage; only cycles wait for the rarer collection. Both are undone at shutdown.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def app_from_environment() -> FastAPI:
    """The served app: settings from the environment, the model loaded and the database
    opened now, or one log line saying which file is at fault (``api.startup``)."""
    settings = get_settings()
    try:
        started = time.perf_counter()
        recommender = Recommender.load(settings.model_dir)
        metrics.model_loaded(
            recommender.model_version, time.perf_counter() - started, time.time()
        )
        check_database(settings)
    except (ArtifactError, StartupError) as error:
        logger.critical("cannot start: %s", error)
        raise SystemExit(STARTUP_FAILURE) from None
    return create_app(settings, recommender=recommender)


# JSON lines on stderr with request ids (api.logs); where logging is already configured
# (pytest, uvicorn --log-config) its handlers are kept.
configure_logging()
