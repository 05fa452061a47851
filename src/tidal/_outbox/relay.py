"""The relay loop: read outbox rows in order, produce them, delete them once acknowledged.

`tidal outbox relay` (tidal.cli._outbox) runs `Relay.run`; tests drive `Relay.step`. Delivery is
at least once: a crash between the broker's acknowledgement and the delete re-sends those rows on
restart with the same CloudEvent ``id`` (the row id), which tidal's idempotency store drops.
Nothing is deleted before it is acknowledged, so nothing is lost; a batch that fails is re-sent
whole, in ``seq`` order. One aggregate's rows share a key, hence a partition, and the producer
keeps a partition's records in order; with the idempotent producer (Kafka's default) the
broker also refuses a record whose predecessor failed, so a failed send never lets a later
record of that partition through. Without it (tansu) a send that fails part-way may have
delivered a later record before an earlier one is re-sent: the one case where a consumer can
see an aggregate out of order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tidal._outbox.records import TOPIC_PREFIX, Origin, OutboxRecord, OutboxRow, to_record

log = logging.getLogger("tidal.outbox")


class Table(Protocol):
    async def try_lock(self) -> bool: ...
    async def pending(self, limit: int) -> list[OutboxRow]: ...
    async def delete(self, ids: Sequence[str]) -> int: ...


class Sink(Protocol):
    async def send(self, records: Sequence[OutboxRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class RelayOptions:
    batch: int = 500
    poll_interval: float = 0.2
    topic_prefix: str = TOPIC_PREFIX
    origin: Origin = field(default_factory=Origin)


class Relay:
    """Moves rows from a `Table` to a `Sink`; counts what it relayed (a `RelayCounts`)."""

    def __init__(self, table: Table, sink: Sink, options: RelayOptions | None = None) -> None:
        self._table = table
        self._sink = sink
        self._options = options or RelayOptions()
        self.relayed = 0
        self.oldest_pending: float | None = None
        """Unix time the oldest row waiting at the last poll was written (None: none)."""

    async def step(self) -> int:
        """Relay one batch; returns its size (0: the table was empty)."""
        rows = await self._table.pending(self._options.batch)
        self.oldest_pending = rows[0].created.timestamp() if rows else None
        if not rows:
            return 0
        origin, prefix = self._options.origin, self._options.topic_prefix
        await self._sink.send([to_record(row, origin, prefix) for row in rows])
        await self._table.delete([row.id for row in rows])
        self.relayed += len(rows)
        if len(rows) < self._options.batch:
            self.oldest_pending = None  # the table had no more
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Wait to be the table's one relay, then relay until ``stop`` is set."""
        while not await self._table.try_lock():
            log.info("another relay holds the outbox lock; waiting")
            if await _wait(stop, self._options.poll_interval * 10):
                return
        while not stop.is_set():
            if await self.step() < self._options.batch:
                await _wait(stop, self._options.poll_interval)


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``stop`` was set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
