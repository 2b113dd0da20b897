"""The front door's cases, against the API as deployed and against plain uvicorn, side by side.

    .venv/bin/python bench/front_door.py [--model-dir models] [--timeout 2] [--quick]

Starts the API twice on 127.0.0.1, each in its own process on a fresh SQLite file: once as
``python -m api.server`` (uvicorn with ``api.frontdoor``), once as plain ``uvicorn --factory
api.main:app_from_environment`` (uvicorn's own httptools protocol, as the service ran before).
Each case opens real sockets: big request heads (17 kB, 1 MB, three 100 MB heads at once,
with the server's resident memory before and after), a connection that sends nothing,
headers and a body sent slowly, and a 12 MB body sent with ``http.client``. The header and
body timeouts are set to ``--timeout`` seconds so the run is short; a connection still open
after ``GIVE_UP_S`` counts as never cut.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness.api_server import HOST, ApiServer

GIVE_UP_S = 15.0
MB = 1024 * 1024


class PlainUvicorn(ApiServer):
    """The API under uvicorn's default protocol, without the front door."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_environment",
            *super().command()[3:],
        ]  # fmt: skip


def peak_resident_mb(pid: int) -> float:
    """The most memory the process has held so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def answer(sock: socket.socket) -> str:
    """The status line the server sent before closing, "closed" if none, "open" if it never
    closed within GIVE_UP_S, "reset" if it reset the connection."""
    sock.settimeout(GIVE_UP_S)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return f"open after {GIVE_UP_S:.0f} s" if not received else status(received) + ", open"
    except ConnectionResetError:
        return "reset" if not received else status(received) + ", then reset"
    return status(received) if received else "closed, no answer"


def status(received: bytes) -> str:
    return received.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=GIVE_UP_S)


def send_head(port: int, header_bytes: int) -> str:
    with connect(port) as sock:
        head = f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nX-Big: ".encode()
        try:
            sock.sendall(head)
            left = header_bytes
            while left > 0:
                sock.sendall(b"a" * min(left, MB))
                left -= MB
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what did it answer?
        return answer(sock)


def three_huge_heads(server: ApiServer) -> str:
    before = peak_resident_mb(server.pid)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(send_head(server.port, 100 * MB)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = peak_resident_mb(server.pid)
    return f"{', '.join(sorted(set(results)))}; peak RSS {before:.0f} → {after:.0f} MB"


def timed(case: Callable[[socket.socket], None], port: int) -> str:
    with connect(port) as sock:
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            case(sock)
        result = answer(sock)
        if result.startswith("open"):
            return result
        return f"{result} after {time.monotonic() - started:.1f} s"


def idle(sock: socket.socket) -> None:
    pass


def trickle(sock: socket.socket, first: bytes, piece: Callable[[int], bytes]) -> None:
    """Send ``first``, then a piece every 0.5 s until the server answers or closes."""
    sock.sendall(first)
    deadline = time.monotonic() + GIVE_UP_S
    n = 0
    while time.monotonic() < deadline:
        if select.select([sock], [], [], 0.5)[0]:
            return  # something to read: an answer, or the close
        n += 1
        sock.sendall(piece(n))


def slow_headers(sock: socket.socket) -> None:
    head = f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n".encode()
    trickle(sock, head, lambda n: f"X-Slow-{n}: {n}\r\n".encode())


def slow_body(sock: socket.socket) -> None:
    head = (
        f"POST /rate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        "Content-Length: 4000\r\n\r\n"
    ).encode()
    trickle(sock, head, lambda n: b" ")


def twelve_mb_body(port: int) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("POST", "/rate", body=b"{" + b" " * (12 * MB) + b"}")
        response = conn.getresponse()
        return f"{response.status} {response.reason}, body read"
    except OSError as error:
        return type(error).__name__
    finally:
        conn.close()


CASES: list[tuple[str, Callable[[ApiServer], str]]] = [
    ("request head of 17 kB", lambda s: send_head(s.port, 17 * 1024)),
    ("request head of 1 MB", lambda s: send_head(s.port, MB)),
    ("three request heads of 100 MB at once", three_huge_heads),
    ("a connection that sends nothing", lambda s: timed(idle, s.port)),
    ("headers, one line every 0.5 s", lambda s: timed(slow_headers, s.port)),
    ("a 4 kB body, one byte every 0.5 s", lambda s: timed(slow_body, s.port)),
    ("a 12 MB body with http.client", lambda s: twelve_mb_body(s.port)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--timeout", type=float, default=2.0, help="header and body timeout, s")
    parser.add_argument("--quick", action="store_true", help="the same run (it is short)")
    args = parser.parse_args()
    env = {
        "CINEMATCH_HEADER_TIMEOUT_S": str(args.timeout),
        "CINEMATCH_BODY_TIMEOUT_S": str(args.timeout),
    }
    results: dict[str, list[str]] = {name: [] for name, _ in CASES}
    with tempfile.TemporaryDirectory() as folder:
        for kind in (ApiServer, PlainUvicorn):
            server = kind(args.model_dir, Path(folder) / f"{kind.__name__}.db", env=env).start()
            try:
                for name, case in CASES:
                    results[name].append(case(server))
                    print(f"{kind.__name__}: {name}: {results[name][-1]}", file=sys.stderr)
            finally:
                server.stop()
    print(f"\n| case (timeouts {args.timeout:g} s) | `python -m api.server` | plain `uvicorn` |")
    print("|---|---|---|")
    for name, (front_door, plain) in results.items():
        print(f"| {name} | {front_door} | {plain} |")


if __name__ == "__main__":
    main()
