"""`tidal dev`'s HTTP ingress: POST a CloudEvent to it and it goes onto the dev run's broker.

What a Knative Broker's ingress is to a cluster, this is to a dev run: ``tidal send
http://127.0.0.1:PORT/ --type ... --source ...`` (binary or structured mode, or a batch) is
answered 202 with the ids published, onto the memory broker or the dev Kafka topic; a request
that is not a CloudEvent gets 400 / 415 / 413 with the reason, as from ``tidal run``.
`dev` starts it with `serve` on the run's event loop (uvicorn, without its signal handlers:
Ctrl-C belongs to `tidal dev`, which drains and prints its summary).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import uvicorn

from tidal._bindings.http import UnsupportedMediaTypeError, from_http
from tidal._errors import ConfigurationError, InvalidEventError
from tidal._events import Event

MAX_BODY: Final = 1_048_576
Publish = Callable[[Sequence[Event]], Awaitable[None]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class TooLarge(Exception):
    """The body passed `MAX_BODY`."""


@dataclass
class Ingress:
    """The ASGI app: ``POST /`` publishes, ``GET /healthz`` answers 200, the rest 404 / 405."""

    publish: Publish
    accepted: Callable[[list[Event]], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            await _answer(send, 200, {"status": "ok"})
        elif path != "/":
            await _answer(send, 404, _error("not_found", "POST CloudEvents to /"))
        elif method != "POST":
            await _answer(send, 405, _error("method_not_allowed", "POST CloudEvents to /"))
        else:
            status, body = await self._post(scope, receive)
            await _answer(send, status, body)

    async def _post(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            events = from_http(headers, await _body(receive))
        except TooLarge:
            return 413, _error("payload_too_large", f"the body is over {MAX_BODY} bytes")
        except UnsupportedMediaTypeError as exc:
            return 415, _error("unsupported_media_type", str(exc))
        except InvalidEventError as exc:
            return 400, _error("invalid_event", str(exc))
        await self.publish(events)
        if self.accepted is not None:
            self.accepted(events)
        return 202, {"ids": [event.id for event in events]}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


async def _body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidEventError("client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: `tidal dev` handles Ctrl-C itself."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: a free one), or a clear error if the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"tidal dev cannot listen on {host}:{port}: {exc.strerror} (pick another --port)"
        ) from exc
    return sock


@contextlib.asynccontextmanager
async def serve(app: Ingress, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` on ``sock`` while the block runs; stop listening on exit."""
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    listening = asyncio.create_task(server.listening.wait())
    try:
        await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if task.done():
            task.result()
            raise ConfigurationError("tidal dev: the ingress stopped at start-up")
        yield
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
