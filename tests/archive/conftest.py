"""Fixtures of the data-plane tests: two S3 regions (moto servers), a second Kafka cluster
(tansu; the first is the session's ``kafka_bootstrap``), fast producers of CloudEvents and a
runner of the ``tidal`` command line that returns the run result."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from click.testing import CliRunner
from tests.support.kafka import create_topic, log_end_offsets, tansu_broker
from tests.support.objectstore import CREDENTIALS, S3Server, moto_server

from tidal.cli.main import cli
from tidal_data.marks import without_marks


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def region_a(aws_credentials: None) -> Iterator[S3Server]:
    with moto_server("eu-west-1") as server:
        yield server


@pytest.fixture(scope="session")
def region_b(aws_credentials: None) -> Iterator[S3Server]:
    with moto_server("us-west-2") as server:
        yield server


@pytest.fixture(scope="session")
def cluster_b() -> Iterator[str]:
    """A second Kafka-protocol cluster (restores go there)."""
    with tansu_broker() as broker:
        yield broker.bootstrap


def store_args(server: S3Server, bucket: str, prefix: str = "") -> list[str]:
    args = ["--bucket", bucket, "--region", server.region, "--endpoint", server.endpoint]
    return [*args, "--path-style", *(["--prefix", prefix] if prefix else [])]


@dataclass
class Ran:
    exit_code: int
    output: str
    result: dict[str, Any]


async def tidal(args: Sequence[str], tmp_path: Path, *, result: bool = True) -> Ran:
    """`run_cli` on a worker thread (the command runs its own event loop)."""
    return await asyncio.to_thread(run_cli, args, tmp_path, result=result)


def run_cli(args: Sequence[str], tmp_path: Path, *, result: bool = True) -> Ran:
    """``tidal <args> [--result-file <tmp>]`` in this process; the result file parsed."""
    result_file = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    extra = ["--result-file", str(result_file)] if result else []
    outcome = CliRunner().invoke(cli, [*args, *extra])
    if outcome.exception and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    written = json.loads(result_file.read_text()) if result_file.exists() else {}
    return Ran(outcome.exit_code, outcome.output, written)


def cloud_event(i: int, *, keys: int, event_type: str = "com.acme.order.created.v1") -> Any:
    """(key, value, headers) of a binary-mode CloudEvent; ``seq`` counts per key."""
    key = f"k{i % keys}"
    value = json.dumps({"n": i, "key": key, "seq": i // keys}).encode()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"id-{i}".encode()),
        ("ce_type", event_type.encode()),
        ("ce_source", b"/tests/archive"),
        ("content-type", b"application/json"),
    ]
    return key.encode(), value, headers


async def produce_events(bootstrap: str, topic: str, records: Sequence[Any]) -> None:
    """Produce fast: large batches, every acknowledgement awaited at the end."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def new_topic(bootstrap: str, partitions: int) -> str:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=partitions)
    return topic


async def read_all(bootstrap: str, topic: str) -> dict[int, list[Any]]:
    """Every record of ``topic`` up to its log end, per partition, in order."""
    ends = await log_end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[int, list[Any]] = {p: [] for p in ends}
        while any(len(found[p]) < ends[p] for p in ends):
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=10000)).items():
                found[tp.partition].extend(records)
        return found
    finally:
        await consumer.stop()


def essence(record: Any) -> tuple[Any, ...]:
    """What must survive a backup and restore: key, value, headers, timestamp (a restored
    record's run marks, `tidal_data.marks`, left aside)."""
    return record.key, record.value, tuple(without_marks(record.headers)), record.timestamp
