"""The front door's protocol in-process, on a recording transport: what it writes and which
deadlines it arms, request by request (the real-socket cases are tests/reliability/
test_front_door.py)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from api.frontdoor import FrontDoorProtocol

GET = b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """Keeps every ``write`` as one entry, so the test sees how many sends an answer took."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


def app_answering(*, stream_gap: asyncio.Event | None = None):
    async def app(scope, receive, send):
        assert scope["type"] == "http"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")],
            }
        )
        if stream_gap is not None:
            await stream_gap.wait()
        await send({"type": "http.response.body", "body": b"hello"})

    return app


@pytest.fixture
def connect(monkeypatch):
    """A protocol connected to a recording transport, serving ``app`` on the running loop."""
    monkeypatch.setenv("CINEMATCH_HEADER_TIMEOUT_S", "10")
    monkeypatch.setenv("CINEMATCH_BODY_TIMEOUT_S", "30")

    def connect(app) -> tuple[FrontDoorProtocol, RecordingTransport]:
        config = Config(app=app, lifespan="off", log_level="warning")
        protocol = FrontDoorProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
        transport = RecordingTransport()
        protocol.connection_made(transport)
        return protocol, transport

    return connect


def run(test):
    """Run an ``async def`` test body on a fresh event loop (no async pytest plugin here)."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return sync


async def until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@run
async def test_an_answer_goes_out_in_one_write(connect):
    protocol, transport = connect(app_answering())
    protocol.data_received(GET)
    await until(lambda: transport.writes)
    await asyncio.sleep(0.01)  # a held head would be flushed by now
    assert len(transport.writes) == 1, transport.writes
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"hello"
    protocol.connection_lost(None)


@run
async def test_a_streamed_answer_sends_its_head_without_waiting_for_the_body(connect):
    gap = asyncio.Event()
    protocol, transport = connect(app_answering(stream_gap=gap))
    protocol.data_received(GET)
    await until(lambda: transport.writes)
    assert transport.writes[0].startswith(b"HTTP/1.1 200 ")
    assert b"hello" not in transport.writes[0]  # the head left on its own, a loop step later
    gap.set()
    await until(lambda: len(transport.writes) == 2)
    assert transport.writes[1] == b"hello"
    protocol.connection_lost(None)


@run
async def test_a_request_that_arrives_whole_arms_no_deadline(connect):
    protocol, transport = connect(app_answering())
    assert protocol._deadline is not None  # a new connection must send its head in time
    for k in range(3):  # the first request, then two more on the kept-alive connection
        protocol.data_received(GET)
        assert protocol._deadline is None, k
        await until(lambda k=k: len(transport.writes) == k + 1)
    protocol.connection_lost(None)


@run
async def test_a_partial_head_or_body_gets_its_deadline(connect):
    protocol, transport = connect(app_answering())
    protocol.data_received(GET)
    await until(lambda: transport.writes)
    protocol.data_received(b"GET /hello HTTP/1.1\r\nHost: te")
    assert protocol._deadline is not None  # the head's
    head_deadline = protocol._deadline
    protocol.data_received(b"st\r\nContent-Length: 10\r\n\r\n12345")
    assert protocol._deadline is not None and protocol._deadline is not head_deadline  # body's
    protocol.connection_lost(None)
