"""Operational endpoints: liveness with counts, and the model's offline metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from api.deps import RecommenderDep, SessionDep
from api.schemas import HealthOut, MetricsOut
from db import repository

router = APIRouter(tags=["service"])
logger = logging.getLogger("api")


@router.get("/health", summary="Is the service up?")
def health(session: SessionDep, recommender: RecommenderDep) -> HealthOut:
    """Always 200 while the process serves: `status` is `degraded` (and the counts null) when
    the database cannot be reached, so a load balancer can tell the two apart."""
    try:
        n_users = repository.count_users(session)
        n_ratings = repository.count_ratings(session)
        database = "ok"
    except SQLAlchemyError as exc:
        logger.warning("health check: database unreachable: %s", exc)
        n_users = n_ratings = None
        database = "unreachable"
    return HealthOut(
        status="ok" if database == "ok" else "degraded",
        model_version=recommender.model_version,
        n_movies=recommender.n_movies,
        n_users=n_users,
        n_ratings=n_ratings,
        database=database,
    )


@router.get("/metrics", summary="The model's offline evaluation")
async def metrics(recommender: RecommenderDep) -> MetricsOut:
    """RMSE/MAE of each rating model and Recall/NDCG@10 and coverage of each ranker, measured
    on held-out ratings when this model was trained (from its manifest)."""
    manifest = recommender.manifest
    return MetricsOut.model_validate(
        {
            "trained_at": manifest.get("trained_at"),
            "data": manifest.get("data"),
            **recommender.metrics(),
            "model_version": recommender.model_version,
        }
    )
