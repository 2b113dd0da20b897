"""uvicorn's HTTP protocol with the limits a server facing the internet needs on its own.

uvicorn 0.54's default protocol (httptools) has none of them, which we measured:

* **No limit on the request head.** llhttp accepts a header of any size, and httptools
  concatenates a header's pieces into one ``bytes`` before handing it over: a 1 MB header was
  served, and three 100 MB headers took the process from 174 to 470 MB. (uvicorn's
  ``h11_max_incomplete_event_size`` only applies to the slower h11 protocol.)
* **No timeout while a request arrives.** The keep-alive timer runs only between requests, so a
  connection that sends nothing, or one header line every few seconds (slowloris), or a body
  one byte at a time, is held open forever.
* **A refused body ends in a reset.** When the app answers 413 before reading the body and
  closes, the unread bytes in the socket make the kernel send RST instead of FIN, and a client
  that sends its whole body before reading (``http.client``, curl) sees "connection reset"
  instead of the 413.

``FrontDoorProtocol`` adds exactly those three things and is otherwise uvicorn's
``HttpToolsProtocol``. ``python -m api.server`` (``api.server``) runs uvicorn with it; the limits
are settings (``api.settings``): ``CINEMATCH_MAX_HEADER_BYTES`` (16 kB, as h11 and nginx's
default buffers), ``CINEMATCH_HEADER_TIMEOUT_S`` (10 s) and ``CINEMATCH_BODY_TIMEOUT_S`` (30 s;
the largest body accepted is 64 kB).

* The head is counted as bytes arrive, before httptools sees them; at the first byte over the
  limit the request gets 431 and the connection is closed. Nothing past the limit is buffered.
* One deadline per phase: the head must be complete ``header_timeout_s`` after the connection
  opens (or after the first bytes of a later request), else 408 and close; the body must be
  complete ``body_timeout_s`` after the head, else 408 (if nothing was answered yet) and close.
  A deadline is armed only for a request still incomplete when its bytes so far are read.
* Closing with a body still unread is a lingering close, as nginx does: the response is
  flushed, our side of the connection is shut (FIN), and whatever the client still sends is
  read and thrown away until it stops or ``body_timeout_s`` passes. The client finishes its
  send and then reads the answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.headers import NOSNIFF
from api.settings import get_settings


class FrontDoorProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a head size limit, read timeouts and lingering close."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_header_bytes = settings.max_header_bytes
        self.header_timeout = settings.header_timeout_s
        self.body_timeout = settings.body_timeout_s
        self._head_bytes = 0
        self._heads_done = 0
        self._reading_head = True  # until the current request's head is complete
        self._message_open = False  # a request has begun and its body is not all read
        self._lingering = False
        self._deadline: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # From the first moment: a connection that never sends a byte is also cut off.
        self._arm(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._feed(data)
        if self._deadline is None and self._message_open and not self._lingering:
            # A request is only partly here: its phase gets its deadline now. A request that
            # arrives whole (nearly every one) never arms a timer (~2 µs each, ~1% of /recommend).
            if self._reading_head:
                self._arm(self.header_timeout, self._head_timed_out)
            else:
                self._arm(self.body_timeout, self._body_timed_out)

    def _feed(self, data: bytes) -> None:
        if self._lingering:
            return  # draining what the client still sends after our answer
        if not self._reading_head:
            super().data_received(data)
            return
        room = self.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed only what fits: if the head does not end within it, it is too large.
        fitting, rest = data[:room], data[room:]
        self._head_bytes += len(fitting)
        heads_before = self._heads_done
        super().data_received(fitting)
        if self.transport.is_closing():
            return  # the parser refused the request (400)
        if self._heads_done == heads_before:
            self._refuse(
                431,
                "Request header fields too large: the request line and headers may take "
                f"at most {self.max_header_bytes} bytes.",
            )
            return
        self._feed(rest)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection now belongs to the WebSocket protocol and its pings
        super().handle_websocket_upgrade()

    def timeout_keep_alive_handler(self) -> None:
        if not self._lingering:  # a lingering close ends on its own timer
            super().timeout_keep_alive_handler()

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_open = True

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._heads_done += 1
        self._disarm()  # the body's deadline is armed by ``data_received`` if it is not all here
        super().on_headers_complete()
        if self.cycle is not None and not isinstance(self.cycle.transport, _LingeringClose):
            # The cycle closes the connection after a "Connection: close" answer; if the
            # answer came before the body was read (413), that close must linger.
            self.cycle.transport = _LingeringClose(self)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._disarm()
        self._message_open = False
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # -- deadlines -----------------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._head_bytes == 0 or (self.cycle is not None and not self.cycle.response_complete):
            self.transport.close()  # nothing to answer, or an answer is still being written
            return
        self._refuse(408, f"Request headers not received within {self.header_timeout:g} s.")

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()
            return
        # The app is waiting for the body: it sees a disconnect, and anything it still sends
        # is dropped, while the client gets the 408.
        cycle.disconnected = True
        cycle.message_event.set()
        self._refuse(408, f"Request body not received within {self.body_timeout:g} s.")

    # -- answering outside the app -------------------------------------------------------------

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with the API's JSON error shape, then close (lingering)."""
        body = json.dumps({"detail": detail}).encode()
        lines = [STATUS_LINE[status]]
        for name, value in [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            NOSNIFF,
        ]:
            lines += [name, b": ", value, b"\r\n"]
        lines += [b"\r\n", body]
        self.transport.write(b"".join(lines))
        self._linger()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a request its parser refuses, in the API's JSON shape.
        self._refuse(400, msg)

    def close_after_response(self) -> None:
        """Close now if the request was read to its end, else linger until the client stops."""
        if self._message_open:
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # after the buffered answer: the client reads it, then EOF
        self.flow.resume_reading()
        self._arm(self.body_timeout, self.transport.close)


class _LingeringClose:
    """The transport as a request's cycle sees it: the answer's head and body go out in one
    write, and ``close()`` lingers if the body is unread.

    uvicorn writes the head (status line and headers) and the body separately, which is two
    ``send`` system calls and, with ``TCP_NODELAY``, two packets the client wakes up for. The
    head is held until the body's first write, which for every ordinary answer comes in the
    same loop step; an answer that streams its body later still gets its head at the next
    loop iteration (``call_soon``). Measured on /recommend (bench/db_contention.py case 3):
    ~6 µs less server CPU per request, and the client reads one packet.
    """

    def __init__(self, protocol: FrontDoorProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._head: bytes | None = None
        self._awaiting_head = True

    def write(self, data: bytes) -> None:
        if self._awaiting_head and not data.startswith(_INTERIM):
            self._awaiting_head = False
            self._head = data
            self._protocol.loop.call_soon(self._flush)
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._protocol.close_after_response()

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


#: "100 Continue", written while the request's body is awaited: never held back.
_INTERIM = b"HTTP/1.1 1"
