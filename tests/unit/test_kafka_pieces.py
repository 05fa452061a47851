"""The Kafka transport's pure parts, without a broker: offsets, scheduling, retry and dead-letter
records, names, settings, the coalescing idempotency store and the binding's fast reader."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.bindings import kafka as sdk_kafka

from tidal import App, ConfigurationError, DeliveryPolicy, Event, InvalidEventError, Settings
from tidal._bindings.formats import FORMAT
from tidal._bindings.kafka import (
    KafkaMessage,
    from_consumed,
    from_record,
    headers_from_list,
    to_record,
)
from tidal._deadletters import Failure, original
from tidal._idempotency import Record, Status
from tidal._settings import KafkaSettings
from tidal._stores.coalescing import CoalescingStore
from tidal._transports.kafka import KafkaWorker
from tidal._transports.kafka.letters import event_letter, invalid_letter
from tidal._transports.kafka.names import check_groups, topics_for
from tidal._transports.kafka.offsets import OffsetWindow
from tidal._transports.kafka.records import Origin
from tidal._transports.kafka.retries import ATTEMPTS, RetryState, retry_record
from tidal._transports.kafka.scheduling import PartitionWork
from tidal.observability import unregister
from tidal.testing import make_event

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)


def rec_of(event: Event, offset: int = 7, topic: str = "orders") -> Rec:
    message = to_record(event)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return Rec(topic, 0, offset, key, message.value, list(message.headers.items()))


# -- offsets ---------------------------------------------------------------------------------


def test_the_commit_position_moves_only_over_contiguous_finished_offsets() -> None:
    window = OffsetWindow()
    for offset in (10, 11, 12, 15):
        window.add(offset)
    assert not window.done(11)
    assert window.position is None
    assert window.done(10)
    assert window.position == 12  # 10 and 11 are done, 12 is not
    assert window.done(12)
    assert window.position == 13  # 13 and 14 were never fetched (compacted away)
    assert len(window) == 1
    assert window.done(15)
    assert (window.position, len(window)) == (16, 0)


def test_offsets_must_arrive_in_order() -> None:
    window = OffsetWindow()
    window.add(3)
    with pytest.raises(ValueError, match="arrived after"):
        window.add(3)


# -- scheduling ------------------------------------------------------------------------------


async def _run_partition(records: list[Rec], **options: object) -> tuple[list[Rec], int]:
    order: list[Rec] = []
    running = most = 0
    rng = random.Random(11)
    done = asyncio.Event()

    async def process(record: Rec) -> None:  # type: ignore[misc]
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(rng.uniform(0, 0.003))
        running -= 1
        order.append(record)
        if len(order) == len(records):
            done.set()

    work = PartitionWork(process=process, **options)  # type: ignore[arg-type]
    work.feed(records)
    await asyncio.wait_for(done.wait(), 10)
    assert work.position == records[-1].offset + 1
    await work.close(grace=1)
    return order, most


async def test_records_of_one_key_run_in_order_and_different_keys_concurrently() -> None:
    records = [Rec("t", 0, i, f"k{i % 5}".encode(), b"") for i in range(100)]
    order, most = await _run_partition(records, limit=8, window=100)
    for k in range(5):
        offsets = [r.offset for r in order if r.key == f"k{k}".encode()]
        assert offsets == sorted(offsets)
    assert 1 < most <= 5


async def test_ordered_mode_runs_the_partition_in_sequence() -> None:
    records = [Rec("t", 0, i, f"k{i % 5}".encode(), b"") for i in range(30)]
    order, most = await _run_partition(records, limit=8, window=100, ordered=True)
    assert [r.offset for r in order] == list(range(30))
    assert most == 1


async def test_keyless_records_run_concurrently_up_to_the_limit() -> None:
    records = [Rec("t", 0, i, None, b"") for i in range(40)]
    _, most = await _run_partition(records, limit=6, window=100)
    assert most == 6


async def test_records_whose_runs_never_wait_take_one_worker_task_not_one_each() -> None:
    """An in-process store and a handler that does not await: each run ends before the loop
    turns, so one worker runs the burst (a task per record was most of a record's cost with
    50 subscriptions, and garbage the collector walked)."""
    tasks: set[asyncio.Task[object] | None] = set()

    async def process(record: Rec) -> None:  # type: ignore[misc]
        tasks.add(asyncio.current_task())

    work = PartitionWork(process=process, limit=64, window=500)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, f"k{i}".encode(), b"") for i in range(200)])  # type: ignore[arg-type]
    for _ in range(200):
        if work.position == 200:
            break
        await asyncio.sleep(0.005)
    assert work.position == 200
    assert len(tasks) == 1
    await work.close(grace=0)


async def test_runs_that_wait_still_get_a_worker_each_up_to_the_limit() -> None:
    tasks: set[asyncio.Task[object] | None] = set()
    records = [Rec("t", 0, i, None, b"") for i in range(40)]
    running, most, done = 0, 0, asyncio.Event()

    async def process(record: Rec) -> None:  # type: ignore[misc]
        nonlocal running, most
        tasks.add(asyncio.current_task())
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        if record.offset == 39:
            done.set()

    work = PartitionWork(process=process, limit=6, window=100)  # type: ignore[arg-type]
    work.feed(records)  # type: ignore[arg-type]
    await asyncio.wait_for(done.wait(), 10)
    assert most == 6
    assert len(tasks) == 6  # each worker runs record after record, none is spawned per record
    await work.close(grace=1)


async def test_a_batch_whose_prepare_never_waited_runs_its_jobs_in_one_worker() -> None:
    tasks: set[asyncio.Task[object] | None] = set()

    @dataclass
    class Job:
        async def run(self) -> None:
            tasks.add(asyncio.current_task())

        async def abandon(self) -> None:
            raise AssertionError("nothing is abandoned")

    async def prepare(records: list[Rec]) -> list[Job]:  # an in-process store: no wait
        return [Job() for _ in records]

    work = PartitionWork(process=None, prepare=prepare, limit=64, window=500)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, f"k{i}".encode(), b"") for i in range(100)])  # type: ignore[arg-type]
    for _ in range(200):
        if work.position == 100:
            break
        await asyncio.sleep(0.005)
    assert work.position == 100
    assert len(tasks) == 1
    await work.close(grace=0)


async def test_a_batch_whose_prepare_waited_starts_a_worker_per_job() -> None:
    """A store across the network: the jobs' completions wait too, and should wait together
    (one coalesced store call), not one after another."""
    log: list[str] = []
    running, most = 0, 0

    @dataclass
    class Job:
        async def run(self) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)  # the completion's round trip
            running -= 1
            log.append("ran")

        async def abandon(self) -> None:
            raise AssertionError("nothing is abandoned")

    async def prepare(records: list[Rec]) -> list[Job]:
        await asyncio.sleep(0.001)  # the claim's round trip
        return [Job() for _ in records]

    work = PartitionWork(process=None, prepare=prepare, limit=16, window=500)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, f"k{i}".encode(), b"") for i in range(16)])  # type: ignore[arg-type]
    for _ in range(200):
        if work.position == 16:
            break
        await asyncio.sleep(0.005)
    assert work.position == 16
    assert most == 16
    await work.close(grace=0)


async def test_a_held_record_waits_for_its_due_time_without_holding_up_others() -> None:
    loop = asyncio.get_running_loop()
    started: dict[int, float] = {}

    all_started = asyncio.Event()

    async def process(record: Rec) -> None:  # type: ignore[misc]
        started[record.offset] = loop.time()
        if len(started) == 3:
            all_started.set()

    records = [Rec("t", 0, i, f"k{i}".encode(), b"") for i in range(3)]
    work = PartitionWork(
        process=process,  # type: ignore[arg-type]
        limit=10,
        window=10,
        hold=lambda r: 0.3 if r.offset == 0 else 0.0,
    )
    begin = loop.time()
    work.feed(records)  # type: ignore[arg-type]
    await asyncio.wait_for(all_started.wait(), 5)
    assert started[0] - begin >= 0.29
    assert max(started[1], started[2]) - begin < 0.2
    await work.close(grace=0)


async def test_a_full_partition_reports_when_it_has_room_again() -> None:
    gate = asyncio.Event()
    rooms: list[bool] = []

    async def process(record: Rec) -> None:  # type: ignore[misc]
        await gate.wait()

    work = PartitionWork(
        process=process,  # type: ignore[arg-type]
        limit=2,
        window=10,
        backlog=3,
        on_room=lambda: rooms.append(True),
    )
    work.feed([Rec("t", 0, i, None, b"") for i in range(5)])  # type: ignore[arg-type]
    assert work.in_flight == 2
    assert work.full_since is not None
    gate.set()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if work.position == 5:
            break
    assert rooms == [True]
    assert work.full_since is None
    await work.close(grace=0)


async def test_closing_cancels_what_has_not_finished() -> None:
    finished: list[int] = []

    async def process(record: Rec) -> None:  # type: ignore[misc]
        await asyncio.sleep(10 if record.offset else 0)
        finished.append(record.offset)

    work = PartitionWork(process=process, limit=4, window=10)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, None, b"") for i in range(3)])  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    await work.close(grace=0.05)
    assert finished == [0]
    assert work.position == 1


async def test_a_record_that_cannot_end_is_reported_and_not_committed() -> None:
    errors: list[BaseException] = []

    async def process(record: Rec) -> None:  # type: ignore[misc]
        raise OSError("cannot reach the dead-letter topic")

    work = PartitionWork(process=process, limit=4, window=10, on_error=errors.append)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, 0, None, b"")])  # type: ignore[arg-type]
    await asyncio.sleep(0.02)
    assert [type(e) for e in errors] == [OSError]
    assert work.position is None
    await work.close(grace=0)


@dataclass
class FakeJob:
    record: Rec
    log: list[str]
    wait: float = 0.0

    async def run(self) -> None:
        await asyncio.sleep(self.wait)
        self.log.append(f"ran {self.record.offset}")

    async def abandon(self) -> None:
        self.log.append(f"abandoned {self.record.offset}")


async def test_prepared_batches_run_their_jobs_and_the_rest_run_plainly() -> None:
    log: list[str] = []
    batches: list[list[int]] = []

    async def process(record: Rec) -> None:  # type: ignore[misc]
        log.append(f"plain {record.offset}")

    async def prepare(records: list[Rec]) -> list[FakeJob | None]:
        batches.append([r.offset for r in records])
        await asyncio.sleep(0)
        return [FakeJob(r, log) if r.offset % 2 else None for r in records]

    work = PartitionWork(process=process, prepare=prepare, limit=8, window=20)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, f"k{i}".encode(), b"") for i in range(12)])  # type: ignore[arg-type]
    for _ in range(100):
        if work.position == 12:
            break
        await asyncio.sleep(0.01)
    assert work.position == 12
    assert sorted(o for batch in batches for o in batch) == list(range(12))
    assert len(batches) < 12  # ready records go to prepare together
    expected = {f"ran {i}" if i % 2 else f"plain {i}" for i in range(12)}
    assert sorted(log) == sorted(expected)
    await work.close(grace=0)


async def test_closing_abandons_prepared_jobs_that_never_ran() -> None:
    log: list[str] = []

    async def prepare(records: list[Rec]) -> list[FakeJob]:
        return [FakeJob(r, log, wait=10) for r in records]

    work = PartitionWork(process=None, prepare=prepare, limit=2, window=10, workers=1)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, None, b"") for i in range(2)])  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # one worker: the first job runs (for 10 s), the second waits
    await work.close(grace=0)
    assert log == ["abandoned 1"]
    assert work.position is None


async def test_a_failed_prepare_leaves_the_records_to_process() -> None:
    done: list[int] = []

    async def process(record: Rec) -> None:  # type: ignore[misc]
        done.append(record.offset)

    async def prepare(records: list[Rec]) -> list[FakeJob]:
        raise ConnectionError("redis is down")

    work = PartitionWork(process=process, prepare=prepare, limit=4, window=10)  # type: ignore[arg-type]
    work.feed([Rec("t", 0, i, None, b"") for i in range(3)])  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert sorted(done) == [0, 1, 2]
    assert work.position == 3
    await work.close(grace=0)


# -- retry records ---------------------------------------------------------------------------


def test_retry_state_round_trips_through_headers_and_replaces_the_previous_state() -> None:
    event = make_event("t", data={"a": 1}, partitionkey="k1")
    first = RetryState(
        attempts=1, not_before=NOW, first_failure=NOW, origin=Origin("orders", 2, 41)
    )
    once = retry_record(rec_of(event), topic="g.retry", state=first, error=RuntimeError("x"))
    again = Rec("g.retry", 0, 0, once.key, once.value, once.headers)
    second = RetryState(
        attempts=2,
        not_before=NOW + timedelta(seconds=2),
        first_failure=NOW,
        origin=first.origin,
    )
    twice = retry_record(again, topic="g.retry", state=second, error=RuntimeError("y"))
    headers = headers_from_list(twice.headers)
    assert [name for name, _ in twice.headers].count(ATTEMPTS) == 1
    assert RetryState.from_headers(headers) == second
    assert (twice.key, twice.value) == (b"k1", rec_of(event).value)
    assert from_record(KafkaMessage(headers=headers, key=twice.key, value=twice.value)) == event


def test_a_retry_record_without_its_state_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="tidal-not-before"):
        RetryState.from_headers({"tidal-attempts": b"1"})


# -- dead letters ----------------------------------------------------------------------------


def _failure() -> Failure:
    return Failure(
        error_class="RuntimeError",
        message="boom",
        attempts=3,
        first_failure=NOW,
        last_failure=NOW + timedelta(seconds=5),
        subscriber="shop/mailer",
    )


def test_a_binary_dead_letter_keeps_the_value_and_adds_the_failure_as_extensions() -> None:
    event = make_event("t", data={"a": 1}, partitionkey="k1")
    record = rec_of(event)
    letter = event_letter(
        record, event, _failure(), topic="orders.dlq", origin=Origin("orders", 0, 7)
    )
    assert (letter.topic, letter.key, letter.value) == ("orders.dlq", b"k1", record.value)
    dead = from_record(KafkaMessage(headers=dict(letter.headers), key=None, value=letter.value))
    assert dead.get_extension("tidalattempts") == "3"
    assert dead.get_extension("tidaltopic") == "orders"
    assert dead.get_extension("tidaloffset") == "7"
    assert original(dead) == event


def test_a_structured_dead_letter_carries_the_extensions_in_its_json() -> None:
    event = make_event("t", data={"a": 1})
    message = to_record(event, mode="structured")
    record = Rec("orders", 0, 3, None, message.value, list(message.headers.items()))
    letter = event_letter(record, event, _failure(), topic="orders.dlq", origin=Origin.of(record))
    dead = from_record(KafkaMessage(headers=dict(letter.headers), key=None, value=letter.value))
    assert dead.get_extension("tidalerrormessage") == "boom"
    assert dead.get_extension("tidalpartition") == 0
    assert original(dead) == event


def test_an_unlabelled_structured_dead_letter_stays_readable_with_its_failure() -> None:
    # Debezium's CloudEventsConverter (and tidal's outbox relay): a structured JSON value, no
    # content-type, plain `id`/`type` headers; its letter must read back with the failure
    value = b'{"specversion":"1.0","id":"e-1","source":"/debezium/postgresql/s","type":"t",'
    value += b'"datacontenttype":"application/json","data":{"a":1}}'
    record = Rec("outbox.event.reading", 0, 5, b"r-1", value, [("id", b"e-1"), ("type", b"t")])
    event = from_record(KafkaMessage(headers=dict(record.headers), key=b"r-1", value=value))
    letter = event_letter(record, event, _failure(), topic="orders.dlq", origin=Origin.of(record))
    dead = from_record(KafkaMessage(headers=dict(letter.headers), key=b"r-1", value=letter.value))
    assert dead.get_extension("tidalerrormessage") == "boom"
    assert dead.get_extension("tidaloffset") == "5"
    assert dead.data == {"a": 1}
    assert dict(letter.headers) == {"id": b"e-1", "type": b"t"}


def test_a_record_that_is_no_event_is_dead_lettered_as_it_was_with_plain_headers() -> None:
    record = Rec("orders", 1, 9, b"k", b"hello", [("x-trace", b"1")])
    letter = invalid_letter(record, _failure(), topic="orders.dlq", origin=Origin.of(record))
    headers = dict(letter.headers)
    assert (letter.key, letter.value, headers["x-trace"]) == (b"k", b"hello", b"1")
    assert headers["tidalerrorclass"] == b"RuntimeError"
    assert (headers["tidalpartition"], headers["tidaloffset"]) == (b"1", b"9")
    assert not any(name.startswith("ce_") for name in headers)


# -- names and settings ----------------------------------------------------------------------


def _app() -> App:
    app = App("shop")

    @app.on(type="order.placed")
    def mailer(event: Event) -> None: ...

    @app.on(type="order.placed", policy=DeliveryPolicy(dead_letter="shop.graveyard"))
    def ledger(event: Event) -> None: ...

    return app


def test_subscriptions_share_the_apps_group_and_each_has_its_own_retry_topic() -> None:
    app = _app()
    settings = KafkaSettings(topics=["orders", "returns"], group_ids={"ledger": "legacy-ledger"})
    mailer = topics_for("shop", app.subscription("mailer"), settings)
    ledger = topics_for("shop", app.subscription("ledger"), settings)
    assert (mailer.group, mailer.retry) == ("tidal.shop", "tidal.shop.mailer.retry")
    assert mailer.consumed == ["orders", "returns", "tidal.shop.mailer.retry"]
    assert mailer.dlqs() == ["orders.dlq", "returns.dlq"]
    assert (ledger.group, ledger.retry) == ("legacy-ledger", "legacy-ledger.ledger.retry")
    assert ledger.dlqs() == ["shop.graveyard"]
    check_groups([mailer, ledger])


def test_two_subscriptions_sharing_a_retry_topic_fail_at_start_up() -> None:
    app, settings = _app(), KafkaSettings(retry_topic="{group}.retry")
    both = [topics_for("shop", app.subscription(name), settings) for name in ("mailer", "ledger")]
    with pytest.raises(ConfigurationError, match=r"share the retry topic 'tidal\.shop\.retry'"):
        check_groups(both)


def test_a_topic_pattern_with_an_unknown_placeholder_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="may only use"):
        topics_for("shop", _app().subscription("mailer"), KafkaSettings(dlq_topic="{nope}.dlq"))
    with pytest.raises(ConfigurationError, match="legal Kafka topic"):
        topics_for("shop", _app().subscription("mailer"), KafkaSettings(topics=["a b"]))


def test_topics_may_be_given_as_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDAL_KAFKA__TOPICS", "orders, returns")
    assert Settings().kafka.topics == ["orders", "returns"]
    monkeypatch.setenv("TIDAL_KAFKA__TOPICS", '["orders"]')
    assert Settings().kafka.topics == ["orders"]


# -- the coalescing idempotency store --------------------------------------------------------


class BatchingFake:
    """Remembers each batch it was called with; ``taken`` keys answer with a record."""

    def __init__(self, taken: dict[str, Record] | None = None, fail: bool = False) -> None:
        self.taken, self.fail = taken or {}, fail
        self.batches: list[list[str]] = []

    async def acquire_many(self, items: Sequence[tuple[str, Record, float]]) -> list[Record | None]:
        self.batches.append([key for key, _, _ in items])
        if self.fail:
            raise ConnectionError("redis is down")
        return [self.taken.get(key) for key, _, _ in items]

    async def complete_many(self, items: Sequence[tuple[str, Record, float]]) -> list[bool]:
        self.batches.append([key for key, _, _ in items])
        return [key not in self.taken for key, _, _ in items]

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None: ...
    async def complete(self, key: str, record: Record, *, ttl: float) -> bool: ...
    async def release(self, key: str, token: str) -> None: ...
    async def get(self, key: str) -> Record | None: ...


async def test_calls_made_in_one_loop_turn_go_to_the_store_as_one_batch() -> None:
    record = Record(status=Status.IN_PROGRESS, payload_hash="h", token="t")
    fake = BatchingFake(taken={"b": record})
    store = CoalescingStore(fake)
    found = await asyncio.gather(*(store.acquire(k, record, ttl=60) for k in "abc"))
    assert found == [None, record, None]
    done = await asyncio.gather(*(store.complete(k, record, ttl=60) for k in "ab"))
    assert done == [True, False]
    assert fake.batches == [["a", "b", "c"], ["a", "b"]]


async def test_batches_and_single_calls_of_one_loop_turn_share_one_call() -> None:
    record = Record(status=Status.IN_PROGRESS, payload_hash="h", token="t")
    fake = BatchingFake(taken={"b": record, "e": record})
    store = CoalescingStore(fake)
    items = [(k, record, 60.0) for k in "abcde"]
    first, single, second = await asyncio.gather(
        store.acquire_many(items[:2]),
        store.acquire("c", record, ttl=60),
        store.acquire_many(items[3:]),
    )
    assert (first, single, second) == ([None, record], None, [None, record])
    assert fake.batches == [["a", "b", "c", "d", "e"]]
    assert await store.acquire_many([]) == []


async def test_a_failed_batch_fails_every_caller_in_it() -> None:
    record = Record(status=Status.IN_PROGRESS, payload_hash="h", token="t")
    store = CoalescingStore(BatchingFake(fail=True))
    results = await asyncio.gather(
        *(store.acquire(k, record, ttl=60) for k in "ab"), return_exceptions=True
    )
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]


@pytest.mark.parametrize(
    ("backend", "batches"), [("memory", False), ("redis", True), ("none", False)]
)
async def test_only_a_store_across_the_network_claims_records_in_batches(
    backend: str, batches: bool
) -> None:
    """The batch claim step shares a round trip; the in-process store has none to share and
    takes `Idempotency.run`'s fast path per record instead (no `Claim` or job per record)."""
    app = App("pieces")

    @app.on(type="t")
    async def handle(event: Event) -> None:
        return None

    worker = KafkaWorker(app, Settings(idempotency={"backend": backend}))
    try:
        assert [h.batches for w in worker.workers for h in w.handlers] == [batches]
    finally:
        unregister(worker.source)
        for w in worker.workers:
            await w.consumer.stop()
        await worker._close_clients()


