"""Run the API as deployed: ``python -m api.server [uvicorn options]``.

This is stock uvicorn: ``uvicorn --factory api.main:app_from_environment --http h11
--no-proxy-headers``. The h11 protocol is chosen because it keeps a limit on the request head
(``h11_max_incomplete_event_size``, 16 kB: a larger head gets 400 and the connection is
closed), which the httptools protocol does not have. Slow clients and bodies are the edge's
job: nginx in deploy/ (``client_header_timeout``, ``client_body_timeout``,
``large_client_header_buffers``, ``client_max_body_size``), or the platform's proxy on a
container host. With several workers, their Prometheus metrics are shared through one folder
(``share_metrics_between_workers``). Every other option is uvicorn's own and passes through
unchanged: ``--host``, ``--port``, ``--workers``, ``--http``, ``--log-level``... (``python -m
api.server --help``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from uvicorn.main import main as uvicorn_command

#: prometheus-client's multiprocess folder (``api.metrics``); not imported from there, so that
#: the supervisor never loads prometheus-client before the variable is set.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The factory uvicorn calls for the ASGI app (``--factory``; settings from the environment).
APP = "api.main:app_from_environment"
#: uvicorn's h11 protocol: slower to parse than httptools, but it refuses heads over 16 kB.
HTTP = "h11"


def command_line(argv: Sequence[str]) -> list[str]:
    """uvicorn's arguments: the app, the HTTP protocol and our defaults first, then the
    caller's options (which win: click keeps the last value of an option).

    ``--no-proxy-headers``: uvicorn would otherwise believe ``X-Forwarded-For`` from any
    process on 127.0.0.1; which proxies to believe is the app's setting
    (``CINEMATCH_TRUSTED_PROXIES``), applied in one place.
    """
    return [APP, "--factory", "--http", HTTP, "--no-proxy-headers", *argv]


def workers_of(argv: Sequence[str]) -> int:
    """How many worker processes uvicorn will start: ``--workers N`` (the last one given), else
    ``WEB_CONCURRENCY``, else one."""
    workers = os.environ.get("WEB_CONCURRENCY", "1")
    for i, arg in enumerate(argv):
        if arg == "--workers" and i + 1 < len(argv):
            workers = argv[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
    try:
        return int(workers)
    except ValueError:
        return 1  # uvicorn reports the bad value itself


def share_metrics_between_workers(workers: int) -> None:
    """With several workers, give them one fresh ``PROMETHEUS_MULTIPROC_DIR`` (inherited by
    every worker, which then writes its metrics there; ``/metrics`` adds them up). Set before
    any worker starts; an operator's own folder is kept."""
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        folder = tempfile.mkdtemp(prefix="cinematch-metrics-")
        os.environ[MULTIPROC_ENV] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    given = sys.argv[1:] if argv is None else list(argv)
    share_metrics_between_workers(workers_of(given))
    arguments = command_line(given)
    uvicorn_command.main(args=arguments, prog_name="python -m api.server")  # click's entry


if __name__ == "__main__":
    main()
