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
from db import repository


def body_too_large(max_bytes: int) -> str:
    return f"Request body too large: the limit is {max_bytes} bytes."


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before they are buffered.

    A declared ``Content-Length`` over the cap is refused without reading anything; a body
    sent without one (chunked) is counted as it arrives and refused at the first byte over.
    """

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
                        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                        detail=body_too_large(max_bytes),
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

    GCRA (the "generic cell rate algorithm", a token bucket written as one timestamp per
    subject): ``burst`` actions at once, then ``rate`` a ``per`` (minute or hour). The state
    is one row in ``rate_limits`` (``db.repository.take_rate_token``), updated atomically inside
    the caller's write transaction, so with N replicas a subject still gets the allowance once,
    not N times, and a refused request writes nothing. ``rate == 0`` disables the limit.
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

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def wait(self, session: Session, subject: object) -> float:
        """Spend one action of ``subject``'s allowance: 0.0 if allowed, else seconds to wait."""
        if not self.enabled:
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
            RATE_LIMITED.labels(self.scope).inc()
            seconds = max(1, math.ceil(wait))
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"Too many {self.scope}s {what}: at most {self.burst} in a burst "
                f"and {self.rate:g} {_ARTICLE[self.per]} {self.per}. Retry in {seconds} s.",
                headers={"Retry-After": str(seconds)},
            )


class SignInLimiter:
    """Password guesses allowed, in the shared database buckets, keyed three ways.

    * per (username, address), tightly (``CINEMATCH_SIGNIN_LIMIT_*``): one guesser at one
      address gets a few tries a minute at one account;
    * per username, loosely (``USERNAME_FACTOR`` times that): guessing from many addresses
      at once is still bounded, yet a stranger at one address cannot use up the owner's
      allowance, so the owner signs in from their own address;
    * per address (``ADDRESS_FACTOR`` times that): one address spraying many usernames.

    Every attempt counts, right or wrong, before the password is checked: a guesser learns
    nothing from being refused, and a person who mistypes a few times waits a minute.
    """

    #: How much looser the per-username and per-address buckets are than the pair's.
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
        wait = max(
            self.per_address.wait(session, f"address:{address}"),
            self.per_pair.wait(session, f"pair:{username_key}@{address}"),
            self.per_username.wait(session, f"username:{username_key}"),
        )
        if wait > 0:
            raise too_many("sign-in", "Too many sign-in attempts", wait)


def user_limit_keys(user_id: int, username_key: str | None) -> tuple[list[str], list[str]]:
    """The rate-limit rows that are one user's: (exact keys, key prefixes). Deleting an
    account deletes them, so nothing of it, not even its limits, outlives it."""
    keys = [f"write:{user_id}", f"credential:user:{user_id}"]
    prefixes = []
    if username_key is not None:
        keys.append(f"sign-in:username:{username_key}")
        prefixes.append(f"sign-in:pair:{username_key}@")
    return keys, prefixes


def too_many(limit: str, what: str, wait: float) -> HTTPException:
    """A 429 saying ``what`` and when to retry (``Retry-After``, whole seconds, at least 1),
    counted as a refusal by ``limit``."""
    RATE_LIMITED.labels(limit).inc()
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{what}; retry in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


class CredentialsLimiter:
    """Password changes (each one an argon2 hash, ~50 ms of a core) allowed per user and per
    address, in the shared buckets, at the sign-in rate: setting a password costs what a
    sign-in costs."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.per_user = RateLimiter("credential", rate_per_minute, burst)
        self.per_address = RateLimiter(
            "credential", SignInLimiter.ADDRESS_FACTOR * rate_per_minute,
            SignInLimiter.ADDRESS_FACTOR * burst,
        )

    def check(self, session: Session, user_id: int, address: str) -> None:
        wait = max(
            self.per_address.wait(session, f"address:{address}"),
            self.per_user.wait(session, f"user:{user_id}"),
        )
        if wait > 0:
            raise too_many("credential", "Too many password changes", wait)
