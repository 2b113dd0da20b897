"""Operational endpoints: health (the database read and written), Prometheus metrics, and
the model's offline evaluation."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Response, status
from sqlalchemy.exc import SQLAlchemyError

from api.deps import RecommenderDep, ServicesDep
from api.errors import database_problem
from api.metrics import CONTENT_TYPE, exposition
from contract.models import AppRatingsOut, HealthOut, MetricsOut
from db import repository
from db.session import DatabaseFileGone, write_transaction
from ml.serving.artifacts import app_ratings_of

router = APIRouter(tags=["service"])
logger = logging.getLogger("api")


@router.get(
    "/health",
    summary="Is the service up, and can its database read and write?",
    responses={503: {"model": HealthOut, "description": "Degraded: the database cannot serve."}},
)
def health(services: ServicesDep, response: Response) -> HealthOut:
    """Reads (counts users and ratings) and writes (one probe row, committed) the database.
    `status` is `ok` (200) when both work, or while another process briefly holds the write
    lock (`database: busy`, e.g. a backup); otherwise `degraded` with 503 and `database`
    saying why (`read-only`, `full`, `gone` for a SQLite file deleted under the service,
    `unreachable`), so a load balancer takes the replica out."""
    n_users = n_ratings = None
    try:
        with services.session_factory() as session:
            n_users = repository.count_users(session)
            n_ratings = repository.count_ratings(session)
            with write_transaction(session):
                repository.record_health_probe(session, time.time())
            database = "full" if repository.storage_full(session) else "ok"
    except SQLAlchemyError as exc:
        database = _database_state(exc)
        logger.warning("health check: database %s: %s", database, getattr(exc, "orig", exc))
    healthy = database in ("ok", "busy")
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    recommender = services.recommender
    return HealthOut(
        status="ok" if healthy else "degraded",
        model_version=recommender.model_version,
        n_movies=recommender.n_movies,
        n_users=n_users,
        n_ratings=n_ratings,
        database=database,
    )


@router.head("/health", include_in_schema=False)
def health_head(services: ServicesDep, response: Response) -> HealthOut:
    """``GET /health`` for uptime monitors that probe with HEAD (the server sends the status
    and headers without the body)."""
    return health(services, response)


def _database_state(exc: SQLAlchemyError) -> str:
    if isinstance(exc, DatabaseFileGone):
        return "gone"
    kind = database_problem(exc)
    return "unreachable" if kind == "unavailable" else kind


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"example": "cinematch_http_requests_total"
                                                "{method=\"GET\",route=\"/health\","
                                                "status=\"200\"} 3.0\n"}},
                     "description": "Every metric, for a Prometheus scrape."}},
)
def prometheus_metrics() -> Response:
    """Requests and latency per route template, 4xx/5xx answers, the served model's version
    and load time, database errors, rate-limit refusals and LLM use (``api.metrics``); with
    several workers, every worker's. The model's offline evaluation is
    `GET /model/evaluation`."""
    return Response(exposition(), media_type=CONTENT_TYPE)


@router.get("/model/evaluation", summary="The model's offline evaluation")
async def model_evaluation(recommender: RecommenderDep) -> MetricsOut:
    """RMSE/MAE of each rating model and Recall/NDCG@10 and coverage of each ranker, measured
    on held-out ratings when this model was trained (from its manifest), and how many of this
    service's own ratings it learnt from (`app_ratings`, zero for the shipped model)."""
    manifest = recommender.manifest
    try:
        receipt = app_ratings_of(manifest)
    except ValueError as error:  # a hand-edited manifest: say nothing rather than fail
        logger.warning("model manifest: %s", error)
        receipt = None
    app_ratings = AppRatingsOut() if receipt is None else AppRatingsOut(
        n_ratings=receipt.n_ratings, n_users=receipt.n_users, read_at=receipt.read_at)
    return MetricsOut.model_validate(
        {
            "trained_at": manifest.get("trained_at"),
            "data": manifest.get("data"),
            **recommender.metrics(),
            "model_version": recommender.model_version,
            "app_ratings": app_ratings,
        }
    )
