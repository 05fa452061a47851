"""Read deadlines for uvicorn: a request's head and its body must each arrive in time.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but bounds neither a new
connection that sends nothing nor a request being read: a client could hold a connection open
without a byte, send its head a byte at a time, or trickle its body over minutes, and so hold
sockets (and the app's task) for as long as it liked. `tidal run` (`serving.serve`) and the
gateway serve with ``http=deadline_protocol(head=..., body=...)``, uvicorn's httptools protocol
with two timers:

- from the connection (or, on a kept-alive one, the request's first byte) until the request
  head is complete: ``head`` seconds (``TIDAL_HEADER_TIMEOUT``, 10 s);
- from the head until the body is complete: ``body`` seconds (``TIDAL_BODY_TIMEOUT``, 20 s).

Past either, the client is answered 408 (unless a response has started) and the connection is
closed; the app sees a disconnect while it reads the body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def timeout_response(what: str) -> bytes:
    """A complete HTTP/1.1 408 answer saying which part of the request was late."""
    body = json.dumps(
        {"error": "request_timeout", "message": f"the request {what} did not arrive in time"}
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `head_timeout` / `body_timeout` read deadlines."""

    head_timeout: float = 10.0
    body_timeout: float = 20.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm(self.head_timeout, "head")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle  # the request being read (body), or the one before it (head)
        if what == "head":
            answer = cycle is None or cycle.response_complete
        else:  # never after the app's own answer (a 413 sent before the body ended)
            answer = cycle is not None and not cycle.response_started
        if answer:
            self.transport.write(timeout_response(what))
        self.transport.close()


def deadline_protocol(*, head: float, body: float) -> type[DeadlineProtocol]:
    """`DeadlineProtocol` with these deadlines, for ``uvicorn.Config(http=...)``."""
    deadlines = {"head_timeout": head, "body_timeout": body}
    return type("DeadlineProtocol", (DeadlineProtocol,), deadlines)
