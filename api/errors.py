"""Error responses: always JSON ``{"detail": "<clear message>"}``, never a traceback.

Validation errors are one readable sentence (FastAPI's list stays under ``errors``, without the
input); a database that is locked, read-only, full or down is a 503 saying which (the log gets
the driver's one-line reason, never the SQL); anything else is a 500 quoting the request id
that ``X-Request-ID`` and the request's JSON access line (``api.logs``) carry.
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
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError
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
    (``api.metrics``), a 500 carrying the id for what escapes (logged once, with it), and the
    security headers (``api.headers``), all in one rewrite of the response's head. Pure ASGI:
    it wraps every request on the hot path."""

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
                {"detail": f"Internal server error (request id {request_id})."}, status_code=500
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
    fields = {"method": method, "path": path, "query": query, "status": status}
    access_logger.info(
        "%s %s %d %.2f ms", method, path, status, duration_ms,
        extra={**fields, "duration_ms": duration_ms},
    )


def _new_request_id() -> str:
    """32 random hex digits: unique, not unguessable, so no ``os.urandom`` call (which releases
    the GIL, and on /recommend the event loop then queued behind a database thread)."""
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


def _is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type, whatever its parameters."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type) and any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        # FastAPI reads a JSON body only when it is labelled JSON; otherwise the message would
        # be "Input should be a valid dictionary", which does not say what to change.
        got = f"Content-Type: {content_type}" if content_type else "no Content-Type"
        return JSONResponse(
            {"detail": f"request body: send it as JSON with Content-Type: application/json "
                       f"(got {got})",
             "errors": [{"loc": ["header", "content-type"], "msg": "not JSON",
                         "type": "content_type"}]},
            status_code=422,
        )
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
#: A database failure's kind -> the client's message and ``Retry-After`` seconds.
DATABASE_PROBLEMS = {
    "busy": (DATABASE_BUSY, 1),
    "read-only": (DATABASE_READ_ONLY, 30),
    "full": (DATABASE_FULL, 60),
    "unavailable": (DATABASE_UNAVAILABLE, 5),
}


def database_problem(exc: Exception) -> str:
    """What kind of database failure ``exc`` is: a key of ``DATABASE_PROBLEMS``."""
    reason = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, PoolTimeoutError) or "locked" in reason or "busy" in reason:
        return "busy"
    if "readonly" in reason or "read-only" in reason:
        return "read-only"
    if "full" in reason or "no space" in reason:  # SQLITE_FULL; PostgreSQL's ENOSPC
        return "full"
    return "unavailable"


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    kind = database_problem(exc)
    message, retry_after = DATABASE_PROBLEMS[kind]
    DATABASE_ERRORS.labels(kind).inc()
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


#: A write that broke a database constraint: in practice, a write racing the deletion of its
#: account (the token was checked just before the delete committed).
WRITE_CONFLICT = (
    "Nothing was saved: the change clashed with another made at the same moment (for "
    "example, the account being deleted). Reload and try again."
)


async def _write_conflict(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "constraint failed on %s %s [request_id=%s]: %s",
        request.method,
        request.url.path,
        request_id_of(request),
        getattr(exc, "orig", None) or type(exc).__name__,
    )
    return JSONResponse({"detail": WRITE_CONFLICT}, status_code=409)


def install_error_handling(app: FastAPI) -> None:
    """Register the JSON error handlers and the request-id middleware on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    # PostgreSQL reports a read-only transaction (a standby) as an InternalError.
    for error in (OperationalError, InternalError, PoolTimeoutError):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(IntegrityError, _write_conflict)
    app.add_middleware(RequestEnvelopeMiddleware)
