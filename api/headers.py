"""Headers every response needs, whatever route or error produced it.

* ``X-Content-Type-Options: nosniff`` on every response: a browser must never guess a type
  other than the one sent (e.g. run an error body as a script).
* ``Cache-Control: no-store`` on every response that carries a token (sign-up: the route
  declares it with the ``no_store`` dependency) and on every answer to a request that carried
  one (``Authorization``): a user's ratings, list and statistics are theirs alone, so no
  browser, proxy or CDN may keep a copy.

Where they are added: ``with_security_headers`` runs in ``api.errors.RequestEnvelopeMiddleware``,
which already rewrites every response's head (its request id), so every route, error, 404 and
413 gets them in the one send wrapper; a middleware of their own cost /recommend a layer and a
second rewrite (~4 µs of server CPU per request, bench/db_contention.py case 3). The CORS
preflights that ``CORSMiddleware`` answers before the request reaches that middleware get
``nosniff`` from ``NosniffCORSMiddleware``; the front door (``api.frontdoor``) adds it to the
few answers it writes itself.
"""

from __future__ import annotations

from fastapi import Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Scope

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = "no-store"
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, NO_STORE.encode())


async def no_store(response: Response) -> None:
    """Route dependency for a response that carries a token: never stored by any cache."""
    response.headers["Cache-Control"] = NO_STORE


def is_private(scope: Scope) -> bool:
    """Whether the request carried a token: its answer is no one else's."""
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


def with_security_headers(
    headers: list[tuple[bytes, bytes]], *, private: bool
) -> list[tuple[bytes, bytes]]:
    """A response head's headers plus ``nosniff``, and ``no-store`` (replacing any other
    ``Cache-Control``) when the request was ``private``."""
    if private:
        return [
            *(pair for pair in headers if pair[0].lower() != _CACHE_CONTROL),
            NOSNIFF,
            _NO_STORE,
        ]
    return [*headers, NOSNIFF]


class NosniffCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware whose preflight answers (which it writes itself, before any
    inner middleware sees the request) also say ``nosniff``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.preflight_headers["X-Content-Type-Options"] = NOSNIFF[1].decode()
