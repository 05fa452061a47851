"""The Kafka binding against librdkafka (confluent-kafka) on the suite's broker: what tidal
produces arrives byte for byte, what a librdkafka producer writes is read (a Java long as key
included), and a worker fed hostile records never stops and dead-letters each one once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Consumer, Producer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.conformance.strategies import events
from tests.support.kafka import create_topic, eventually, unique, worker_settings

from tidal import App, Event, PermanentError
from tidal._attributes import parse_time, text
from tidal._bindings import kafka
from tidal._bindings.formats import MAX_DEPTH
from tidal._settings import KafkaSettings
from tidal._transports.kafka import KafkaPublisher, KafkaWorker

pytestmark = pytest.mark.integration

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
NANOS = "2026-11-23T10:15:00.123456789Z"
JAVA_LONG = (1_234_567_890_123).to_bytes(8, "big")


def _produce(bootstrap: str, topic: str, records: list[Record]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0, "librdkafka could not deliver every record"


def _consume(
    bootstrap: str, topic: str, count: int, *, within: float = 30.0, linger: float = 0.0
) -> list[Any]:
    """The records of ``topic``: at least ``count``, and whatever else arrives ``linger`` s
    after those (so a test sees a duplicate too)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("librdkafka"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=within).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages: list[Any] = []
        deadline = time.monotonic() + within
        while len(messages) < count:
            assert time.monotonic() < deadline, f"{topic}: {len(messages)} of {count} records"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        end = time.monotonic() + linger
        while time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages
    finally:
        consumer.close()


async def test_librdkafka_reads_what_tidal_produces_byte_for_byte(kafka_bootstrap: str) -> None:
    topic = unique("to-librdkafka")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    sent = [
        Event.create(
            type="com.example.order.v1",
            source="/orders",
            time=parse_time(NANOS),
            data={"total": 1.5},
            partitionkey="customer-7",
            flag=True,
            count=3,
            subject="caf\u00e9",
        ),
        Event.create(
            type="com.example.blob.v1", source="/b", data=b"\x00\xff", datacontenttype=None
        ),
    ]
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, idempotent_producer=False)
    for mode in ("binary", "structured"):
        async with KafkaPublisher.connect(settings.model_copy(update={"emit_mode": mode})) as out:
            for event in sent:
                await out.publish(event, topic=topic)
    got = await asyncio.to_thread(_consume, kafka_bootstrap, topic, 2 * len(sent))
    expected = [kafka.to_record(e, mode=m) for m in ("binary", "structured") for e in sent]  # type: ignore[arg-type]
    for message, record in zip(got, expected, strict=True):
        key = record.key.encode() if isinstance(record.key, str) else record.key
        assert message.key() == key
        assert message.value() == record.value
        assert dict(message.headers() or []) == record.headers
        wire = kafka.KafkaMessage(dict(message.headers() or []), message.key(), message.value())
        theirs = sdk_kafka.from_kafka(wire, JSONFormat())
        ours = kafka.from_record(wire)
        assert {n: ours.text(n) for n in ours.get_attributes()} == {
            n: ours.text(n) if n == "time" else text(v) for n, v in theirs.get_attributes().items()
        }
    assert dict(got[0].headers())["ce_time"] == NANOS.encode()
    assert dict(got[0].headers())["ce_flag"] == b"true"
    assert json.loads(got[2].value())["time"] == NANOS
    assert "content-type" not in dict(got[1].headers())


@settings(
    max_examples=3, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
)
@given(sent=st.lists(events(), min_size=5, max_size=15))
async def test_librdkafka_reads_every_event_tidal_emits_as_written(
    kafka_bootstrap: str, sent: list[Event]
) -> None:
    """Hypothesis events (every attribute type, nanosecond times, any data) emitted by the
    worker's publisher in both modes: librdkafka sees exactly the bytes the binding wrote, and
    they read back to the event."""
    topic = unique("emitted")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, idempotent_producer=False)
    for mode in ("binary", "structured"):
        async with KafkaPublisher.connect(settings.model_copy(update={"emit_mode": mode})) as out:
            for event in sent:
                await out.publish(event, topic=topic)
    got = await asyncio.to_thread(_consume, kafka_bootstrap, topic, 2 * len(sent))
    modes = [(m, e) for m in ("binary", "structured") for e in sent]
    for message, (mode, event) in zip(got, modes, strict=True):
        record = kafka.to_record(event, mode=mode)  # type: ignore[arg-type]
        key = record.key.encode() if isinstance(record.key, str) else record.key
        assert (message.key(), message.value()) == (key, record.value)
        assert dict(message.headers() or []) == record.headers
        wire = kafka.KafkaMessage(dict(message.headers() or []), message.key(), message.value())
        assert kafka.to_record(kafka.from_record(wire), mode=mode) == record  # type: ignore[arg-type]


