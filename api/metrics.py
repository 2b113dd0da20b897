"""Prometheus metrics, served at ``GET /metrics`` in the text exposition format.

Requests and latency per route template (never a user's id), 4xx and 5xx answers, the served
model's version and load time, database errors, rate-limit refusals and LLM use. Each request
is recorded once, by ``api.errors.RequestEnvelopeMiddleware``, with its labelled children
looked up in a dict. With several uvicorn workers, ``api.server`` points
``PROMETHEUS_MULTIPROC_DIR`` at one folder and ``/metrics`` adds every worker's values up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The route label of a request that matched no route (a 404 from the router, or a 405).
UNMATCHED = "unmatched"

#: Seconds: cached /recommend answers in a few ms, imports and password hashes take ~0.1-1 s.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "cinematch_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
ERRORS = Counter(
    "cinematch_http_errors_total",
    "HTTP requests answered with a 4xx or 5xx status, by route template and class.",
    ["method", "route", "class"],
)
LATENCY = Histogram(
    "cinematch_http_request_duration_seconds",
    "Time from a request's arrival to its answer's end, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
MODEL_INFO = Gauge(
    "cinematch_model_info",
    "The served model's version (1 for the version served now, 0 for earlier ones).",
    ["version"],
    multiprocess_mode="mostrecent",
)
MODEL_LOAD_SECONDS = Gauge(
    "cinematch_model_load_seconds",
    "How long loading the served model took.",
    multiprocess_mode="mostrecent",
)
MODEL_LOADED_AT = Gauge(
    "cinematch_model_loaded_timestamp_seconds",
    "When the served model was loaded (Unix time).",
    multiprocess_mode="mostrecent",
)
DATABASE_ERRORS = Counter(
    "cinematch_database_errors_total",
    "Requests the database failed (answered 503), by what the database said.",
    ["kind"],
)
RATE_LIMITED = Counter(
    "cinematch_rate_limit_refusals_total",
    "Requests refused with 429 by a rate limit, by the limit.",
    ["limit"],
)
LLM_READS = Counter(
    "cinematch_llm_intent_total",
    "Plain-words requests when an LLM is configured, by who answered: the LLM upstream, "
    "the cache, or the offline parser (and why).",
    ["outcome"],
)

#: The methods counted under their own name; any other (HTTP allows any token) is "other",
#: so that made-up methods cannot grow the label set without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
_served_version: list[str] = []


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (the middleware calls this once each)."""
    if method not in KNOWN_METHODS:
        method = OTHER_METHOD
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        error_class = f"{status // 100}xx" if status >= 400 else None
        children = _children[key] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
            ERRORS.labels(method, route, error_class) if error_class else None,
        )
    count, latency, error = children
    count.inc()
    latency.observe(seconds)
    if error is not None:
        error.inc()


def route_of(scope: Mapping[str, Any]) -> str:
    """The route template the router matched (``scope["route"]``), or ``UNMATCHED``."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


def model_loaded(version: str, seconds: float | None, at: float) -> None:
    """Record the model now served (start-up or a reload)."""
    for earlier in _served_version:
        MODEL_INFO.labels(earlier).set(0)
    _served_version[:] = [version]
    MODEL_INFO.labels(version).set(1)
    if seconds is not None:
        MODEL_LOAD_SECONDS.set(seconds)
    MODEL_LOADED_AT.set(at)


def exposition() -> bytes:
    """Every metric in the text format: this process's, or every worker's when several
    share ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
