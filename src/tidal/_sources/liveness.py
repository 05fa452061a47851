"""A liveness endpoint for a source with no HTTP server of its own (``tidal source s3-sqs``).

`Heartbeat` is beaten after every poll; `serve_liveness` answers any HTTP GET on its port with
200 while the last beat is younger than ``max_age`` seconds and 503 after (a poller stuck in
a call Kubernetes should restart). Plain asyncio streams: the probe needs no web framework.
Called by `tidal.cli._source`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Heartbeat:
    max_age: float
    last: float = field(default_factory=time.monotonic)

    def beat(self) -> None:
        self.last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self.last <= self.max_age


async def serve_liveness(heartbeat: Heartbeat, *, host: str, port: int) -> asyncio.Server:
    """A started server answering ``GET /healthz`` (any path) from ``heartbeat``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            status = "200 OK" if heartbeat.alive() else "503 Service Unavailable"
            body = status.encode()
            head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a probe that hung up or sent garbage gets nothing
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
