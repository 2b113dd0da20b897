"""Headers every response needs, whatever route or error produced it.

* ``X-Content-Type-Options: nosniff`` on every response: a browser must never guess a type
  other than the one sent (e.g. run an error body as a script).
* ``Cache-Control: no-store`` on every response that carries a token (sign-up: the route
  declares it with the ``no_store`` dependency) and on every answer to a request that carried
  one (``Authorization``): a user's ratings, list and statistics are theirs alone, so no
  browser, proxy or CDN may keep a copy.

The front door (``api.frontdoor``) adds ``nosniff`` to the few answers it writes itself.
"""

from __future__ import annotations

from fastapi import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = "no-store"
_CACHE_CONTROL = b"cache-control"


async def no_store(response: Response) -> None:
    """Route dependency for a response that carries a token: never stored by any cache."""
    response.headers["Cache-Control"] = NO_STORE


class ResponseHeadersMiddleware:
    """Add ``nosniff`` to every response, and ``no-store`` to answers to authorised requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = any(name == b"authorization" for name, _ in scope.get("headers", ()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if not (private and name.lower() == _CACHE_CONTROL)
                ]
                headers.append(NOSNIFF)
                if private:
                    headers.append((_CACHE_CONTROL, NO_STORE.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
