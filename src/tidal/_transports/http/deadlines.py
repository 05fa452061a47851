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

The deadlines cost a request no timer: each connection keeps its due time as a number, and one
timer per event loop (`_Sweeper`) looks them over every quarter of the shorter deadline (at most
every second), so a late request is cut off up to that much after its deadline. Three uvloop
timers armed and cancelled per request cost ~5 µs, about a tenth of a no-op event's path.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, Final

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


NEVER: Final = float("inf")
MAX_TICK: Final = 1.0  # seconds between sweeps, at most


class _Sweeper:
    """One timer for the read deadlines of every connection a server holds on one loop: every
    ``tick`` seconds, while it watches any, it expires the connections past their due time."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        tick: float,
        registry: dict[asyncio.AbstractEventLoop, _Sweeper],
    ) -> None:
        self.loop = loop
        self.tick = tick
        self.registry = registry  # where protocols find it; left once it watches nothing
        self.watched: set[DeadlineProtocol] = set()
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, protocol: DeadlineProtocol) -> None:
        self.watched.add(protocol)
        if self.timer is None:
            self.timer = self.loop.call_later(self.tick, self.sweep)

    def forget(self, protocol: DeadlineProtocol) -> None:
        self.watched.discard(protocol)

    def sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        for protocol in [p for p in self.watched if p.due <= now]:
            protocol.expire()
        if self.watched:
            self.timer = self.loop.call_later(self.tick, self.sweep)
        elif self.registry.get(self.loop) is self:
            del self.registry[self.loop]


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `head_timeout` / `body_timeout` read deadlines."""

    head_timeout: float = 10.0
    body_timeout: float = 20.0
    sweepers: ClassVar[dict[asyncio.AbstractEventLoop, _Sweeper]] = {}  # one per subclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.due = NEVER  # loop time past which the part being read is late
        self.late = "head"  # which part that is
        self._sweeper = self._sweeper_of(self.loop)

    def _sweeper_of(self, loop: asyncio.AbstractEventLoop) -> _Sweeper:
        sweeper = self.sweepers.get(loop)
        if sweeper is None:
            tick = min(MAX_TICK, self.head_timeout / 4, self.body_timeout / 4)
            sweeper = self.sweepers[loop] = _Sweeper(loop, tick, self.sweepers)
        return sweeper

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.due, self.late = self.loop.time() + self.head_timeout, "head"
        self._sweeper.watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.due = NEVER
        self._sweeper.forget(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.due == NEVER:  # a kept-alive connection's next request
            self.due, self.late = self.loop.time() + self.head_timeout, "head"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.due, self.late = self.loop.time() + self.body_timeout, "body"

    def on_message_complete(self) -> None:
        self.due = NEVER
        super().on_message_complete()

    def expire(self) -> None:
        """The part being read is late: answer 408 where no answer has begun, and close."""
        what, self.due = self.late, NEVER
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
    deadlines = {"head_timeout": head, "body_timeout": body, "sweepers": {}}
    return type("DeadlineProtocol", (DeadlineProtocol,), deadlines)