def _hostile() -> st.SearchStrategy[Record]:
    """Records a worker must survive: none of them is a CloudEvent it can read."""
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    ce = [(f"ce_{n}", v) for n, v in (("specversion", b"1.0"), ("id", b"1"), ("source", b"/s"))]
    fixed = [
        (JAVA_LONG, b"hello, not an event", [("x-trace", b"1")]),
        (None, deep, [*ce, ("ce_type", b"t"), ("content-type", b"application/json")]),
        (
            None,
            b'{"specversion":"1.0","data":' + deep + b"}",
            [("content-type", b"application/cloudevents+json")],
        ),
        (b"k", b"{}", [*ce, ("ce_type", b"t"), ("ce_subject", b"a%C0%A0\xff")]),
        (
            None,
            b'{"specversion":"1.0","id":"1","source":"/s","type":"t","x":{"a":1}}',
            [("content-type", b"application/cloudevents+json")],
        ),
        (None, b"NaN", [*ce, ("ce_type", b"t"), ("content-type", b"application/json")]),
    ]
    junk = st.tuples(
        st.none() | st.binary(max_size=8),
        st.binary(max_size=64).filter(lambda v: v.lstrip()[:1] != b"{"),
        st.lists(
            st.tuples(
                st.sampled_from(["ce_id", "ce_time", "content-type", "x"]), st.binary(max_size=8)
            ),
            max_size=3,
        ),
    )
    return st.sampled_from(fixed) | junk


@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(hostile=st.lists(_hostile(), min_size=8, max_size=16))
async def test_a_worker_fed_hostile_records_keeps_going_and_dead_letters_each_once(
    kafka_bootstrap: str, hostile: list[Record]
) -> None:
    topic = unique("hostile")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    valid = Event.create(type="com.example.ok.v1", source="/ok", data={"ok": True})
    binary = kafka.to_record(valid)
    failing = Event.create(
        type="com.example.fail.v1", source="/f", time=parse_time(NANOS), data={"n": 1}
    )
    structured = kafka.to_record(failing, mode="structured")
    records: list[Record] = [
        (JAVA_LONG, binary.value, list(binary.headers.items())),
        *hostile,
        (b"customer-7", structured.value, list(structured.headers.items())),
    ]
    await asyncio.to_thread(_produce, kafka_bootstrap, topic, records)
    handled: Counter[str] = Counter()
    app = App("hostile")

    @app.on(type="com.example.ok.v1")
    async def orders(event: Event) -> None:
        assert event.partitionkey is None  # the Java key is the record's, not the event's
        handled["orders"] += 1

    @app.on(type="com.example.fail.v1")
    async def audit(event: Event) -> None:
        assert event.partitionkey == "customer-7"
        raise PermanentError("refused on purpose")

    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:

        async def every_record_done() -> bool:
            done = [worker.metrics.subscriptions[s].invalid for s in ("audit", "orders")]
            return handled["orders"] == 1 and done == [len(hostile)] * 2

        await eventually(every_record_done, within=60, what="every record ended")
        assert not any(task.done() for task in worker._tasks), "a consumer stopped"
    letters = await asyncio.to_thread(
        _consume, kafka_bootstrap, f"{topic}.dlq", len(hostile) + 1, linger=2.0
    )
    assert len(letters) == len(hostile) + 1, "one dead letter per record, no more"
    invalid = [dict(m.headers() or []) for m in letters if m.key() != b"customer-7"]
    assert sorted(int(h["tidaloffset"]) for h in invalid) == list(range(1, len(hostile) + 1))
    assert {h["tidalsubscriber"] for h in invalid} == {b"hostile/audit"}  # first by name
    [dead] = [m for m in letters if m.key() == b"customer-7"]
    assert dead.value().startswith(structured.value[:-1])
    body = json.loads(dead.value())
    assert "partitionkey" not in body  # kafka-protocol-binding.md 3.1: the event unmodified
    assert body["time"] == NANOS
    assert body["tidalerrormessage"] == "refused on purpose"
