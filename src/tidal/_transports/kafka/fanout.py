"""One assigned partition of a consumer group, run for each subscription of the group that reads it.

`GroupWorker` keeps a `Fanout` per assigned partition: for a source topic one `PartitionWork`
per subscription of the group, for a retry topic the one of the subscription it belongs to.
Each subscription keeps its own progress (its own commit window, per-key order, concurrency and
retries); the partition has one committed offset, the least of their positions, and its fetch
stops while any subscription's backlog is full. That couples the subscriptions of one group: a
slow one holds the others to within ``max_uncommitted`` plus a fetch of it, and after a restart
the faster ones see again what they did past the committed offset (docs/kafka.md: give such a
subscription its own group with ``TIDAL_KAFKA__GROUP_IDS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tidal._transports.kafka.records import ConsumedRecord
from tidal._transports.kafka.scheduling import PartitionWork
from tidal._transports.kafka.shared import SharedRecord


class Fanout:
    """The records of one partition, fed to each reading subscription's `PartitionWork`."""

    def __init__(self, works: dict[str, PartitionWork]) -> None:
        self.works = works  # subscription name -> its work on this partition
        self._parts = list(works.values())
        self._shared = len(self._parts) > 1

    @property
    def full_since(self) -> float | None:
        """Since when a subscription's backlog is full (the earliest), None if none is."""
        since = [s for part in self._parts if (s := part.full_since) is not None]
        return min(since) if since else None

    @property
    def position(self) -> int | None:
        """The offset to commit: the least subscription position (None until each has one)."""
        least: int | None = None
        for part in self._parts:
            position = part.position
            if position is None:
                return None
            if least is None or position < least:
                least = position
        return least

    def feed(self, records: Sequence[ConsumedRecord]) -> None:
        """Give every subscription the fetched records, decoded once between them."""
        if self._shared:
            records = [SharedRecord(record) for record in records]
        for part in self._parts:
            part.feed(records)

    async def close(self, *, grace: float) -> None:
        """Close every subscription's work on the partition (`PartitionWork.close`)."""
        await asyncio.gather(*(part.close(grace=grace) for part in self._parts))
