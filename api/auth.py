"""Bearer tokens: issued at sign-up and at each sign-in, stored only as SHA-256.

A token is 32 random bytes, so a fast unsalted hash is enough, and the database holds nothing
a thief could replay. A user may hold several tokens (one per device), each revocable, its
last use recorded (``db.token_use``); the check looks the presented hash up (a unique index).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from db import repository
from db.token_use import record_token_use

TOKEN_BYTES = 32
MISSING_TOKEN = (
    "Missing or malformed token: send 'Authorization: Bearer <token>' "
    "with the token POST /users returned."
)


class BearerScheme(HTTPBearer):
    """``Authorization: Bearer <token>`` → the token, or 401 when it is missing or malformed.

    One dependency that is also the OpenAPI security scheme (Swagger's *Authorize* button);
    a plain function depending on ``HTTPBearer`` would cost FastAPI a second dependency to
    solve on every authenticated request.
    """

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        # HTTPBearer's own parsing, without the credentials model it builds on every request.
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "bearer" or not token:
            raise unauthorized(MISSING_TOKEN)
        return token


def unauthorized(detail: str) -> HTTPException:
    """A 401 that asks for a bearer token."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


bearer_scheme = BearerScheme(
    auto_error=False,
    scheme_name="BearerToken",
    description="The `token` that `POST /users` returned, sent as `Authorization: Bearer <token>`.",
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in ``tokens.token_hash``."""
    return hashlib.sha256(token.encode()).hexdigest()


BearerToken = Annotated[str, Depends(bearer_scheme)]


def authorize(session: Session, user_id: int, token: str) -> int:
    """Allow the request only if ``token`` is one of ``user_id``'s live tokens; returns the
    token's id. The token is looked up alone, before anything about ``user_id``: 401 when it
    is unknown or revoked, 403 when it is another user's, so no answer tells whether a user
    id exists."""
    found = repository.live_token(session, hash_token(token))
    token_id = check_token(found, user_id)
    record_token_use(session.get_bind().engine, token_id)
    return token_id


def authorized_ratings(
    connection: Connection, user_id: int, token: str
) -> tuple[dict[int, float], repository.Excluded]:
    """``authorize`` and, from the same statement, the user's ratings and the films they hid
    or skipped (/recommend, on a ``db.session.read_connection``)."""
    found, ratings, excluded = repository.token_ratings_and_excluded(
        connection, hash_token(token), user_id
    )
    token_id = check_token(found, user_id)
    record_token_use(connection.engine, token_id)
    return ratings, excluded


UNKNOWN_TOKEN = "this token is unknown or revoked: sign in again (POST /sessions)"


def check_token(found: tuple[int, int] | None, user_id: int) -> int:
    """The token id when the live token ``found`` ((token id, owner) or None) is the user's;
    401 when there is no live token, 403 when it is another user's."""
    if found is None:
        raise unauthorized(UNKNOWN_TOKEN)
    token_id, owner = found
    if owner != user_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this token does not belong to user {user_id}"
        )
    return token_id
