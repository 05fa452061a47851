"""An App's subscriptions in one consumer group on a real broker: each record fetched and decoded
once for all of them, each subscription with its own progress, the commit at the slowest's.

Issue 20: "N subscriptions reading one topic decode each record once". Before, each subscription
was a consumer group of its own and decoded every record again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from tests.support.kafka import (
    committed_offsets,
    create_topic,
    eventually,
    lag,
    unique,
    worker_settings,
)

import tidal._bindings.kafka as binding
from tidal import App, DeliveryPolicy, Event
from tidal._settings import IdempotencySettings
from tidal._transports.kafka import KafkaPublisher, KafkaWorker

pytestmark = pytest.mark.integration

EVENTS = 120


def _events(count: int) -> list[Event]:
    return [
        Event.create(type="com.example.n.v1", source="/t", data={"n": n}, partitionkey=f"k{n % 7}")
        for n in range(count)
    ]


async def _publish(bootstrap: str, topic: str, events: list[Event]) -> None:
    settings = worker_settings(bootstrap, topic=topic)
    async with KafkaPublisher.connect(settings.kafka) as publisher:
        await publisher.publish_many(events, topic=topic)


async def test_subscriptions_share_one_consumer_and_decode_each_record_once(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = unique("shared")
    await create_topic(kafka_bootstrap, topic, partitions=2)
    await _publish(kafka_bootstrap, topic, _events(EVENTS))
    reads = Counter[str]()
    read_list = binding._read_list

    def counted(headers: Any, key: bytes | None, value: bytes | None) -> Event | None:
        reads[value.decode() if value else ""] += 1
        return read_list(headers, key, value)

    monkeypatch.setattr(binding, "_read_list", counted)
    seen: dict[str, list[int]] = {"audit": [], "mailer": [], "ledger": []}
    app = App("shared")

    @app.on(type="com.example.n.v1")
    def audit(event: Event) -> None:
        seen["audit"].append(event.data["n"])

    @app.on(type="com.example.n.v1")
    def mailer(event: Event) -> None:
        seen["mailer"].append(event.data["n"])

    @app.on(type="com.example.n.v1")
    def ledger(event: Event) -> None:
        seen["ledger"].append(event.data["n"])

    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:
        await eventually(
            lambda: _true(all(len(ns) == EVENTS for ns in seen.values())),
            within=60,
            what="every subscription handling every event",
            explain=lambda: _text(worker.metrics.snapshot()),
        )
        [member] = worker.workers
        groups = {m.group for m in worker.metrics.subscriptions.values()}
        assert groups == {member.group}, "one consumer group for the App"
        await eventually(
            lambda: _zero(lag(kafka_bootstrap, member.group, topic)), within=15, what="commits"
        )
    assert all(sorted(ns) == list(range(EVENTS)) for ns in seen.values())
    assert len(reads) == EVENTS
    assert set(reads.values()) == {1}, "each record decoded once for the three subscriptions"


async def test_a_subscription_with_a_group_of_its_own_gets_its_own_consumer(
    kafka_bootstrap: str,
) -> None:
    topic = unique("own-group")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await _publish(kafka_bootstrap, topic, _events(10))
    seen = Counter[str]()
    app = App("own")

    @app.on(type="com.example.n.v1")
    def first(event: Event) -> None:
        seen["first"] += 1

    @app.on(type="com.example.n.v1")
    def second(event: Event) -> None:
        seen["second"] += 1

    @app.on(type="com.example.n.v1")
    def isolated(event: Event) -> None:
        seen["isolated"] += 1

    own = unique("isolated")
    settings = worker_settings(kafka_bootstrap, topic=topic, group_ids={"isolated": own})
    async with KafkaWorker(app, settings) as worker:
        await eventually(
            lambda: _true(seen == Counter(first=10, second=10, isolated=10)),
            within=60,
            what="all three subscriptions handling all ten",
        )
        members = {m.group: sorted(h.sub.name for h in m.handlers) for m in worker.workers}
        shared = worker.topics["first"].group
        assert members == {shared: ["first", "second"], own: ["isolated"]}
        for group in members:
            await eventually(
                lambda g=group: _zero(lag(kafka_bootstrap, g, topic)),  # type: ignore[misc]
                within=15,
                what=f"group {group} committing all",
            )


async def test_the_group_commits_at_the_slowest_subscription_while_the_others_go_on(
    kafka_bootstrap: str,
) -> None:
    topic = unique("slowest")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await _publish(kafka_bootstrap, topic, _events(EVENTS))
    release = asyncio.Event()
    fast: list[int] = []
    slow: list[int] = []
    app = App("slowest")

    @app.on(type="com.example.n.v1")
    def quick(event: Event) -> None:
        fast.append(event.data["n"])

    @app.on(type="com.example.n.v1", policy=DeliveryPolicy(timeout=None))
    async def stuck(event: Event) -> None:
        if event.data["n"] == 30:
            await release.wait()
        slow.append(event.data["n"])

    # n = 30 blocks its key (n % 7 == 2) from there on; every other key goes on
    unblocked = [n for n in range(EVENTS) if n < 30 or n % 7 != 2]
    async with KafkaWorker(app, worker_settings(kafka_bootstrap, topic=topic)) as worker:
        group = worker.topics["quick"].group
        await eventually(
            lambda: _true(len(fast) == EVENTS and len(slow) == len(unblocked)),
            within=60,
            what="the other subscription and the other keys going on",
            explain=lambda: _text(worker.metrics.snapshot()),
        )
        await asyncio.sleep(1.0)  # five commit intervals
        [committed] = (await committed_offsets(kafka_bootstrap, group, topic)).values()
        assert committed == 30, "at the slowest subscription's progress"
        assert sorted(slow) == unblocked
        measured = worker.metrics.subscriptions
        assert (measured["quick"].lag, measured["stuck"].lag) == (0, EVENTS - 30), "their own"
        release.set()
        await eventually(lambda: _zero(lag(kafka_bootstrap, group, topic)), within=15, what="all")
    assert sorted(slow) == list(range(EVENTS))


async def _true(value: bool) -> bool:
    return value


async def _zero(value: Any) -> bool:
    return await value == 0


async def _text(value: object) -> str:
    return repr(value)


async def test_subscriptions_sharing_an_event_each_take_their_own_batch_claim_on_redis(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """The batch claim step parks a claim per event until its attempt takes it; parked by the
    event alone, the second subscription took the first's (or found none and met its own claim
    as "in progress elsewhere", a retry): `tidal dev --kafka` showed it on the orders App."""
    topic = unique("shared-redis")
    await create_topic(kafka_bootstrap, topic, partitions=2)
    await _publish(kafka_bootstrap, topic, _events(EVENTS))
    seen = Counter[str]()
    app = App("shared-redis")

    @app.on(type="com.example.n.v1")
    def audit(event: Event) -> None:
        seen["audit"] += 1

    @app.on(type="com.example.n.v1")
    def mailer(event: Event) -> None:
        seen["mailer"] += 1

    settings = worker_settings(kafka_bootstrap, topic=topic).model_copy(
        update={"idempotency": IdempotencySettings(backend="redis", redis_url=redis_url)}
    )
    async with KafkaWorker(app, settings) as worker:
        await eventually(
            lambda: _true(seen == Counter(audit=EVENTS, mailer=EVENTS)),
            within=60,
            what="both subscriptions handling every event once",
            explain=lambda: _text(worker.metrics.snapshot()),
        )
        counts = worker.metrics.snapshot()
    for name in ("audit", "mailer"):
        assert (counts[name]["handled"], counts[name]["retried"]) == (EVENTS, 0), counts[name]


async def test_after_a_restart_the_faster_subscription_meets_its_done_records_as_duplicates(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """docs/kafka.md's trade-off: the group commits at the slowest subscription, so a restart
    hands the faster one records it had done; with Redis idempotency they are duplicates, run
    once in all."""
    topic = unique("restart")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await _publish(kafka_bootstrap, topic, _events(40))
    runs = Counter[int]()
    slow: list[int] = []
    release = asyncio.Event()
    app = App("restart")

    @app.on(type="com.example.n.v1")
    def quick(event: Event) -> None:
        runs[event.data["n"]] += 1

    @app.on(type="com.example.n.v1", policy=DeliveryPolicy(timeout=None))
    async def later(event: Event) -> None:
        if event.data["n"] == 0:  # holds its key; the other keys end, the commit stays at 0
            await release.wait()
        slow.append(event.data["n"])

    settings = worker_settings(kafka_bootstrap, topic=topic).model_copy(
        update={"idempotency": IdempotencySettings(backend="redis", redis_url=redis_url)}
    )
    first = KafkaWorker(app, settings)
    group = first.topics["quick"].group
    await first.start()
    try:
        await eventually(lambda: _true(len(runs) == 40), within=60, what="quick handling all")
    finally:
        await first.stop(grace=0)  # `later` is cut off at n = 0: nothing committed past it
    assert (await committed_offsets(kafka_bootstrap, group, topic)) in ({0: None}, {0: 0})
    release.set()
    async with KafkaWorker(app, settings) as worker:
        await eventually(lambda: _true(len(set(slow)) == 40), within=60, what="later, all")
        counts = worker.metrics.snapshot()
        await eventually(lambda: _zero(lag(kafka_bootstrap, group, topic)), within=15, what="all")
    assert set(runs.values()) == {1}, "quick ran each event once"
    assert counts["quick"]["duplicate"] == 40
