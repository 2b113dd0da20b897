"""``bench.harness.wrk`` reads back what wrk measured: every request it sent, the answers that
were not 2xx as errors, and its latency percentiles (bench/api_latency.py judges the API's
latency target on them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bench.harness.api_server import HOST, Request
from bench.harness.wrk import PERCENTILES, drive_wrk


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        _Handler.seen.append((self.path, self.headers.get("Authorization")))
        status = 200 if self.path.startswith("/ok") else 401
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer((HOST, 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen.clear()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_wrk_sends_the_prebuilt_requests_and_reports_errors_and_percentiles(server: int):
    # Every other request is refused: half the answers are errors.
    def make(i: int) -> Request:
        return Request("GET", f"/ok/{i}" if i % 2 == 0 else f"/no/{i}", token=f"t{i}")

    run = drive_wrk(server, make, connections=2, seconds=1)

    assert run.requests > 10
    # wrk counts answered requests; one per connection may still be in flight at the end.
    assert run.requests <= len(_Handler.seen) <= run.requests + 2
    assert abs(run.errors - run.requests / 2) <= 2  # each connection alternates ok / refused
    assert set(run.percentiles_ms) == set(PERCENTILES)
    assert 0 < run.percentiles_ms[50] <= run.percentiles_ms[99]
    path, authorization = _Handler.seen[0]
    assert authorization == f"Bearer t{path.rsplit('/', 1)[1]}"
