"""Fixtures for the browser test: Debian's Chromium, and the API + UI as real subprocesses.

Playwright cannot download its own browser here, so the test drives the ``chromium`` on PATH.
Without it the test is skipped on a developer's machine, but in CI (``CI`` set) a missing
browser is a failure: a green CI run must mean the browser test actually ran.

Both servers listen on free loopback ports, use a database in a temporary folder and the
shipped model in ``models/``, and are stopped in teardown whatever the test's outcome.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from bench.harness.api_server import free_port

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "screenshots"

#: Cold starts on a busy 2-core machine: loading the 10k-film model, importing Streamlit.
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0

#: As scripts/run_app.sh starts them (`make run`), minus the fixed ports.
API_COMMAND = ("-m", "api.server", "--host", "127.0.0.1", "--log-level", "warning")
UI_COMMAND = (
    *("-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1"),
    *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
    # Nothing edits the code during the test; skip the watcher's CPU on a 2-core box.
    *("--server.fileWatcherType", "none"),
)

#: A distro Chromium in a container: no sandbox or GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


def running_in_ci() -> bool:
    """``CI=true`` (GitHub, GitLab, …); ``CI=false`` or ``CI=0`` count as a local run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The ``chromium`` on PATH; skipped locally without it, a failure in CI."""
    path = shutil.which("chromium")
    if path is not None:
        return path
    return _unavailable("chromium is not on PATH (`make browser`, or apt-get install chromium)")


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, where the browser test must run."""
    if running_in_ci():
        pytest.fail(f"CI is set, so the browser test must run, but {reason}.", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[Any]:
    """One headless Chromium for the session, closed in teardown."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "the playwright package is not installed (make setup installs it)"
        )

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass(frozen=True)
class CineMatchApp:
    """The running pair: where the UI and the API answer."""

    ui: Server
    api: Server


def start_server(
    name: str, args: list[str], *, port: int, env: dict[str, str], log_dir: Path
) -> Server:
    log = log_dir / f"{name}.log"
    with log.open("wb") as sink:
        # A session of its own, so teardown can stop the server and anything it spawned.
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)


def stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=STOP_TIMEOUT_S)


def wait_healthy(server: Server, path: str, deadline: float) -> None:
    """Poll ``path`` until it answers 200; fail at once if the server died."""
    url = server.url + path
    while True:
        code = server.process.poll()
        if code is not None:
            pytest.fail(
                f"The {server.name} exited with code {code} before {path} answered.\n"
                f"{server.log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"The {server.name} did not answer {url} within {STARTUP_TIMEOUT_S:.0f} s.\n"
                f"{server.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.25)


@pytest.fixture(scope="module")
def cinematch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CineMatchApp]:
    """The API on the shipped model and a fresh SQLite file, and Streamlit pointed at it."""
    workdir = tmp_path_factory.mktemp("e2e")
    api_port, ui_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # No TMDB: posters are the generated art and the test never touches the network.
        if key not in ("TMDB_API_KEY", "TMDB_READ_TOKEN", "TMDB_API_BASE")
    }
    env.update(
        CINEMATCH_MODEL_DIR=str(REPO / "models"),
        DATABASE_URL=f"sqlite:///{workdir / 'e2e.db'}",
        CINEMATCH_CREATE_DB="true",
        CINEMATCH_API_URL=f"http://127.0.0.1:{api_port}",
        CINEMATCH_CACHE_DIR=str(workdir / "cache"),
        CINEMATCH_CORS_ORIGINS=f"http://127.0.0.1:{ui_port}",
        PYTHONUNBUFFERED="1",
    )
    with ExitStack() as stack:
        # Both start at once (each takes seconds to import); the ExitStack stops whichever
        # started, also when the other fails to come up.
        api = start_server(
            "API",
            [sys.executable, *API_COMMAND, "--port", str(api_port)],
            port=api_port,
            env=env,
            log_dir=workdir,
        )
        stack.callback(stop_server, api)
        ui = start_server(
            "Streamlit UI",
            [sys.executable, *UI_COMMAND, "--server.port", str(ui_port)],
            port=ui_port,
            env=env,
            log_dir=workdir,
        )
        stack.callback(stop_server, ui)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        wait_healthy(api, "/health", deadline)
        wait_healthy(ui, "/_stcore/health", deadline)
        yield CineMatchApp(ui=ui, api=api)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
