"""Abuse limits: a cap on request body size, and rate limits shared by every replica.

Both answer with the contract's JSON error shape: 413 for a body over the cap, 429 with
``Retry-After`` for a user writing faster than a person could or an address signing up more
than a household would.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Literal

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import RATE_LIMITED
from api.settings import Settings
from db import repository


def body_too_large(max_bytes: int) -> str:
    return f"Request body too large: the limit is {max_bytes} bytes."


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before they are buffered: a declared
    ``Content-Length`` at once, a chunked body at its first byte over."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: (path pattern, cap) for the few routes that take files (POST /users/{id}/import).
        self.larger = tuple(larger)

    def _cap(self, scope: Scope) -> int:
        path = scope.get("path", "")
        return next((cap for pattern, cap in self.larger if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._cap(scope)
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            response = JSONResponse(
                {"detail": body_too_large(max_bytes)},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Raised inside the body read, so FastAPI turns it into the JSON 413.
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE, body_too_large(max_bytes)
                    )
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before we see it
    return None


_SECONDS = {"minute": 60.0, "hour": 3600.0}
_ARTICLE = {"minute": "a", "hour": "an"}


class RateLimiter:
    """A rate limit kept in the database, so that every API process shares it.

    GCRA (a token bucket written as one timestamp per subject): ``burst`` actions at once, then
    ``rate`` a ``per``. The state is one row in ``rate_limits``, updated atomically inside the
    caller's write transaction (``db.repository.take_rate_token``): N replicas still grant the
    allowance once, and a refused request writes nothing. ``rate == 0`` disables the limit.
    ``scope`` prefixes the subjects' keys and names the action in the 429's message.
    """

    def __init__(
        self,
        scope: str,
        rate: float,
        burst: int,
        *,
        per: Literal["minute", "hour"] = "minute",
        clock: Callable[[], float] = time.time,
        prune_every: int = 1000,
    ) -> None:
        self.scope = scope
        self.rate = rate
        self.per = per
        self.burst = burst
        self._clock = clock
        self._prune_every = prune_every
        self._calls = itertools.count(1)

    def wait(self, session: Session, subject: object) -> float:
        """Spend one action of ``subject``'s allowance: 0.0 if allowed, else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        interval = _SECONDS[self.per] / self.rate
        if next(self._calls) % self._prune_every == 0:  # idle subjects' rows, now meaningless
            repository.prune_rate_limits(session, now)
        return repository.take_rate_token(
            session,
            f"{self.scope}:{subject}",
            now=now,
            interval=interval,
            tolerance=(self.burst - 1) * interval,
        )

    def check(self, session: Session, subject: object, what: str) -> None:
        """Raise 429 with ``Retry-After`` when ``subject`` acts too fast (``what``: who it is)."""
        wait = self.wait(session, subject)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise too_many(
                self.scope,
                f"Too many {self.scope}s {what}: at most {self.burst} in a burst and "
                f"{self.rate:g} {_ARTICLE[self.per]} {self.per}. Retry in {seconds} s.",
                seconds,
            )


def too_many(limit: str, detail: str, seconds: int) -> HTTPException:
    """A 429 asking to retry in ``seconds`` (``Retry-After``), counted as refused by ``limit``."""
    RATE_LIMITED.labels(limit).inc()
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=detail,
        headers={"Retry-After": str(seconds)},
    )


def spend_all(session: Session, limit: str, what: str, *spends: tuple[RateLimiter, str]) -> None:
    """Spend one action from each (bucket, subject), right or wrong; 429 if any is used up."""
    wait = max(limiter.wait(session, subject) for limiter, subject in spends)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise too_many(limit, f"{what}; retry in {seconds} s.", seconds)


class SignInLimiter:
    """Password guesses allowed, in the shared buckets: per (username, address) at
    ``CINEMATCH_SIGNIN_LIMIT_*``; per username ``USERNAME_FACTOR`` times looser (many addresses
    guessing one account are bounded, yet a stranger cannot use up the owner's allowance); per
    address ``ADDRESS_FACTOR`` times looser (one address spraying usernames). Every attempt
    counts before the password is checked, so a refusal tells a guesser nothing.
    """

    USERNAME_FACTOR = 10
    ADDRESS_FACTOR = 4

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        def bucket(factor: int) -> RateLimiter:
            return RateLimiter("sign-in", factor * rate_per_minute, factor * burst)

        self.per_pair = bucket(1)
        self.per_username = bucket(self.USERNAME_FACTOR)
        self.per_address = bucket(self.ADDRESS_FACTOR)

    def check(self, session: Session, username_key: str, address: str) -> None:
        """Raise 429 with ``Retry-After`` when any of the three allowances is used up."""
        spend_all(
            session,
            "sign-in",
            "Too many sign-in attempts",
            (self.per_address, f"address:{address}"),
            (self.per_pair, f"pair:{username_key}@{address}"),
            (self.per_username, f"username:{username_key}"),
        )


class CredentialsLimiter:
    """Password changes (each an argon2 hash, ~50 ms of a core) per user and per address, at
    the sign-in rate: setting a password costs what a sign-in costs."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        factor = SignInLimiter.ADDRESS_FACTOR
        self.per_user = RateLimiter("credential", rate_per_minute, burst)
        self.per_address = RateLimiter("credential", factor * rate_per_minute, factor * burst)

    def check(self, session: Session, user_id: int, address: str) -> None:
        spend_all(
            session,
            "credential",
            "Too many password changes",
            (self.per_address, f"address:{address}"),
            (self.per_user, f"user:{user_id}"),
        )


def user_limit_keys(user_id: int, username_key: str | None) -> tuple[list[str], list[str]]:
    """The rate-limit rows that are one user's, (exact keys, key prefixes): deleting an
    account deletes them too."""
    keys = [f"write:{user_id}", f"credential:user:{user_id}"]
    prefixes = []
    if username_key is not None:
        keys.append(f"sign-in:username:{username_key}")
        prefixes.append(f"sign-in:pair:{username_key}@")
    return keys, prefixes


def rating_count_within_cap(
    session: Session, user_id: int, settings: Settings, prefix: str = ""
) -> int:
    """How many ratings the user now holds; 409 (the write rolls back) past the cap."""
    total = repository.count_user_ratings(session, user_id)
    cap = settings.max_ratings_per_user
    if total > cap:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{prefix}user {user_id} would hold {total} ratings; the limit is {cap} per user",
        )
    return total
