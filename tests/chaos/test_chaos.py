"""Chaos: three Kafka workers, their broker and their Redis killed and frozen at random.

Per seed: a tansu broker whose data outlives a SIGKILL (S3 storage on a moto server), a Redis
that fsyncs every write (AOF ``appendfsync always``) holding the idempotency records, and three
``tidal run --transport kafka`` workers of `tests.chaos.ledger_app`, whose handler appends one
line per effect to a ledger file outside the workers. A producer writes ``EVENTS`` keyed events
(per-key ``seq``) and, half-way, one poison record (no CloudEvent: broken JSON) while a driver
with a seeded RNG, one fault at a time, SIGKILLs a worker (restarted after a pause), SIGSTOPs
one (SIGCONT later; sometimes past the session timeout, so its partitions move), or SIGKILLs
Redis or the broker and restarts it on the same port. Then everything drains and the test
asserts, from the ledger and the dead-letter topic:

- **0 lost**: every produced event has an effect in the ledger;
- **0 duplicate effects**: an event whose effect is in the ledger more than once needs, for each
  extra effect, a fault that explains it (`Fault.excuses`, records read from Redis right after
  the fault): a SIGKILL of a worker that had run the effect while the event's record was not
  completed, or a SIGSTOP of a worker that ran it while the event was in progress. That is what
  no idempotency store can settle: the effect ran, and tidal never learnt that it did. Any
  other repetition (the same worker running it again because its completion failed while
  Redis was down, a record redelivered after its completion) is a duplicate;
- **0 order violations on first attempts**: per key, the first effect of each event in the
  ledger, where its first attempt made it, comes in increasing ``seq`` (`out_of_order`: an
  event first handled by a later attempt, a retry or a takeover from a frozen worker, is left
  out; the frozen worker's late effect is a repeated one, judged above);
- **0 dead letters caused by infrastructure**: the dead-letter topic holds nothing but the
  poison record;
- **the poison record is dead-lettered while its partition keeps flowing**: its letter is there,
  and every event after it on its key has its effect;
- no worker exits by itself (a crash loop; the driver restarts one that does, and reports it).

Three seeds are the issue's "three runs in a row". Sized to take about 35 s a seed on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from tests.chaos.ledger_app import LATENCY, app
from tests.support.kafka import (
    WorkerProcess,
    create_topic,
    lag,
    log_end_offsets,
    read_topic,
    unique,
    worker_env,
)
from tests.support.objectstore import S3Server, moto_server
from tests.support.restartable import (
    Restartable,
    bootstrap,
    durable_redis,
    durable_tansu,
    redis_url,
)

from tidal import Event
from tidal._bindings.kafka import to_record
from tidal._dispatching import Dispatcher
from tidal._idempotency import Record, Status

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

EVENTS = 2_000
KEYS = 40
PARTITIONS = 4
WORKERS = 3
CHUNK = 100  # events per produce call; the producer paces them over about PRODUCE_SECONDS
PRODUCE_SECONDS = 15.0
FAULTS: tuple[str, ...] = ("kill-worker", "kill-worker", "stop-worker", "stop-worker-long")
FAULTS += ("kill-redis", "kill-redis", "kill-broker", "kill-broker")
AIM = 5  # handlers running (started, no effect yet) a Redis SIGKILL waits for
SESSION_TIMEOUT = 6.0  # worker_env's TIDAL_KAFKA__SESSION_TIMEOUT_MS
DRAIN_WITHIN = 45.0
POISON = b'{"specversion": "1.0", "id": "poison", "type": '  # cut short: not JSON
SEEDS = (1, 2, 3)
REFUSED = ("Error: cannot reach the Kafka broker", "Error: cannot reach Redis")

Records = list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


# -- what is produced ------------------------------------------------------------------------


@dataclass
class Traffic:
    """The events in produce order (ids ``<run>-<i>``), and the poison's place among them."""

    events: list[Event]
    poison_key: str
    poison_at: int  # index into ``records`` of the poison

    @classmethod
    def make(cls, rng: random.Random, run: str) -> Traffic:
        keys = [f"key-{k}" for k in range(KEYS) for _ in range(EVENTS // KEYS)]
        rng.shuffle(keys)
        seq: Counter[str] = Counter()
        events = []
        for i, key in enumerate(keys):
            events.append(
                Event.create(
                    type="com.example.chaos.v1",
                    source="/tests/chaos",
                    id=f"{run}-{i}",
                    data={"seq": seq[key]},
                    partitionkey=key,
                )
            )
            seq[key] += 1
        return cls(events, poison_key=keys[EVENTS // 2], poison_at=EVENTS // 2)

    def records(self) -> Records:
        out: Records = []
        for event in self.events:
            message = to_record(event)
            out.append(
                (str(event.partitionkey).encode(), message.value, list(message.headers.items()))
            )
        poison = (self.poison_key.encode(), POISON, [("content-type", b"application/json")])
        out.insert(self.poison_at, poison)
        return out

    def after_poison(self) -> set[str]:
        """Ids of the events on the poison's key produced after it."""
        later = self.events[self.poison_at :]
        return {e.id for e in later if e.partitionkey == self.poison_key}


async def produce_paced(address: str, topic: str, records: Records) -> int:
    """Produce ``records`` in chunks over about PRODUCE_SECONDS; a chunk that fails (the broker
    is down) is sent again whole, until acknowledged. Returns how many sends failed."""
    failures = 0
    pause = PRODUCE_SECONDS / (len(records) / CHUNK)
    for start in range(0, len(records), CHUNK):
        while True:
            try:
                await send(address, topic, records[start : start + CHUNK])
                break
            except (KafkaError, OSError):  # the broker is down: the same chunk again
                failures += 1
                await asyncio.sleep(0.3)
        await asyncio.sleep(pause)
    return failures


async def send(address: str, topic: str, chunk: Records) -> None:
    """Produce ``chunk`` and wait for every acknowledgement (a broker that does not answer
    within 3 s fails the batch: ``request_timeout_ms``)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=address, acks="all", linger_ms=5, request_timeout_ms=3000
    )
    try:
        await producer.start()
        futures = [
            await producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in chunk
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# -- the workers -----------------------------------------------------------------------------


@dataclass
class Slot:
    """One of the WORKERS places; each start is a new process with a Redis client name."""

    index: int
    env: dict[str, str]
    redis: Restartable
    logs: Path
    worker: WorkerProcess | None = None
    generation: int = 0
    held: bool = False  # killed or frozen by the driver: not a crash
    crashes: list[str] = field(default_factory=list)
    refusals: int = 0

    @property
    def client_name(self) -> str:
        return f"chaos-w{self.index}-{self.generation}"

    def start(self) -> None:
        self.generation += 1
        env = {
            **self.env,
            "TIDAL_IDEMPOTENCY__REDIS_URL": redis_url(self.redis, client_name=self.client_name),
        }
        log = self.logs / f"worker-{self.index}.log"
        self.worker = WorkerProcess("tests.chaos.ledger_app:app", env, log).start()

    @property
    def pid(self) -> int:
        assert self.worker is not None
        return self.worker.pid


# -- faults ----------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: float  # wall time it began
    seconds: float
    pid: int | None = None
    in_progress: set[str] = field(default_factory=set)  # event ids, read right after it
    completed: set[str] = field(default_factory=set)  # event ids, read right after a kill

    def excuses(self, event_id: str, pids: set[int]) -> bool:
        """Whether this fault explains one repeated effect of ``event_id`` (effects by
        ``pids``): it killed a worker that had run the effect while its completion was not
        recorded (in progress, or its in-progress record already expired), or froze a worker
        that held the event in progress (it may finish after its partition moved on)."""
        if self.pid not in pids:
            return False
        if self.kind == "kill-worker":
            return event_id not in self.completed
        return self.kind == "stop-worker" and event_id in self.in_progress

    def __str__(self) -> str:
        who = "" if self.pid is None else f" pid {self.pid}"
        running = f", {len(self.in_progress)} events in progress" if self.in_progress else ""
        return f"{self.kind}{who} at {self.at:.1f} for {self.seconds:.1f}s{running}"


class Driver:
    """Breaks things one at a time, on a seeded schedule, and remembers what it broke."""

    def __init__(
        self,
        rng: random.Random,
        slots: list[Slot],
        redis: Restartable,
        broker: Restartable,
        keys: dict[str, str],
        ledger: Path,
    ) -> None:
        self.rng, self.slots, self.redis, self.broker = rng, slots, redis, broker
        self.ledger = ledger
        self.keys = keys  # idempotency key -> event id
        self.faults: list[Fault] = []

    async def run(self) -> None:
        schedule = list(FAULTS)
        self.rng.shuffle(schedule)
        for kind in schedule:
            await asyncio.sleep(self.rng.uniform(0.1, 0.5))
            await getattr(self, kind.replace("-", "_"))()

    async def kill_worker(self) -> None:
        slot = self.rng.choice(self.slots)
        fault = self._begin("kill-worker", self.rng.uniform(0.2, 1.0), slot.pid)
        slot.held = True
        assert slot.worker is not None
        slot.worker.kill()
        await self._disconnected(slot.client_name)
        fault.in_progress, fault.completed = await self._records()
        await asyncio.sleep(fault.seconds)
        slot.start()
        slot.held = False

    async def stop_worker(self) -> None:
        await self._stop(self.rng.uniform(0.5, 2.0))

    async def stop_worker_long(self) -> None:
        """A stop past the session timeout: the group moves the worker's partitions away."""
        await self._stop(SESSION_TIMEOUT + 1.5)

    async def _stop(self, seconds: float) -> None:
        slot = self.rng.choice(self.slots)
        fault = self._begin("stop-worker", seconds, slot.pid)
        slot.held = True
        assert slot.worker is not None
        assert slot.worker.proc is not None
        slot.worker.proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.3)  # what it had sent reaches Redis
        fault.in_progress, _ = await self._records()
        await asyncio.sleep(seconds - 0.3)
        slot.worker.proc.send_signal(signal.SIGCONT)
        slot.held = False

    async def kill_redis(self) -> None:
        """SIGKILL Redis while handlers run (up to 3 s spent waiting for AIM of them): they make
        their effects during the outage (it lasts longer than a handler), and their completions
        must not be lost nor their effects repeated."""
        seconds = self.rng.uniform(0.5, 1.5)
        deadline = time.monotonic() + 3
        running = self._running()
        while time.monotonic() < deadline and len(running) < AIM:
            await asyncio.sleep(0.02)
            running = self._running()
        fault = self._begin("kill-redis", seconds)
        fault.in_progress = running  # for the report: no worker's pid, so it excuses nothing
        self.redis.kill()
        await asyncio.sleep(fault.seconds)
        self.redis.start()

    async def kill_broker(self) -> None:
        fault = self._begin("kill-broker", self.rng.uniform(0.5, 1.5))
        self.broker.kill()
        await asyncio.sleep(fault.seconds)
        self.broker.start()

    def _running(self) -> set[str]:
        """Events whose handler started within a handler's latency and has not yet made its
        effect (as the files say; an older start belongs to a run a kill or stop cut short)."""
        started = Path(f"{self.ledger}.starts")
        if not started.exists():
            return set()
        recent, now = set(), time.time()
        for line in started.read_text().splitlines():
            event_id, at = line.split()
            if now - float(at) < LATENCY:
                recent.add(event_id)
        return recent - {line["id"] for line in read_ledger(self.ledger)}

    def _begin(self, kind: str, seconds: float, pid: int | None = None) -> Fault:
        fault = Fault(kind, time.time(), seconds, pid)
        self.faults.append(fault)
        return fault

    async def _disconnected(self, name: str) -> None:
        """Wait (up to 5 s) until Redis has closed a killed worker's connections: it has run
        every command the worker sent."""
        async with Redis.from_url(redis_url(self.redis)) as client:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not any(c.get("name") == name for c in await client.client_list()):
                    return
                await asyncio.sleep(0.05)

    async def _records(self) -> tuple[set[str], set[str]]:
        """Events whose idempotency record is in progress now, and those completed."""
        keys = list(self.keys)
        async with Redis.from_url(redis_url(self.redis)) as client:
            raws = await client.mget(keys)
        found = {
            self.keys[key]: Record.decode(raw).status
            for key, raw in zip(keys, raws, strict=True)
            if raw is not None
        }
        return (
            {event_id for event_id, status in found.items() if status is Status.IN_PROGRESS},
            {event_id for event_id, status in found.items() if status is Status.COMPLETED},
        )


async def watch(slots: list[Slot], stop: asyncio.Event) -> None:
    """Restart a worker that exited without the driver killing it, and remember its log."""
    while not stop.is_set():
        for slot in slots:
            if not slot.held and slot.worker is not None and not slot.worker.alive():
                assert slot.worker.proc is not None
                last = slot.worker.output().rstrip().rsplit("\n", 1)[-1]
                if last.startswith(REFUSED):
                    slot.refusals += 1  # by design: start-up names the dependency that is down
                else:
                    slot.crashes.append(
                        f"worker {slot.index} pid {slot.pid} exited "
                        f"{slot.worker.proc.returncode}: {slot.worker.output()[-1500:]}"
                    )
                slot.start()
        await asyncio.sleep(0.2)


# -- judging ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What the ledger and the dead-letter topic say, against the faults."""

    lost: list[str]
    duplicates: list[str]  # one line per unexplained extra effect
    explained: int
    order_violations: list[str]
    infrastructure_letters: list[str]
    poison_letters: int
    poison_stuck: list[str]


def judge(
    traffic: Traffic, ledger: list[dict[str, Any]], faults: list[Fault], letters: list[Any]
) -> Verdict:
    by_id: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in ledger:
        by_id[line["id"]].append(line)
    produced = [e.id for e in traffic.events]
    lost = [i for i in produced if i not in by_id]

    duplicates, explained = [], 0
    for event_id, lines in by_id.items():
        if len(lines) < 2:
            continue
        pids = {line["pid"] for line in lines}
        excuses = [f for f in faults if f.excuses(event_id, pids)]
        extra = len(lines) - 1
        explained += min(extra, len(excuses))
        for line in lines[1 + len(excuses) :]:
            duplicates.append(
                f"{event_id} (key {line['key']} seq {line['seq']}): effects by pids "
                f"{[x['pid'] for x in lines]} attempts {[x['attempt'] for x in lines]}, the "
                f"first after {_last_fault(faults, lines[0])}, this one after "
                f"{_last_fault(faults, line)}"
            )

    order_violations = out_of_order(ledger, faults)

    infrastructure, poison = [], 0
    for letter in letters:
        if letter.value == POISON:
            poison += 1
            continue
        headers = {name: value.decode(errors="replace") for name, value in letter.headers}
        infrastructure.append(
            f"{headers.get('ce_id')}: {headers.get('ce_tidalerrorclass')} "
            f"{headers.get('ce_tidalerrormessage')} after {headers.get('ce_tidalattempts')} "
            "attempts"
        )
    stuck = sorted(traffic.after_poison() - by_id.keys())
    return Verdict(lost, duplicates, explained, order_violations, infrastructure, poison, stuck)


def out_of_order(ledger: list[dict[str, Any]], faults: list[Fault]) -> list[str]:
    """Per key, each event's first effect in the ledger, if its first attempt made it, must
    come in ``seq`` order. An event whose first effect is a later attempt's is left out: a
    retry, or a takeover once a frozen worker's lease ran out (attempt 2, in order). The frozen
    worker's own attempt-1 effect of that event lands after it resumes, after later events: it
    is a repeated effect (judged with the duplicates), not the event's first."""
    violations, seen = [], set()
    highest: dict[str, int] = {}
    for line in ledger:
        if line["id"] in seen:
            continue
        seen.add(line["id"])
        if line["attempt"] != 1:
            continue
        key, seq = line["key"], line["seq"]
        if key in highest and seq < highest[key]:
            violations.append(
                f"key {key}: seq {seq} after seq {highest[key]} (pid {line['pid']}), after "
                f"{_last_fault(faults, line)}"
            )
        highest[key] = max(highest.get(key, -1), seq)
    return violations


def test_a_frozen_workers_late_effect_is_no_order_violation_a_reordering_is() -> None:
    """CI's seed 2: pid 1 froze (SIGSTOP 7.5 s) inside seq 12; pid 2 took the key over at
    attempt 2 once the lease ran out, then ran 13; pid 1 resumed and finished its attempt 1."""

    def effect(pid: int, seq: int, attempt: int) -> dict[str, Any]:
        return {"id": f"e{seq}", "key": "k", "seq": seq, "pid": pid, "attempt": attempt, "t": 0}

    late = [effect(1, 11, 1), effect(2, 12, 2), effect(2, 13, 1), effect(1, 12, 1)]
    assert out_of_order(late, []) == []
    swapped = [effect(1, 11, 1), effect(2, 13, 1), effect(2, 12, 1)]
    assert out_of_order(swapped, []) == ["key k: seq 12 after seq 13 (pid 2), after no fault"]


def _last_fault(faults: list[Fault], line: dict[str, Any]) -> str:
    before = [f for f in faults if f.at <= line["t"]]
    return f"{before[-1]} (+{line['t'] - before[-1].at:.1f}s)" if before else "no fault"


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def all_letters(address: str, topic: str) -> list[Any]:
    ends = await log_end_offsets(address, topic)
    return await read_topic(address, topic, count=sum(ends.values()))


# -- the test --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_chaos_loses_nothing_repeats_no_finished_effect_and_dead_letters_only_poison(
    seed: int, s3: S3Server, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    run, topic, prefix = uuid.uuid4().hex[:8], unique("chaos"), unique("chaos")
    group = f"{prefix}.chaos"
    traffic = Traffic.make(rng, run)
    ledger = tmp_path / "ledger.jsonl"
    dispatcher, sub = Dispatcher(app), app.subscription("effect")
    keys = {dispatcher.key(sub, e): e.id for e in traffic.events}

    with durable_tansu(s3) as broker, durable_redis() as redis:
        address = bootstrap(broker)
        await create_topic(address, topic, partitions=PARTITIONS)
        env = worker_env(address, topic=topic, prefix=prefix, redis_url=redis_url(redis))
        env["TIDAL_TEST_LEDGER"] = str(ledger)
        slots = [Slot(i, env, redis, tmp_path) for i in range(WORKERS)]
        driver = Driver(rng, slots, redis, broker, keys, ledger)
        stop = asyncio.Event()
        try:
            for slot in slots:
                slot.start()
            watcher = asyncio.create_task(watch(slots, stop))
            producing = asyncio.create_task(produce_paced(address, topic, traffic.records()))
            await asyncio.sleep(0.5)
            await driver.run()
            produce_failures = await producing
            await drain(address, group, topic, traffic, ledger)
            stop.set()
            await watcher
            letters = await all_letters(address, f"{topic}.dlq")
        finally:
            stop.set()
            for slot in slots:
                if slot.worker is not None:
                    if slot.worker.proc is not None and slot.worker.alive():
                        slot.worker.proc.send_signal(signal.SIGCONT)
                    slot.worker.stop()

    verdict = judge(traffic, read_ledger(ledger), driver.faults, letters)
    crashes = [c for slot in slots for c in slot.crashes]
    refusals = sum(slot.refusals for slot in slots)
    summary = (
        f"seed {seed}: {len(driver.faults)} faults ({'; '.join(map(str, driver.faults))}); "
        f"{produce_failures} produce calls failed and were sent again; "
        f"{verdict.explained} repeated effects explained by a kill or stop mid-handler; "
        f"{refusals} worker starts refused while a dependency was down; "
        f"{verdict.poison_letters} dead letter(s) of the poison record"
    )
    print(summary)
    problems = [
        f"{len(items)} {what}: {items[:4]}"
        for what, items in [
            ("workers exited by themselves", crashes),
            ("events lost", verdict.lost),
            ("duplicate effects", verdict.duplicates),
            ("order violations on first attempts", verdict.order_violations),
            ("dead letters caused by the infrastructure", verdict.infrastructure_letters),
            ("events after the poison on its key without an effect", verdict.poison_stuck),
        ]
        if items
    ]
    if not verdict.poison_letters:
        problems.append("the poison record was not dead-lettered")
    assert not problems, "\n".join([summary, *problems])


async def drain(address: str, group: str, topic: str, traffic: Traffic, ledger: Path) -> None:
    """Wait until every event has an effect and the group has committed everything on the
    source and retry topics, or DRAIN_WITHIN has passed (the verdict then says what is
    missing)."""
    wanted = {e.id for e in traffic.events}
    deadline = time.monotonic() + DRAIN_WITHIN
    missing: set[str] = wanted
    while time.monotonic() < deadline:
        missing = wanted - {line["id"] for line in read_ledger(ledger)}
        if not missing:
            break
        await asyncio.sleep(0.5)
    retry = f"{group}.effect.retry"
    while time.monotonic() < deadline and not missing:
        try:
            if await lag(address, group, topic) == 0 and await lag(address, group, retry) == 0:
                return
        except AssertionError:  # a topic's partitions not known yet
            pass
        await asyncio.sleep(0.5)
