"""The commit discipline of one partition: which offset may be committed, given what is done.

`PartitionWork` adds every offset it fetches and marks it done once the record has ended
(handled with its emitted events acknowledged, sent to the retry topic, or dead-lettered); the
consumer commits `OffsetWindow.position`. Records finish out of order when keys run
concurrently, so the position only moves over a contiguous run of done offsets: a crash can
repeat work (at-least-once), never skip it.
"""

from __future__ import annotations

from collections import deque


class OffsetWindow:
    """Offsets fetched and not yet committable, oldest first; ``position`` is what to commit."""

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self.position: int | None = None

    def add(self, offset: int) -> None:
        """Track a newly fetched offset (offsets arrive in increasing order)."""
        if self._pending and offset <= self._pending[-1]:
            raise ValueError(f"offset {offset} arrived after {self._pending[-1]}")
        self._pending.append(offset)

    def done(self, offset: int) -> bool:
        """Mark ``offset`` finished; True when the commit position moved."""
        pending = self._pending
        if not pending or offset != pending[0]:
            self._done.add(offset)
            return False
        pending.popleft()
        last = offset
        while pending and pending[0] in self._done:
            last = pending.popleft()
            self._done.discard(last)
        self.position = last + 1
        return True

    def __len__(self) -> int:
        """How many fetched records are past the commit position (done or not)."""
        return len(self._pending)
