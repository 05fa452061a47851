"""The served gateway drops slow and silent clients (issue 17, finding 6): a connection that sends
no complete request head, or trickles its body, gets 408 and is closed within the deadline.

Before: uvicorn bounded neither (a body trickled over 40 s was accepted; 1,100 half-open
connections were held). The gateway runs here as ``python -m services.gateway`` runs it
(`services.gateway.__main__.serve`, i.e. `tidal.serve_asgi`), on a free port, with short deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from services.gateway import __main__ as main
from services.gateway.settings import GatewaySettings
from tests.services.conftest import TOKEN
from tests.support.servers import free_port

from tidal import Settings
from tidal._transports.http import serving

DEADLINE = 0.6


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    servers: list[uvicorn.Server] = []

    class Recorded(serving._Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(serving, "_Server", Recorded)  # to stop it as SIGTERM would
    port = free_port()
    settings = Settings(
        host="127.0.0.1",
        port=port,
        sink="http://127.0.0.1:9/unused",
        header_timeout=DEADLINE,
        body_timeout=DEADLINE,
        shutdown_grace=1,
    )
    gateway = GatewaySettings(tokens=[SecretStr(TOKEN)], transport="http")
    task = asyncio.create_task(main.serve(gateway, settings, service="gateway-test"))
    for _ in range(100):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            break
        await asyncio.sleep(0.05)
    yield port
    servers[0].should_exit = True
    await asyncio.wait_for(task, timeout=10)


async def _answer(port: int, sent: list[bytes], *, pause: float = 0.0) -> tuple[bytes, float]:
    """Send ``sent`` piece by piece (``pause`` s apart) while reading; what came back before
    the server closed (or reset) the connection, and after how long."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = bytearray()

    async def read() -> None:
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                answer.extend(chunk)

    reading = asyncio.create_task(read())
    try:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for piece in sent:
                if reading.done():
                    break
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(pause)
        await asyncio.wait_for(reading, timeout=10 * DEADLINE)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return bytes(answer), time.monotonic() - started


async def test_connections_that_send_no_complete_head_are_closed_with_408(gateway: int) -> None:
    silent = [_answer(gateway, []) for _ in range(200)]
    partial = [_answer(gateway, [b"POST /events HTTP/1.1\r\nhost: g\r\n"])]
    answers = await asyncio.gather(*silent, *partial)
    for answer, took in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert took < 5 * DEADLINE


async def test_a_trickled_body_is_cut_off_with_408(gateway: int) -> None:
    head = (
        "POST /events HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {TOKEN}\r\ncontent-length: 40\r\n\r\n"
    ).encode()
    answer, took = await _answer(gateway, [head, *[b"x"] * 40], pause=DEADLINE / 4)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert took < 4 * DEADLINE


async def test_a_prompt_request_is_served_as_before(gateway: int) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n"
    answer, _ = await _answer(gateway, [request])
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_an_early_answer_is_not_followed_by_a_408(gateway: int) -> None:
    """A declared body over the limit is answered 413 at once; the deadline then only closes
    the connection the client keeps trickling on, adding no second answer."""
    head = (
        "POST /events HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {TOKEN}\r\ncontent-length: 300000\r\n\r\n"
    ).encode()
    answer, _ = await _answer(gateway, [head, *[b"x"] * 8], pause=DEADLINE / 4)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert b"408" not in answer
