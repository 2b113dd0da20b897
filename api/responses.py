"""OpenAPI documentation of error responses, so /docs shows every failure with an example."""

from __future__ import annotations

from typing import Any

from api.schemas import ErrorOut, ValidationErrorOut

_DESCRIPTIONS = {
    401: "Missing or malformed bearer token.",
    403: "The token belongs to another user.",
    404: "Not found.",
    422: "Invalid input; `detail` says which field and why.",
    503: "The database is unavailable; retry shortly.",
}

MISSING_TOKEN = (
    "Missing or malformed token: send 'Authorization: Bearer <token>' "
    "with the token POST /users returned."
)
WRONG_TOKEN = "this token does not belong to user 1"
UNKNOWN_USER = "user 1 not found"


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
    """The 401/403/404 every per-user route can answer, with ``examples`` added or overriding."""
    return error_responses(
        {401: MISSING_TOKEN, 403: WRONG_TOKEN, 404: UNKNOWN_USER, **(examples or {})}
    )