# -- the binding's binary reader -------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        make_event("t", data={"a": [1, 2]}, partitionkey="k", subject="s"),
        make_event("t", data="plain text", datacontenttype="text/plain"),
        make_event("t", data=b"\x00\x01", datacontenttype="application/octet-stream"),
        make_event("t", time=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC), ext1="x"),
    ],
)
def test_the_binary_reader_decodes_like_the_sdk(event: Event) -> None:
    message = to_record(event)
    ours = from_record(message)
    theirs = sdk_kafka.from_binary(message, FORMAT, Event)
    assert ours == theirs
    assert ours == event


_BINARY = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"e-1"),
    ("ce_source", b"/s"),
    ("ce_type", b"t"),
    ("ce_time", b"2026-11-23T10:15:00Z"),
    ("content-type", b"application/json"),
]


@pytest.mark.parametrize(
    ("headers", "key", "value"),
    [
        (_BINARY, b"k-1", b'{"a": 1}'),
        (_BINARY, None, None),
        ([("content-type", b"text/plain"), *_BINARY[:5]], None, b"hi"),  # attribute order
        ([*_BINARY, ("ce_id", b"e-2"), ("traceparent", b"x"), ("ce_ext1", None)], None, b"1"),
        ([("CE_ID", b"e-3"), *_BINARY[:1], *_BINARY[2:]], None, b"{}"),  # capitals
        ([("Content-Type", b"application/json"), *_BINARY[:5]], None, b"{}"),
        (_BINARY, None, '\ufeff{"a": 1}'.encode("utf-8-sig")),  # a BOM: json.loads decides
        (_BINARY, None, '{"a": "\u00e9"}'.encode("utf-16")),
    ],
)
def test_the_list_reader_decodes_as_from_record_does(
    headers: list[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> None:
    message = KafkaMessage(headers=headers_from_list(headers), key=key, value=value or b"")
    try:
        expected: Event | str = from_record(message)
    except InvalidEventError as exc:
        expected = str(exc)
    try:
        ours: Event | str = from_consumed(headers, key, value)
    except InvalidEventError as exc:
        ours = str(exc)
    assert ours == expected
    if isinstance(ours, Event) and isinstance(expected, Event):
        assert list(ours.get_attributes()) == list(expected.get_attributes())


@pytest.mark.parametrize(
    "headers",
    [
        _BINARY[1:],  # no ce_specversion
        [*_BINARY, ("ce_subject", b"\xff")],  # not UTF-8
        [*_BINARY[:4], ("ce_time", b"yesterday")],
        [*_BINARY[:5], ("content-type", b"application/cloudevents+json")],  # structured
        [("ce_specversion", b"0.3"), *_BINARY[1:]],
    ],
)
def test_the_list_reader_fails_as_from_record_does(
    headers: list[tuple[str, bytes | None]],
) -> None:
    message = KafkaMessage(headers=headers_from_list(headers), key=None, value=b"{")
    with pytest.raises(InvalidEventError) as theirs:
        from_record(message)
    with pytest.raises(InvalidEventError) as ours:
        from_consumed(headers, None, b"{")
    assert str(ours.value) == str(theirs.value)


async def test_consumers_take_the_fetch_wait_the_settings_give() -> None:
    from tidal.kafka._connecting import make_consumer

    default = make_consumer(KafkaSettings(), group="g")
    short = make_consumer(KafkaSettings(fetch_max_wait_ms=20), group="g")
    try:
        assert (default._fetch_max_wait_ms, short._fetch_max_wait_ms) == (100, 20)
    finally:
        await default.stop()  # never started: only marks them closed
        await short.stop()
    with pytest.raises(ValueError, match="fetch_max_wait_ms"):
        KafkaSettings(fetch_max_wait_ms=-1)
