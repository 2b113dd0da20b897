"""Run the API as deployed: ``python -m api.server [uvicorn options]``.

Stock uvicorn: ``uvicorn --factory api.main:app_from_environment --http h11
--no-proxy-headers``. h11, because it refuses a request head over 16 kB, which httptools does
not; slow clients are the edge's job (deploy/nginx.conf). With several workers their
Prometheus metrics share one folder. Every other option is uvicorn's own (``--help``).
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
    """uvicorn's arguments: ours first, then the caller's (which win: click keeps the last
    value). ``--no-proxy-headers``: which proxies to believe is ``CINEMATCH_TRUSTED_PROXIES``."""
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
