"""aiokafka on uvloop after the broker closed a connection (`tidal.kafka._compat`).

A request written to a connection whose transport is already closed (the broker restarted and
reset it; aiokafka's reader has not noticed yet) must fail as ``KafkaConnectionError``, which
aiokafka's fetcher and coordinator retry, not as uvloop's ``RuntimeError``, which ended the
consumer's fetch task and made the worker exit 1 (found by tests/chaos).
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

import tidal.kafka._connecting  # noqa: F401  (installs the compat wrapper)
from tidal._transports.loops import run_on_fastest_loop

pytestmark = pytest.mark.integration


def test_a_request_on_a_connection_closed_under_it_is_a_connection_error_on_uvloop(
    kafka_bootstrap: str,
) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)

    async def request_after_reset() -> BaseException:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        conn = await create_conn(host, int(port))
        try:
            await conn.send(MetadataRequest([]))  # the connection works
            transport = conn._writer.transport
            transport.abort()  # the broker's reset, as uvloop sees it: the handle closes on the
            await asyncio.sleep(0)  # next turn, before aiokafka's reader notices the EOF
            assert conn._writer is not None, "aiokafka noticed first: nothing tested"
            assert "closed=True" in repr(transport), "the handle is not closed yet"
            try:
                await conn.send(MetadataRequest([]))
            except Exception as exc:  # the test asserts which, outside the loop
                assert not conn.connected(), "the broken connection is closed, to be made again"
                return exc
            raise AssertionError("a request on a closed connection succeeded")
        finally:
            conn.close()

    error = run_on_fastest_loop(request_after_reset())
    assert isinstance(error, KafkaConnectionError), repr(error)
