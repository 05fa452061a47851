"""Running one partition's records: per-key order, a bound on concurrency, a commit window.

`GroupWorker` owns one `PartitionWork` per assigned partition and subscription (`Fanout`) and
feeds it what each fetch returns. A fetched record waits in the backlog until it is admitted: at
most ``limit`` records are admitted and unfinished, and at most ``window`` are past the commit
position. An admitted record whose key already has a record in flight is parked behind it
(``ordered``: one key for the whole partition); otherwise it is ready once due (retry records
wait for their ``hold``), and one of at most ``workers`` worker tasks runs ``process`` on it. A
worker runs ready records back to back and ends when none are left; another is added only while
every worker is inside a record that waits (checked once the loop turns), so records whose runs
never wait (the in-process idempotency store, a handler that does not await) cost one task per
burst, not one per record.

So a slow key holds up its own records, and other keys only once the window is full. When
``backlog`` records wait, the partition is full: the consumer fetches nothing more for it until
``on_room`` says the backlog has shrunk (and pauses it if that takes long).

With ``prepare`` (the handler's batch step: one idempotency call for many records), a worker
that finds no prepared record hands every ready record to ``prepare`` at once and queues the
`Job` it returns per record (None: run ``process`` on it as usual); workers then run prepared
jobs one at a time exactly as they run records, and `close` abandons jobs that never ran. When
``prepare`` waited (a store across the network), a worker is started per job at once, so their
completions wait in the same coalesced store call rather than in turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Final, Protocol

from tidal._transports.kafka.offsets import OffsetWindow
from tidal._transports.kafka.records import ConsumedRecord


class Job(Protocol):
    """One record's processing, prepared in a batch (`Prepare`)."""

    async def run(self) -> None:
        """What ``process`` would do with the record, from where the batch step left it."""

    async def abandon(self) -> None:
        """Undo the batch step for a record that will not run here (the partition closed)."""


Process = Callable[[ConsumedRecord], Awaitable[None]]
Prepare = Callable[[list[ConsumedRecord]], Awaitable[Sequence[Job | None]]]
Hold = Callable[[ConsumedRecord], float]

WHOLE_PARTITION: Final = object()
YIELD_EVERY: Final = 32  # records a worker runs back to back before letting others in

log = logging.getLogger("tidal.kafka")


