"""Run the API as deployed: ``python -m api.server [uvicorn options]``.

This is ``uvicorn --factory api.main:app_from_environment`` with CineMatch's HTTP protocol
(``api.frontdoor``), which limits request heads to 16 kB (431), cuts off clients that send
their head or body too slowly (408), and lets a client read a 413 it got while still sending.
Every other option is uvicorn's own and passes through unchanged: ``--host``, ``--port``,
``--workers``, ``--log-level``, ``--no-access-log``... (``python -m api.server --help``).

A plain ``uvicorn --factory api.main:app_from_environment`` still serves the API, without
those protections; the Dockerfile, ``make run`` and the tests all start it through here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from uvicorn.main import main as uvicorn_command

#: The factory uvicorn calls for the ASGI app (``--factory``; settings from the environment).
APP = "api.main:app_from_environment"
#: uvicorn's httptools protocol plus the front-door limits.
PROTOCOL = "api.frontdoor:FrontDoorProtocol"


def command_line(argv: Sequence[str]) -> list[str]:
    """uvicorn's arguments: the app, the protocol and our defaults first, then the caller's
    options (which win: click keeps the last value of an option).

    ``--no-proxy-headers``: uvicorn would otherwise believe ``X-Forwarded-For`` from any
    process on 127.0.0.1; which proxies to believe is the app's setting
    (``CINEMATCH_TRUSTED_PROXIES``), applied in one place.
    """
    return [APP, "--factory", "--http", PROTOCOL, "--no-proxy-headers", *argv]


def main(argv: Sequence[str] | None = None) -> None:
    arguments = command_line(sys.argv[1:] if argv is None else argv)
    uvicorn_command.main(args=arguments, prog_name="python -m api.server")  # click's entry


if __name__ == "__main__":
    main()
