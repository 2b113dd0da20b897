"""Headers every response needs, whatever route or error produced it.

* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer`` and a ``Content-Security-Policy`` under which nothing may be loaded, run or
  framed from an API answer. The Swagger UI pages get a policy they work under: scripts and
  styles from this origin, plus the page's own inline script by its SHA-256. HSTS is the TLS
  terminator's (deploy/nginx.conf).
* ``Cache-Control: no-store`` on a response that carries a token (the ``no_store``
  dependency) and on every answer to a request that carried one: no browser, proxy or CDN may
  keep a copy of a user's data.

``api.errors.RequestEnvelopeMiddleware`` adds them in the send wrapper that already rewrites
every response's head (a middleware of their own cost ~4 µs a request). CORS preflights,
answered before that middleware, get ``nosniff`` from ``NosniffCORSMiddleware``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
_CSP = b"content-security-policy"
#: Every API answer: JSON that nothing may load, run or frame.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The Swagger UI pages; {scripts} is the page's own inline scripts' hashes.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: The HTML pages that get ``DOCS_POLICY`` (Swagger UI and its OAuth2 redirect).
DOCS_PAGES = frozenset({"/docs", "/docs/oauth2-redirect"})
SECURITY_HEADERS = (
    NOSNIFF,
    (_CSP, API_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", flags=re.DOTALL)
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
    """A response head's headers plus ``SECURITY_HEADERS``, and ``no-store`` (replacing any
    other ``Cache-Control``) when the request was ``private``."""
    if private:
        return [
            *(pair for pair in headers if pair[0].lower() != _CACHE_CONTROL),
            *SECURITY_HEADERS,
            _NO_STORE,
        ]
    return [*headers, *SECURITY_HEADERS]


def docs_policy(page: bytes) -> bytes:
    """``DOCS_POLICY`` allowing exactly the inline scripts of ``page``."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return DOCS_POLICY.format(scripts=hashes).encode()


def docs_page_sender(send: Send) -> Send:
    """``send`` for a Swagger UI page: its head is held until its body is complete, then sent
    with ``docs_policy`` of that body in place of the API's policy."""
    start: Message | None = None
    body = b""

    async def send_page(message: Message) -> None:
        nonlocal start, body
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        body += message.get("body", b"")
        if message.get("more_body", False):
            return
        policy = docs_policy(body)
        start["headers"] = [
            *(pair for pair in start.get("headers", []) if pair[0].lower() != _CSP),
            (_CSP, policy),
        ]
        await send(start)
        await send({**message, "body": body})

    return send_page


class NosniffCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware whose preflight answers (which it writes itself, before any
    inner middleware sees the request) also say ``nosniff``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.preflight_headers["X-Content-Type-Options"] = NOSNIFF[1].decode()
