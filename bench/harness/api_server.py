"""Run the CineMatch API (``python -m api.server``) in its own process on 127.0.0.1.

Benchmarks and the reliability tests drive the real server the way a deployment runs it: a
separate process, a real socket, a SQLite file. ``ApiServer`` starts it on a free loopback
port, waits for ``/health``, and stops it gently (SIGTERM) or brutally (SIGKILL, for the crash
test); it can be started again on the same database. The server's output goes to a log file
whose tail is quoted if it fails to start. Only loopback addresses are ever used.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
#: Settings for capacity runs: many sign-ups from 127.0.0.1 and raters writing far faster than
#: a person, so the per-address sign-up limit and the per-user write limit are off.
UNLIMITED = {"CINEMATCH_WRITE_LIMIT_PER_MINUTE": "0", "CINEMATCH_SIGNUP_LIMIT_PER_HOUR": "0"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    token: str | None = None


def _port_slot() -> tuple[int, int]:
    """(this process's slot, number of slots): under pytest-xdist each worker (``gw0``,
    ``gw1``...) is a slot; otherwise there is one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return 0, 1
    return int(worker[2:]) % count, count


def free_port() -> int:
    """A loopback port nothing listens on now, for a server about to start.

    The port is released before the server binds it, so two processes probing at once could
    be handed the same one. Parallel test workers therefore take disjoint ports: worker k of
    n keeps only ports with ``(port // 2) % n == k`` (halved, as the kernel tends to hand
    ``bind`` ports of one parity)."""
    slot, slots = _port_slot()
    for _ in range(64 * slots):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if (port // 2) % slots == slot:
            return port
    raise RuntimeError(f"no free loopback port for worker slot {slot} of {slots}")


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes]:
    """One request on a keep-alive connection; (status, body)."""
    headers = {"Content-Type": "application/json"} if request.body is not None else {}
    if request.token:
        headers["Authorization"] = f"Bearer {request.token}"
    conn.request(request.method, request.path, body=request.body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one keep-alive socket, for load generation.

    Why not ``http.client``: it parses every response's headers with the ``email`` package,
    ~0.1 ms of Python per request, and the load generator shares the machine's two cores with
    the server it measures, so its own cost showed up as server latency. This one writes
    prebuilt request bytes and reads a ``Content-Length`` body (every CineMatch response has
    one); anything else is an error, never a guess.
    """

    def __init__(self, port: int, timeout: float = 30) -> None:
        self._sock = socket.create_connection((HOST, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    @staticmethod
    def encode(request: Request) -> bytes:
        """The request's bytes on the wire (build them before the clock starts)."""
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {HOST}"]
        if request.token:
            lines.append(f"Authorization: Bearer {request.token}")
        body = request.body or b""
        if request.body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def exchange(self, wire: bytes) -> tuple[int, bytes]:
        """Send one encoded request and read its response; (status, body)."""
        self._sock.sendall(wire)
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.split(b"\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {status_line!r}")
        while len(self._buffer) < length:
            self._receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return int(status_line.split()[1]), body

    def _receive(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        self._sock.close()


def call(port: int, request: Request, timeout: float = 10) -> tuple[int, bytes]:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        return send(conn, request)
    finally:
        conn.close()


def call_json(port: int, request: Request, expect: int = 200) -> dict:
    status, body = call(port, request)
    if status != expect:
        raise RuntimeError(f"{request.method} {request.path}: {status} {body[:200]!r}")
    return json.loads(body)


def sign_up(port: int) -> tuple[int, str]:
    """A new user through ``POST /users``: (user id, bearer token)."""
    created = call_json(port, Request("POST", "/users"), expect=201)
    return int(created["user_id"]), str(created["token"])


def export_release(commit: str, into: Path) -> Path:
    """The files of ``commit`` (code and shipped model) in ``into``, via git archive: a
    checkout that ``ApiServer(repo=into)`` can serve beside this one."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


class ServerFailed(RuntimeError):
    """The API process exited or never became healthy; the message quotes its log."""


class ApiServer:
    """One uvicorn process serving ``model_dir`` from the SQLite file ``database``.

    ``env`` adds or overrides environment variables (settings such as
    ``CINEMATCH_WRITE_LIMIT_PER_MINUTE``). ``access_log`` keeps the API's JSON access lines
    (one per request) in the log; benchmarks that measure latency turn it off.
    """

    def __init__(
        self,
        model_dir: Path,
        database: Path,
        *,
        log_path: Path | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
        access_log: bool = False,
        log_level: str = "warning",
        database_url: str | None = None,
        port: int | None = None,
        repo: Path = REPO,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.database = Path(database)
        #: Another database (PostgreSQL) instead of the SQLite file; ``database`` then only
        #: names the log file.
        self.database_url = database_url or f"sqlite:///{self.database}"
        self.log_path = log_path or self.database.with_suffix(".server.log")
        self.workers = workers
        self.extra_env = dict(env or {})
        self.access_log = access_log
        self.log_level = log_level
        self.port = port or free_port()
        #: The code to serve: this checkout, or another release exported for a comparison.
        self.repo = Path(repo)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def command(self) -> list[str]:
        """How a replica is launched (the one place to change it): the launcher
        (``api.server``), or plain uvicorn for an older release that has none (benchmarks
        against it).
        ``--no-proxy-headers``: uvicorn would otherwise trust ``X-Forwarded-For`` from
        127.0.0.1 on its own; the app decides which proxies count
        (``CINEMATCH_TRUSTED_PROXIES``)."""
        entry = (
            ["-m", "api.server"]
            if (self.repo / "api" / "server.py").exists()
            else ["-m", "uvicorn", "api.main:app"]
        )
        return [
            sys.executable, *entry,
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", self.log_level, "--no-proxy-headers",
            *([] if self.access_log else ["--no-access-log"]),
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "CINEMATCH_MODEL_DIR": str(self.model_dir),
            "DATABASE_URL": self.database_url,
            "CINEMATCH_CREATE_DB": "true",
            **self.extra_env,
        }

    def start(self, timeout: float = 60) -> ApiServer:
        """Start the process (same port and database as before) and wait until it is healthy."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError("the server is already running")
        self.database.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.repo,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so that a kill reaches every worker it forked.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise ServerFailed(
                    f"uvicorn exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                if call(self.port, Request("GET", "/health"), timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerFailed(f"uvicorn was not healthy within {timeout:g} s")
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it lingers; the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, as in a crash or an OOM kill."""
        process, self._process = self._process, None
        if process is not None:
            _kill_group(process)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and the workers it forked (its own process group), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