class PartitionWork:
    """The records of one partition between fetch and commit."""

    def __init__(
        self,
        *,
        process: Process,
        prepare: Prepare | None = None,
        limit: int,
        window: int,
        workers: int | None = None,
        backlog: int = 500,
        ordered: bool = False,
        hold: Hold | None = None,
        on_done: Callable[[], None] = lambda: None,
        on_room: Callable[[], None] = lambda: None,
        on_error: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self.offsets = OffsetWindow()
        self.full_since: float | None = None
        self._process = process
        self._prepare = prepare
        self._limit = limit
        self._window = max(window, limit)
        self._max_workers = workers or limit
        self._backlog_limit = backlog
        self._ordered = ordered
        self._hold = hold
        self._on_done = on_done
        self._on_room = on_room
        self._on_error = on_error
        self._backlog: deque[ConsumedRecord] = deque()
        self._ready: deque[ConsumedRecord] = deque()
        self._prepared: deque[tuple[ConsumedRecord, Job | None]] = deque()
        # key -> the records parked behind the one of that key in flight (None: none yet)
        self._parked: dict[Hashable, deque[ConsumedRecord] | None] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._admitted = 0
        self._running = 0
        self._preparing = False
        self._waking = False
        self._turns = 0  # loop turns seen by `_count_turn` (did a prepare wait?)
        self._closing = False

    @property
    def in_flight(self) -> int:
        """Records admitted and not finished (parked, waiting to be due, ready or running)."""
        return self._admitted

    @property
    def position(self) -> int | None:
        """The offset to commit: one past the last of a contiguous run of finished records."""
        return self.offsets.position

    def feed(self, records: Iterable[ConsumedRecord]) -> None:
        """Accept fetched records (in offset order); admit what the bounds allow."""
        if self._closing:
            return
        self._backlog.extend(records)
        self._admit()

    def _admit(self) -> None:
        backlog, offsets, parked = self._backlog, self.offsets, self._parked
        while backlog and self._admitted < self._limit and len(offsets) < self._window:
            record = backlog.popleft()
            offsets.add(record.offset)
            self._admitted += 1
            key = WHOLE_PARTITION if self._ordered else record.key
            if key is None:
                self._schedule(record)
            elif key in parked:  # the key has a record in flight: wait behind it
                behind = parked[key]
                if behind is None:
                    parked[key] = behind = deque()
                behind.append(record)
            else:
                parked[key] = None
                self._schedule(record)
        if len(backlog) >= self._backlog_limit:
            if self.full_since is None:
                self.full_since = time.monotonic()
        elif self.full_since is not None:
            self.full_since = None
            self._on_room()

    def _schedule(self, record: ConsumedRecord) -> None:
        """Make an admitted record that owns its key ready, now or when it is due."""
        delay = 0.0 if self._hold is None else self._hold(record)
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._timers[record.offset] = loop.call_later(delay, self._due, record)
            return
        self._ready.append(record)
        self._wake()

    def _due(self, record: ConsumedRecord) -> None:
        del self._timers[record.offset]
        if not self._closing:
            self._ready.append(record)
            self._wake()

    def _wake(self) -> None:
        """Make sure ready records get a worker: one now when there is none; when every worker
        is running a record, one more once the loop turns (`_wake_later`)."""
        if not (self._ready or self._prepared):
            return
        if not self._workers:
            self._spawn(1)
        elif self._wants_worker() and not self._waking:
            self._waking = True
            asyncio.get_running_loop().call_soon(self._wake_later)

    def _wake_later(self) -> None:
        """Spawn one worker if the records are still waiting and every worker is still inside
        a record: a run that never waits (an in-process store, a handler that does not await)
        ends before the loop turns and its worker takes the next record itself, so a burst of
        such records costs no task per record; each run that waits adds one worker, up to
        ``workers``."""
        self._waking = False
        if not self._closing and (self._ready or self._prepared) and self._wants_worker():
            self._spawn(1)

    def _wants_worker(self) -> bool:
        workers = len(self._workers)
        return workers <= self._running and workers < self._max_workers

    def _spawn(self, n: int) -> None:
        for _ in range(min(n, self._max_workers - len(self._workers))):
            self._workers.add(asyncio.create_task(self._work()))

    async def _work(self) -> None:
        me = asyncio.current_task()
        ready, prepared, process = self._ready, self._prepared, self._process
        try:
            ran = 0
            while (ready or prepared) and not self._closing:
                if not prepared and self._prepare is not None:
                    if self._preparing:  # the worker preparing runs the records after
                        break
                    await self._prepare_ready(self._prepare)
                    continue
                if prepared:
                    record, job = prepared.popleft()
                else:
                    record, job = ready.popleft(), None
                self._running += 1
                self._wake()  # more is ready: another worker takes it if this one waits
                # the record's run, inline (no coroutine of our own per record)
                try:
                    await (process(record) if job is None else job.run())
                except Exception as exc:  # a record that cannot end: the subscription must stop
                    self._on_error(exc)
                    return
                finally:
                    self._running -= 1
                if not self._ended(record):
                    return
                ran += 1
                if ran % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self._workers.discard(me)

    async def _prepare_ready(self, prepare: Prepare) -> None:
        """Prepare every ready record in one call and queue the jobs (one worker at a time)."""
        self._preparing = True
        try:
            # records ending in this loop turn admit the next ones: let them join the batch
            await asyncio.sleep(0)
            batch = list(self._ready)
            self._ready.clear()
            turns = self._turns
            asyncio.get_running_loop().call_soon(self._count_turn)
            try:
                jobs = await prepare(batch)
            except Exception as exc:  # nothing prepared: the records take the plain path
                log.warning(
                    "preparing %d records failed, running them as they are: %r", len(batch), exc
                )
                jobs = [None] * len(batch)
        finally:
            self._preparing = False
        if self._closing:
            await _abandon(jobs)
            return
        self._prepared.extend(zip(batch, jobs, strict=True))
        if self._turns != turns:
            # the claim waited on its store (Redis): so will each prepared record's completion,
            # batched per loop turn; start a worker for each now, so they all wait in the same
            # batch rather than in turn. A claim that never waited (the in-process store) makes
            # runs that do not wait either: this worker runs them back to back (`_wake`).
            self._spawn(len(self._prepared) - 1)

    def _count_turn(self) -> None:
        self._turns += 1

    def _ended(self, record: ConsumedRecord) -> bool:
        """Book a record that ran to its end; False when the partition is closing."""
        if self.offsets.done(record.offset):
            self._on_done()
        self._admitted -= 1
        if self._closing:
            return False
        # hand the record's key to the next record parked behind it, if any
        key = WHOLE_PARTITION if self._ordered else record.key
        if key is not None:
            behind = self._parked[key]
            if behind:
                self._schedule(behind.popleft())
            else:
                del self._parked[key]
        if self._backlog or self.full_since is not None:
            self._admit()
        return True

    async def close(self, *, grace: float) -> None:
        """Stop: drop what has not started, let running records finish for up to ``grace``
        seconds, then cancel them too (unfinished records are redelivered later)."""
        self._closing = True
        self._backlog.clear()
        self._ready.clear()
        prepared = [job for _, job in self._prepared]
        self._prepared.clear()
        await _abandon(prepared)
        self._parked.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        workers = set(self._workers)
        if workers and grace > 0:
            await asyncio.wait(workers, timeout=grace)
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)


async def _abandon(jobs: Iterable[Job | None]) -> None:
    results = await asyncio.gather(
        *(job.abandon() for job in jobs if job is not None), return_exceptions=True
    )
    for result in results:
        if isinstance(result, Exception):
            log.warning("abandoning a prepared record failed: %r", result)
