"""OpenAPI documentation of error responses, so /docs shows every failure with an example."""

from __future__ import annotations

from typing import Any

from api.auth import MISSING_TOKEN
from api.errors import DATABASE_UNAVAILABLE
from contract.models import ErrorOut, ValidationErrorOut

_DESCRIPTIONS = {
    400: "The body could not be read as JSON text (for example, it is not UTF-8).",
    401: "Missing, malformed, unknown or revoked bearer token.",
    403: "The token belongs to another user (whether or not the user id exists).",
    404: "Not found.",
    409: "Conflict with what is stored (a username already taken, or the user already holds "
    "the most ratings allowed).",
    413: "The request body is over the size limit.",
    422: "Invalid input; `detail` says which field and why.",
    429: "Too many writes for this user (or sign-ups from this address); wait `Retry-After` "
    "seconds.",
    503: "The database is busy, read-only or down; `Retry-After` says when to retry.",
}

WRONG_TOKEN = "this token does not belong to user 1"
TOO_MANY_WRITES = (
    "Too many writes for user 1: at most 30 in a burst and 60 a minute. Retry in 1 s."
)
TOO_MANY_SIGNUPS = (
    "Too many sign-ups from 203.0.113.7: at most 20 in a burst and 20 an hour. Retry in 180 s."
)
TOO_MANY_RATINGS = "user 1 would hold 20001 ratings; the limit is 20000 per user"
#: Only the owner's live token gets this far: a film or entry of theirs that is not there.
UNKNOWN_USER = "not found"
#: FastAPI's answer to a body it cannot even decode (invalid JSON text is a 422 instead).
UNREADABLE_BODY = "There was an error parsing the body"


def error_responses(examples: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``{status: example detail}`` -> FastAPI ``responses=`` entries with schema and example."""
    return {
        code: {
            "model": ValidationErrorOut if code == 422 else ErrorOut,
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"example": {"detail": detail}}},
        }
        for code, detail in examples.items()
    }


def auth_responses(examples: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The 401/403/404/503 every per-user route can answer, plus ``examples`` (which win)."""
    return error_responses(
        {
            401: MISSING_TOKEN,
            403: WRONG_TOKEN,
            404: UNKNOWN_USER,
            503: DATABASE_UNAVAILABLE,
            **(examples or {}),
        }
    )
