"""Running one partition's records: per-key order, a bound on concurrency, a commit window.

`SubscriptionWorker` owns one `PartitionWork` per assigned partition and feeds it what each fetch
returns. A fetched record waits in the backlog until it is admitted: at most ``limit`` records
are admitted and unfinished, and at most ``window`` are past the commit position. An admitted
record whose key already has a record in flight is parked behind it (``ordered``: one key for the
whole partition); otherwise it is ready once due (retry records wait for their ``hold``), and one
of at most ``workers`` worker tasks runs ``process`` on it. Workers are spawned as ready records
appear and end when none are left, so a burst costs a few tasks, not one per record.

So a slow key holds up its own records, and other keys only once the window is full. When
``backlog`` records wait, the partition is full: the consumer fetches nothing more for it until
``on_room`` says the backlog has shrunk (and pauses it if that takes long).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Final

from tidal.transports.kafka.offsets import OffsetWindow
from tidal.transports.kafka.records import ConsumedRecord

Process = Callable[[ConsumedRecord], Awaitable[None]]
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
        self._parked: dict[Hashable, deque[ConsumedRecord]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._admitted = 0
        self._running = 0
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
        backlog, offsets = self._backlog, self.offsets
        while backlog and self._admitted < self._limit and len(offsets) < self._window:
            record = backlog.popleft()
            offsets.add(record.offset)
            self._admitted += 1
            key = self._key(record)
            if key is None:
                self._schedule(record)
            elif key in self._parked:  # the key has a record in flight: wait behind it
                self._parked[key].append(record)
            else:
                self._parked[key] = deque()
                self._schedule(record)
        if len(backlog) >= self._backlog_limit:
            if self.full_since is None:
                self.full_since = time.monotonic()
        elif self.full_since is not None:
            self.full_since = None
            self._on_room()

    def _key(self, record: ConsumedRecord) -> Hashable | None:
        return WHOLE_PARTITION if self._ordered else record.key

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
        """Spawn a worker when records are ready and every worker is busy running one."""
        workers = len(self._workers)
        if self._ready and workers <= self._running and workers < self._max_workers:
            task = asyncio.create_task(self._work())
            self._workers.add(task)

    async def _work(self) -> None:
        me = asyncio.current_task()
        try:
            ran = 0
            while self._ready and not self._closing:
                record = self._ready.popleft()
                self._running += 1
                self._wake()  # more is ready: another worker takes it if this one waits
                if not await self._run(record):
                    return
                ran += 1
                if ran % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self._workers.discard(me)

    async def _run(self, record: ConsumedRecord) -> bool:
        """Process one record (``_running`` already counts it); False if it cannot end."""
        try:
            await self._process(record)
        except Exception as exc:  # a record that cannot end: the subscription must stop
            self._on_error(exc)
            return False
        finally:
            self._running -= 1
        if self.offsets.done(record.offset):
            self._on_done()
        self._admitted -= 1
        if self._closing:
            return False
        self._release(record)
        self._admit()
        return True

    def _release(self, record: ConsumedRecord) -> None:
        """Hand the record's key to the next record parked behind it, if any."""
        key = self._key(record)
        if key is None:
            return
        parked = self._parked[key]
        if parked:
            self._schedule(parked.popleft())
        else:
            del self._parked[key]

    async def close(self, *, grace: float) -> None:
        """Stop: drop what has not started, let running records finish for up to ``grace``
        seconds, then cancel them too (unfinished records are redelivered later)."""
        self._closing = True
        self._backlog.clear()
        self._ready.clear()
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
