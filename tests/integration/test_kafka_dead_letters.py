"""Dead letters on Kafka: records that are not CloudEvents, and a poison event across a restart."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.integration.apps.kafka_poison import ATTEMPTS
from tests.support.kafka import (
    WorkerProcess,
    committed_offsets,
    create_topic,
    eventually,
    fast_failover,
    log_end_offsets,
    produce,
    read_topic,
    unique,
    worker_env,
    worker_settings,
)

from tidal import App, Event
from tidal._bindings.kafka import KafkaMessage, from_record, headers_from_list, to_record
from tidal._deadletters import original
from tidal._transports.kafka import KafkaWorker

pytestmark = pytest.mark.integration

NOT_EVENTS = [
    (b"k1", b"hello, not an event", [("x-trace", b"abc")]),
    (b"k2", b'{"id": "1"}', [("ce_specversion", b"1.0"), ("ce_type", b"t")]),
    (None, b"{not json", [("content-type", b"application/cloudevents+json")]),
]


async def test_records_that_are_not_cloudevents_are_dead_lettered_with_a_reason(
    kafka_bootstrap: str,
) -> None:
    topic = unique("garbage")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    valid = Event.create(type="com.example.ok.v1", source="/t", data={"ok": True})
    message = to_record(valid)
    await produce(
        kafka_bootstrap,
        topic,
        [*NOT_EVENTS, (None, message.value, list(message.headers.items()))],
    )
    handled: list[str] = []
    app = App("garbage")

    @app.on(type="com.example.ok.v1")
    async def ok(event: Event) -> None:
        handled.append(event.id)

    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:
        await eventually(lambda: _true(handled == [valid.id]), within=30, what="the valid event")
        assert worker.metrics.subscriptions["ok"].invalid == 3
        assert worker.metrics.count("ok", "dead_lettered") == 3
    letters = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=3)
    for letter, (key, value, headers) in zip(letters, NOT_EVENTS, strict=True):
        found = dict(letter.headers)
        assert (letter.key, letter.value) == (key, value)
        assert all(found[name] == v for name, v in headers)
        assert found["tidalerrorclass"] == b"InvalidEventError"
        assert found["tidaltopic"] == topic.encode()
        assert found["tidalpartition"] == b"0"
        assert found["tidalsubscriber"] == b"garbage/ok"
    reasons = [dict(letter.headers)["tidalerrormessage"].decode() for letter in letters]
    assert reasons[0] == "record is not a CloudEvent: no ce_specversion header"
    assert "missing required attribute 'id'" in reasons[1]
    assert reasons[2].startswith("structured-mode record value is not valid JSON")
    assert [dict(letter.headers)["tidaloffset"] for letter in letters] == [b"0", b"1", b"2"]


async def test_a_poison_event_is_attempted_exactly_n_times_across_a_restart_then_dead_lettered(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topic, prefix, run = unique("poison"), unique("poison"), uuid.uuid4().hex
    group = f"{prefix}.poison"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    event = Event.create(
        type="com.example.poison.v1", source="/t", data={"run": run}, partitionkey="p-1"
    )
    message = to_record(event)
    sent_headers = [*message.headers.items(), ("x-trace", b"trace-1")]
    await produce(kafka_bootstrap, topic, [(b"p-1", message.value, sent_headers)])
    redis = Redis.from_url(redis_url)
    attempts_key = f"{run}:attempts:{event.id}"
    env = worker_env(kafka_bootstrap, topic=topic, prefix=prefix, redis_url=redis_url)
    env |= fast_failover(kafka_bootstrap)  # the second waits less for the killed first's session
    first = WorkerProcess("tests.integration.apps.kafka_poison:app", env, tmp_path / "w1.log")
    second = WorkerProcess("tests.integration.apps.kafka_poison:app", env, tmp_path / "w2.log")
    try:
        first.start()

        async def second_attempt_is_waiting_in_the_retry_topic() -> bool:
            if int(await redis.get(attempts_key) or 0) < 2:
                return False
            ends = await log_end_offsets(kafka_bootstrap, f"{group}.poison.retry")
            committed = await committed_offsets(kafka_bootstrap, group, f"{group}.poison.retry")
            # the record for attempt 3 is written, the one for attempt 2 is committed
            return sum(ends.values()) == 2 and sum(c or 0 for c in committed.values()) == 1

        await eventually(
            second_attempt_is_waiting_in_the_retry_topic,
            within=40,
            what="two attempts, the third waiting in the retry topic",
            explain=lambda: _text(first.output()),
        )
        first.kill()
        assert int(await redis.get(attempts_key) or 0) == 2
        second.start()
        letters = await read_topic(kafka_bootstrap, f"{topic}.dlq", count=1, within=60)
        await eventually(
            lambda: _zero_lag(kafka_bootstrap, group, topic),
            within=15,
            what="committing the source offset",
            explain=lambda: _text(second.output()),
        )
        await asyncio.sleep(1.0)  # a fifth attempt would show up by now
        assert int(await redis.get(attempts_key) or 0) == ATTEMPTS
    finally:
        first.stop()
        second.stop()
        await redis.aclose()
    letter = letters[0]
    headers = dict(letter.headers)
    assert letter.key == b"p-1"
    assert letter.value == message.value
    assert all(headers[name] == value for name, value in sent_headers)
    assert not any(name.startswith("tidal-") for name in headers), "retry headers are removed"
    assert headers["ce_tidalattempts"] == str(ATTEMPTS).encode()
    assert headers["ce_tidalerrorclass"] == b"RuntimeError"
    assert headers["ce_tidalerrormessage"] == b"poisoned on purpose"
    assert headers["ce_tidalsubscriber"] == b"poison/poison"
    assert headers["ce_tidaltopic"] == topic.encode()
    assert (headers["ce_tidalpartition"], headers["ce_tidaloffset"]) == (b"0", b"0")
    dead = from_record(
        KafkaMessage(headers=headers_from_list(letter.headers), key=None, value=letter.value)
    )
    assert original(dead) == from_record(
        KafkaMessage(headers=message.headers, key=None, value=message.value)
    )
    assert dead.get_extension("tidalfirstfailure") < dead.get_extension("tidallastfailure")


async def _zero_lag(bootstrap: str, group: str, topic: str) -> bool:
    ends = await log_end_offsets(bootstrap, topic)
    committed = await committed_offsets(bootstrap, group, topic)
    return all(committed.get(p) == end for p, end in ends.items())


async def _true(value: bool) -> bool:
    return value


async def _text(value: object) -> str:
    return str(value)
