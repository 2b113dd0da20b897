"""Error responses: always JSON ``{"detail": "<clear message>"}``, never a traceback.

* Validation errors become one readable sentence in ``detail``; FastAPI's per-field list stays
  under ``errors`` (without echoing the input back).
* A database that is locked for too long, read-only or down is a 503 saying which, never a
  500; the log gets the driver's one-line reason, never the SQL or its parameters.
* Anything unexpected is logged with a request id and answered with a generic 500 that quotes
  only that id; the request id is also returned on every response as ``X-Request-ID``, and
  every request ends with one JSON access line carrying it (see ``api.logs``).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.headers import DOCS_PAGES, docs_page_sender, is_private, with_security_headers
from api.logs import ACCESS_LOGGER, redact, request_id_var
from api.metrics import DATABASE_ERRORS, observe_request, route_of

logger = logging.getLogger("api")
access_logger = logging.getLogger(ACCESS_LOGGER)

REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MAX_LISTED_ERRORS = 5


def request_id_of(request: Request) -> str:
    """The id ``RequestEnvelopeMiddleware`` gave this request (or "-" outside it)."""
    return getattr(request.state, "request_id", "-")


class RequestEnvelopeMiddleware:
    """What every request gets: an id, one access line, its Prometheus count and latency
    (``api.metrics``), a generic 500 for what escapes, and the security headers
    (``api.headers``), all in one rewrite of the response's head.

    Pure ASGI (not ``BaseHTTPMiddleware``) because it wraps every request on the hot path.
    Catching here, rather than in Starlette's outermost error middleware, means the error is
    logged once, with the id, and the client's 500 carries the same id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = _incoming_request_id(scope) or _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        context_token = request_id_var.set(request_id)
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        private = is_private(scope)
        status = 500
        started = False

        # A Swagger UI page's policy names its inline script's hash: set once the body is in.
        downstream = docs_page_sender(send) if scope["path"] in DOCS_PAGES else send

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = with_security_headers(
                    [*message.get("headers", []), header], private=private
                )
            await downstream(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error on %s %s [request_id=%s]",
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if started:
                raise
            response = JSONResponse(
                {
                    "detail": f"Internal server error (request id {request_id}).",
                },
                status_code=500,
            )
            await response(scope, receive, send_with_id)
        finally:
            observe_request(
                scope.get("method", "-"), route_of(scope), status,
                time.perf_counter() - started_at,
            )  # fmt: skip
            _log_access(scope, status, started_at)
            request_id_var.reset(context_token)


def _log_access(scope: Scope, status: int, started_at: float) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method, path = scope.get("method", "-"), scope.get("path", "-")
    query = redact(scope.get("query_string", b"").decode("latin-1"))
    duration_ms = round((time.perf_counter() - started_at) * 1000, 2)
    access_logger.info(
        "%s %s %d %.2f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "duration_ms": duration_ms,
        },
    )


def _new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``, without its ``os.urandom`` system call.

    A request id only has to be unique, not unguessable. ``os.urandom`` releases the GIL, and
    on /recommend's hot path a waiting database thread then took it and the event loop queued
    behind it on every request (cProfile under bench/db_contention.py case 3).
    """
    return f"{random.getrandbits(128):032x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _CLIENT_REQUEST_ID.match(text) else None
    return None


def readable_validation_message(errors: Sequence[Any]) -> str:
    """``[{loc, msg, input}, ...]`` -> "ratings[0].rating: Input should be ... (got true)"."""
    parts = [_describe(error) for error in errors[:_MAX_LISTED_ERRORS]]
    if len(errors) > _MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - _MAX_LISTED_ERRORS} more")
    return "; ".join(parts) or "invalid request"


def _describe(error: dict[str, Any]) -> str:
    where, *path = error.get("loc", ()) or ("body",)
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>)
        near = f" near character {path[0]}" if path else ""
        return f"request body: not valid JSON{near}"
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    field = field.lstrip(".")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    in_url = where in ("query", "path", "header")
    if in_url:
        label = f"{where} parameter {field}" if field else where
    else:
        label = field or "request body"
    got = _short_repr(error.get("input"), error.get("type", ""), quote_strings=not in_url)
    return f"{label}: {message}{got}"


def _short_repr(value: Any, error_type: str, *, quote_strings: bool) -> str:
    """ " (got true)" for a short scalar input; URL parameters are always text, so unquoted."""
    if error_type == "missing" or not isinstance(value, bool | int | float | str):
        return ""
    if isinstance(value, str) and not quote_strings and value.isprintable():
        text = value
    else:
        text = json.dumps(value)  # NaN stays "NaN": readable; this is a message, not JSON data
    return f" (got {text})" if len(text) <= 40 else ""


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    listed = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]
    return JSONResponse(
        {"detail": readable_validation_message(errors), "errors": listed}, status_code=422
    )


DATABASE_BUSY = "The database is busy with other changes; please retry in a moment."
DATABASE_FULL = (
    "The database is full, so changes cannot be saved; nothing already saved is lost. "
    "Please retry later."
)
DATABASE_READ_ONLY = (
    "The database is read-only right now, so changes cannot be saved; please retry later."
)
DATABASE_UNAVAILABLE = "The database is unavailable right now; please retry shortly."


def database_problem(exc: Exception) -> tuple[str, int]:
    """The client's message and ``Retry-After`` seconds for a database failure."""
    reason = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, PoolTimeoutError) or "locked" in reason or "busy" in reason:
        return DATABASE_BUSY, 1
    if "readonly" in reason or "read-only" in reason:
        return DATABASE_READ_ONLY, 30
    if "full" in reason or "no space" in reason:  # SQLITE_FULL; PostgreSQL's ENOSPC
        return DATABASE_FULL, 60
    return DATABASE_UNAVAILABLE, 5


_PROBLEM_KINDS = {
    DATABASE_BUSY: "busy",
    DATABASE_READ_ONLY: "read-only",
    DATABASE_FULL: "full",
    DATABASE_UNAVAILABLE: "unavailable",
}


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    message, retry_after = database_problem(exc)
    DATABASE_ERRORS.labels(_PROBLEM_KINDS[message]).inc()
    # The driver's own one-line reason ("database is locked"); SQLAlchemy's full text would
    # add the SQL and, without hide_parameters, its parameters.
    reason = getattr(exc, "orig", None) or type(exc).__name__
    logger.error(
        "database error on %s %s [request_id=%s]: %s",
        request.method,
        request.url.path,
        request_id_of(request),
        reason,
    )
    return JSONResponse(
        {"detail": message}, status_code=503, headers={"Retry-After": str(retry_after)}
    )


def install_error_handling(app: FastAPI) -> None:
    """Register the JSON error handlers and the request-id middleware on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    # PostgreSQL reports a read-only transaction (a standby, a full disk's emergency mode)
    # as an internal error; it is the same "database unavailable" as on SQLite.
    app.add_exception_handler(InternalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_middleware(RequestEnvelopeMiddleware)
