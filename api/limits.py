"""Abuse limits: a cap on request body size, and a per-user rate limit on writes.

Both answer with the contract's JSON error shape: 413 for a body over the cap, 429 with
``Retry-After`` for a user writing faster than a person could.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class WriteRateLimiter:
    """A token bucket per user: ``burst`` writes at once, refilled at ``per_minute``.

    A person rating films by hand makes a write every few seconds at most; a script writing
    for one user in a tight loop is refused with 429 until the bucket refills. Counted only
    after the token check, so nobody can use up another user's allowance. The buckets of
    the least recently active users are dropped past ``max_users`` (a dropped bucket simply
    starts full again). Per process: with N workers a user can get up to N times the rate.
    ``per_minute == 0`` disables the limit.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_users: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._per_second = per_minute / 60.0
        self._max_users = max_users
        self._clock = clock
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def acquire(self, user_id: Hashable) -> float:
        """Take one write from ``user_id``'s allowance: 0.0 if allowed, else seconds to wait.
        (Any hashable key works: the sign-in limiter counts per username and per address.)"""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
                while len(self._buckets) > self._max_users:
                    self._buckets.popitem(last=False)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self._per_second)
                bucket.updated = now
                self._buckets.move_to_end(user_id)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._per_second

    def check(self, user_id: int) -> None:
        """Raise 429 with ``Retry-After`` when ``user_id`` is writing too fast."""
        wait = self.acquire(user_id)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"Too many changes for user {user_id}: at most {self.burst} in a burst "
                f"and {self.per_minute:g} a minute. Retry in {seconds} s.",
                headers={"Retry-After": str(seconds)},
            )


class SignInLimiter:
    """Password guesses allowed per username and per client address (token buckets).

    Every attempt counts, right or wrong, before the password is checked: a guesser learns
    nothing from being refused, and a person who mistypes a few times waits a minute.
    """

    def __init__(self, per_username: WriteRateLimiter, per_address: WriteRateLimiter) -> None:
        self.per_username = per_username
        self.per_address = per_address

    def check(self, username_key: str, address: str) -> None:
        """Raise 429 with ``Retry-After`` when either allowance is used up."""
        wait = max(
            self.per_address.acquire(("address", address)),
            self.per_username.acquire(("username", username_key)),
        )
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"Too many sign-in attempts; retry in {seconds} s.",
                headers={"Retry-After": str(seconds)},
            )
