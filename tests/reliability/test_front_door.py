"""The front door: what happens to hostile or broken HTTP, over real sockets.

Two edges are tested, each with the real server process (``python -m api.server``):

* **nginx** (deploy/nginx.conf, rendered for loopback by bench/harness/nginx.py) in front of
  one replica, as every deployment runs it. Heads over 16 kB a line get a JSON 431; a head sent
  too slowly, a connection that sends nothing, and a body that stalls are cut off (before any
  replica sees the request: nginx reads the whole request first); a body over
  the limit gets a JSON 413 that an ordinary client reads even though it is still sending.
  The client timeouts are shortened to 1 s here so the cases finish in seconds; the deployed
  values are checked in tests/test_deploy.py.
* **the bare process**, stock uvicorn with its h11 protocol: a head still incomplete at 16 kB
  is refused (400) and the connection closed, instead of being buffered without end.

The waits below are deadlines for a behaviour (is the socket closed at all?), never speed
measurements: a server that is slower than expected still passes, one that never closes fails.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest
import requests

from bench.harness.api_server import HOST, ApiServer, Request, call_json
from bench.harness.nginx import NginxProxy

HEADER_LIMIT = 16 * 1024
#: nginx's client timeouts in these tests (deploy/nginx.conf has 10 s).
QUICK_TIMEOUT_S = 1
#: How long a test keeps trickling before it concludes the server never cuts it off.
GIVE_UP_S = 12


@pytest.fixture
def server(api_server) -> ApiServer:
    return api_server()


@pytest.fixture
def proxy(server) -> Iterator[NginxProxy]:
    with NginxProxy([server.port], client_timeout_s=QUICK_TIMEOUT_S) as nginx:
        yield nginx


@contextmanager
def raw(port: int, timeout: float = GIVE_UP_S) -> Iterator[socket.socket]:
    with closing(socket.create_connection((HOST, port), timeout=timeout)) as sock:
        yield sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (raises on a timeout)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def head(extra: str = "", path: str = "/health") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}".encode()


# -- header size, through nginx ------------------------------------------------------------------


def test_a_header_just_under_16_kB_is_served(proxy):
    with raw(proxy.port) as sock:
        filler = "a" * (HEADER_LIMIT - 200)
        sock.sendall(head(f"X-Filler: {filler}\r\nConnection: close\r\n\r\n"))
        assert status_of(read_until_closed(sock)) == 200


def test_a_header_over_16_kB_gets_a_json_431_and_the_connection_is_closed(proxy):
    with raw(proxy.port) as sock:
        sock.sendall(head(f"X-Filler: {'a' * (HEADER_LIMIT + 100)}\r\n\r\n"))
        response = read_until_closed(sock)  # returns only once the server has closed
    assert status_of(response) == 431
    assert "16 kB" in body_of(response)["detail"]
    assert b"\r\ncontent-type: application/json\r\n" in response.lower()
    assert b"\r\nx-content-type-options: nosniff\r\n" in response.lower()


def test_a_head_that_never_ends_is_refused_at_the_limit_not_buffered(proxy):
    with raw(proxy.port) as sock:
        sock.sendall(head("X-Endless: "))
        for _ in range(4):
            sock.sendall(b"b" * 8192)
        response = read_until_closed(sock)
    assert status_of(response) == 431


def test_the_service_still_serves_after_refusing_big_heads(proxy):
    for _ in range(3):
        with raw(proxy.port) as sock:
            sock.sendall(head(f"X-Filler: {'a' * 200_000}\r\n\r\n"))
            assert status_of(read_until_closed(sock)) == 431
    assert call_json(proxy.port, Request("GET", "/health"))["status"] == "ok"


# -- slow clients, through nginx -----------------------------------------------------------------


def trickle(sock: socket.socket, pieces: Iterator[bytes], pause: float = 0.25) -> bytes | None:
    """Send ``pieces`` slowly; what the server sent if it closed the connection, else None."""
    deadline = time.monotonic() + GIVE_UP_S
    sock.settimeout(pause)
    for piece in pieces:
        if time.monotonic() > deadline:
            return None
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        try:
            received = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return b""
        sock.settimeout(GIVE_UP_S)
        try:
            return received + read_until_closed(sock)
        except ConnectionResetError:
            return received
    return None


def endless_headers() -> Iterator[bytes]:
    yield head()
    n = 0
    while True:
        n += 1
        yield f"X-Slow-{n}: {n}\r\n".encode()


def test_headers_sent_slowly_are_cut_off(proxy):
    # nginx closes a connection whose head is not complete in time, without an answer.
    with raw(proxy.port) as sock:
        received = trickle(sock, endless_headers())
    assert received is not None, f"nginx was still reading slow headers after {GIVE_UP_S} s"
    assert received == b"" or status_of(received) == 408


def test_a_connection_that_sends_nothing_is_closed(proxy):
    with raw(proxy.port) as sock:
        assert read_until_closed(sock) == b""  # a socket timeout here fails the test


def test_a_body_that_stalls_is_cut_off(proxy):
    # nginx reads the body before a replica sees the request, and drops the connection when
    # the body pauses longer than its timeout (it logs a 408; the client gets no answer).
    created = call_json(proxy.port, Request("POST", "/users"), expect=201)
    with raw(proxy.port) as sock:
        sock.sendall(
            f"POST /rate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {created['token']}\r\nContent-Length: 4000\r\n\r\n"
            "{".encode()
        )
        try:
            response = read_until_closed(sock)  # the rest of the body never comes
        except ConnectionResetError:
            response = b""
    assert response == b"" or status_of(response) == 408


def test_a_client_that_keeps_up_is_not_cut_off(proxy):
    # Headers in two parts and a body in two parts, each well inside the timeouts.
    created = call_json(proxy.port, Request("POST", "/users"), expect=201)
    body = json.dumps({"user_id": created["user_id"], "ratings": []}).encode()
    with raw(proxy.port) as sock:
        sock.sendall(f"POST /rate HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        time.sleep(0.2)
        sock.sendall(
            f"Authorization: Bearer {created['token']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        sock.sendall(body[:5])
        time.sleep(0.2)
        sock.sendall(body[5:])
        response = read_until_closed(sock)
    assert status_of(response) == 422  # read in full and validated (an empty batch)


# -- body size, through nginx --------------------------------------------------------------------


TWELVE_MB = b"{" + b" " * (12 * 1024 * 1024) + b"}"
TOO_LARGE = {"detail": "Request body too large for this route."}


def test_a_12_MB_body_gets_a_413_that_the_standard_library_client_can_read(proxy):
    # http.client sends the whole body before it reads the answer: if the server closed
    # while the body is still arriving, the client would get a reset, not the 413.
    conn = http.client.HTTPConnection(HOST, proxy.port, timeout=30)
    try:
        conn.request("POST", "/rate", body=TWELVE_MB, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == TOO_LARGE
    finally:
        conn.close()


def test_a_12_MB_body_gets_a_413_that_requests_can_read(proxy):
    response = requests.post(
        f"http://{HOST}:{proxy.port}/rate",
        data=TWELVE_MB,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_a_12_MB_body_streamed_without_a_length_gets_a_readable_413(proxy):
    def chunks() -> Iterator[bytes]:
        yield b"{"
        for _ in range(12 * 16):
            yield b" " * 65536
        yield b"}"

    response = requests.post(
        f"http://{HOST}:{proxy.port}/rate",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_big_bodies_from_several_clients_at_once_all_get_413(proxy):
    statuses: list[int | str] = []

    def post() -> None:
        conn = http.client.HTTPConnection(HOST, proxy.port, timeout=30)
        try:
            conn.request("POST", "/rate", body=b"x" * (4 * 1024 * 1024))
            statuses.append(conn.getresponse().status)
        except OSError as error:
            statuses.append(type(error).__name__)
        finally:
            conn.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [413] * 4
    assert call_json(proxy.port, Request("GET", "/health"))["status"] == "ok"


# -- the bare process: stock uvicorn (h11) ---------------------------------------------------


def test_the_bare_process_refuses_a_head_still_incomplete_at_16_kB(server):
    with raw(server.port) as sock:
        # 32 kB in one send: sent piecemeal, a late piece could meet the connection the
        # server already closed after its answer (a broken pipe on a busy machine).
        sock.sendall(head("X-Endless: ") + b"b" * 4 * 8192)
        response = read_until_closed(sock)
    assert status_of(response) == 400
    assert call_json(server.port, Request("GET", "/health"))["status"] == "ok"


def test_the_bare_process_answers_a_body_over_the_limit_with_the_apis_413(server):
    # The app's own limit (api.limits): refused from Content-Length, before the body is read.
    created = call_json(server.port, Request("POST", "/users"), expect=201)
    with raw(server.port) as sock:
        sock.sendall(
            f"POST /rate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {created['token']}\r\nContent-Length: 100000\r\n\r\n".encode()
        )
        response = read_until_closed(sock)
    assert status_of(response) == 413
    assert body_of(response) == {"detail": "Request body too large: the limit is 65536 bytes."}
