"""A Kafka-protocol broker for the suite, a TCP proxy to cut its connections, exact offsets.

The broker (`tansu_broker`, ``TIDAL_KAFKA_BOOTSTRAP``: `EXTERNAL_BOOTSTRAP`), `create_topic`,
`produce` and `log_end_offsets` live in `harness.kafka` (shared with bench/) and are re-exported
here. `TcpProxy` sits between clients and a broker so a test can cut every connection at
once. The offset helpers work around tansu 0.6.0's quirks (see shared/docs/ARCHITECTURE.md):
``ListOffsets(latest)`` under-counts when a batch holds several records, so log-end offsets are
read from fetch high watermarks; the admin client cannot list group offsets, so committed
offsets come from ``consumer.committed()``. Production code never needs either workaround.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from harness.kafka import (
    EXTERNAL_BOOTSTRAP,
    Tansu,
    create_topic,
    log_end_offsets,
    produce,
    tansu_broker,
    topic_partitions,
)
from harness.servers import free_port

__all__ = [
    "EXTERNAL_BOOTSTRAP",
    "ROOT",
    "Tansu",
    "TcpProxy",
    "WorkerProcess",
    "committed_offsets",
    "create_topic",
    "eventually",
    "fast_failover",
    "idempotence_supported",
    "lag",
    "log_end_offsets",
    "produce",
    "proxied_tansu",
    "read_topic",
    "tansu_broker",
    "unique",
    "worker_env",
    "worker_settings",
]


def idempotence_supported(bootstrap: str) -> bool:
    """tansu rejects InitProducerId (aiokafka reports UnknownError); real Kafka accepts it."""
    return bootstrap == EXTERNAL_BOOTSTRAP


def unique(prefix: str) -> str:
    """A topic or group name no other test (or earlier run on the same broker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- a proxy the test controls ---------------------------------------------------------------


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port`` on its own thread; `cut` drops every
    connection at once (clients see a reset mid-stream and must reconnect)."""

    target_port: int
    port: int = field(default_factory=free_port)
    cuts: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _transports: set[asyncio.WriteTransport] = field(default_factory=set)
    _thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(
                asyncio.start_server(self._connect, "127.0.0.1", self.port)
            )
            ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                loop.run_until_complete(server.wait_closed())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name="tcp-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("the TCP proxy did not start")
        return self

    def cut(self) -> None:
        """Abort every open connection, both sides."""
        done = threading.Event()

        def abort() -> None:
            for transport in list(self._transports):
                transport.abort()
            self._transports.clear()
            self.cuts += 1
            done.set()

        self._loop.call_soon_threadsafe(abort)
        done.wait(10)

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self._transports.update(pair)
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        self._transports.difference_update(pair)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.transport.abort()


@contextmanager
def proxied_tansu() -> Iterator[tuple[Tansu, TcpProxy]]:
    """A broker of its own behind a proxy; the broker advertises the proxy, so every client
    connection (bootstrap and partition leaders alike) goes through it."""
    proxy_port = free_port()
    with tansu_broker(advertised_port=proxy_port) as broker:
        proxy = TcpProxy(target_port=broker.port, port=proxy_port).start()
        try:
            yield broker, proxy
        finally:
            proxy.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition (without joining the group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        return {tp.partition: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


async def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 of every partition of ``topic`` for ``group`` (which has no members):
    what a member killed before its commits landed leaves behind."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.commit(dict.fromkeys(tps, 0))
    finally:
        await consumer.stop()


async def lag(bootstrap: str, group: str, topic: str) -> int:
    """Log-end minus committed, summed over the topic's partitions (as KEDA computes it)."""
    ends = await log_end_offsets(bootstrap, topic)
    committed = await committed_offsets(bootstrap, group, topic)
    return sum(end - (committed.get(p) or 0) for p, end in ends.items())


async def read_topic(bootstrap: str, topic: str, *, count: int, within: float = 30.0) -> list[Any]:
    """The first ``count`` records of ``topic`` (all partitions), or fail after ``within`` s."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + within
        tps: list[TopicPartition] = []
        while not tps:
            assert time.monotonic() < deadline, f"topic {topic} did not appear in {within}s"
            with suppress(AssertionError):
                tps = await topic_partitions(consumer, topic)
            if not tps:
                await asyncio.sleep(0.2)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while len(records) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{topic}: {len(records)} of {count} records after {within}s"
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            records.extend(r for rs in batch.values() for r in rs)
        return records
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    interval: float = 0.2,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll ``check`` until it is true; fail after ``within`` s saying ``what`` did not happen."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            detail = "" if explain is None else f": {await explain()}"
            raise AssertionError(f"{what} did not happen within {within:g}s{detail}")
        await asyncio.sleep(interval)


# -- workers as real processes ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def worker_env(bootstrap: str, *, topic: str, prefix: str, redis_url: str) -> dict[str, str]:
    """Settings for a ``tidal run --transport kafka`` test worker, as its environment."""
    return {
        "TIDAL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TIDAL_KAFKA__TOPICS": topic,
        "TIDAL_KAFKA__GROUP_ID_PREFIX": prefix,
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(bootstrap)).lower(),
        "TIDAL_KAFKA__COMMIT_INTERVAL": "0.2",
        "TIDAL_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "TIDAL_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "TIDAL_KAFKA__REVOKE_GRACE": "5",
        "TIDAL_IDEMPOTENCY__BACKEND": "redis",
        "TIDAL_IDEMPOTENCY__REDIS_URL": redis_url,
        "TIDAL_IDEMPOTENCY__IN_PROGRESS_TTL": "3",
        "TIDAL_SHUTDOWN_GRACE": "10",
        "TIDAL_LOG_LEVEL": "INFO",
        "TIDAL_OBSERVABILITY__METRICS_PORT": "0",  # several workers per test: no fixed port
        "TIDAL_TEST_REDIS_URL": redis_url,
    }


def fast_failover(bootstrap: str) -> dict[str, str]:
    """`worker_env` additions for a test that replaces a SIGKILLed worker with a new one, one live
    member at a time: the dead member's session ends after 3 s instead of 6 s (heartbeats every
    0.5 s), so the new one is not left waiting for it. A Kafka broker refuses a session shorter
    than its ``group.min.session.timeout.ms`` (6 s by default): there it stays 6 s.

    Not for several live members: tansu 0.6.0 holds a rejoining follower's JoinGroup 3 s
    (``PAUSE_MS`` in its group coordinator) without counting it as contact, so a 3 s session
    evicts live members in every rebalance and the group never settles."""
    if bootstrap == EXTERNAL_BOOTSTRAP:
        return {}
    return {"TIDAL_KAFKA__SESSION_TIMEOUT_MS": "3000", "TIDAL_KAFKA__HEARTBEAT_INTERVAL_MS": "500"}


@dataclass
class WorkerProcess:
    """``python -m tidal.cli run --transport kafka <reference>`` with its log in a file."""

    reference: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        command = [sys.executable, "-m", "tidal.cli", "run", "--transport", "kafka", self.reference]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=out
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no goodbye to the group."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, *, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the drain; returns the exit code."""
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.alive():
            self.kill()


def worker_settings(bootstrap: str, *, topic: str, **kafka: Any) -> Any:
    """`Settings` for an in-process `KafkaWorker` on ``topic``, in a group of its own."""
    from tidal import Settings

    options = {
        "bootstrap_servers": bootstrap,
        "topics": [topic],
        "group_id_prefix": unique("test"),
        "idempotent_producer": idempotence_supported(bootstrap),
        "commit_interval": 0.2,
        **kafka,
    }
    return Settings(kafka=options, idempotency={"backend": "none"}, shutdown_grace=5)
