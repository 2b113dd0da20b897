"""Bearer tokens: issued once at sign-up, stored only as SHA-256, compared in constant time.

A token is 32 random bytes (``secrets.token_urlsafe``), so a fast unsalted hash is enough: there
is nothing to brute-force, and the database never holds anything a thief could replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from db import repository
from db.snapshot import SnapshotReader, UserSnapshot

TOKEN_BYTES = 32


class BearerScheme(HTTPBearer):
    """``Authorization: Bearer <token>`` → the token, or 401 when it is missing or malformed.

    One dependency that is also the OpenAPI security scheme (Swagger's *Authorize* button);
    a plain function depending on ``HTTPBearer`` would cost FastAPI a second dependency to
    solve on every authenticated request.
    """

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Missing or malformed token: send 'Authorization: Bearer <token>' "
                "with the token POST /users returned.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return credentials.credentials


bearer_scheme = BearerScheme(
    auto_error=False,
    scheme_name="BearerToken",
    description="The `token` that `POST /users` returned, sent as `Authorization: Bearer <token>`.",
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in ``users.token_hash``."""
    return hashlib.sha256(token.encode()).hexdigest()


BearerToken = Annotated[str, Depends(bearer_scheme)]


def authorize(session: Session, user_id: int, token: str) -> None:
    """Allow the request only if ``token`` is ``user_id``'s: 404 unknown user, 403 otherwise."""
    check_token(repository.user_token_hash(session, user_id), user_id, token)


def authorized_snapshot(snapshots: SnapshotReader, user_id: int, token: str) -> UserSnapshot:
    """The user's token check and ratings from one query (``db.snapshot``), for the reads
    that need the ratings anyway (/recommend, /stats)."""
    snapshot = snapshots.read(user_id)
    check_token(None if snapshot is None else snapshot.token_hash, user_id, token)
    assert snapshot is not None  # check_token raised otherwise
    return snapshot


def check_token(stored: str | None, user_id: int, token: str) -> None:
    """``authorize`` for a token hash already read (None: no such user)."""
    if stored is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"user {user_id} not found"
        )
    if not hmac.compare_digest(stored, hash_token(token)):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"this token does not belong to user {user_id}",
        )
