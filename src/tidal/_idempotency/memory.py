"""The in-process idempotency store: records in a bounded dict, for tests and ``tidal dev``.

`tidal._stores.factory` builds it for ``TIDAL_IDEMPOTENCY__BACKEND=memory`` (the default), the
test broker (`tidal.testing.MemoryBroker`) and ``tidal dev`` directly. It implements
`tidal._idempotency.records.IdempotencyStore`, plus calls without a `Record` and without a
coroutine (`MemoryIdempotencyStore.claim`, ``finish``, ``drop``) that the guard
(`tidal._idempotency.guard.Idempotency`) takes for a new key's run on this very class: the
default store's fast path. It sits below the guard for that reason, beside the record it
stores, and not with the server adapters in `tidal._stores`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from tidal._clock import Clock
from tidal._errors import ConfigurationError
from tidal._idempotency.records import IN_PROGRESS, Pending, Record, Status, successor

MAX_ENTRIES: Final = 100_000
MAX_BYTES: Final = 64 * 1024 * 1024
ENTRY_OVERHEAD: Final = 240  # bytes a record costs beyond its strings: dict slot, tuple, Record


# (status, payload hash, token, result, expires at, size, attempt, lease end): only strings,
# bytes and numbers, so the garbage collector untracks the tuple and never walks the stored
# records
_Entry = tuple[str, str, str, bytes | None, float, int, int, int]


class MemoryIdempotencyStore:
    """An in-process store with expiry, bounded in entries and bytes (one event loop; atomic
    because it never awaits inside).

    Records are kept in write order. Every new key drops the expired records at the front (so
    unique keys never looked up again still go, with no sweep task), then the oldest records
    while there are more than ``max_entries`` or they hold more than ``max_bytes``: under that
    pressure the dedupe window is the newest records, not ``ttl`` (use Redis for a full one).
    ``evicted`` counts records dropped before their time. Entries are flat tuples of atoms, so
    a full store costs the garbage collector nothing (a store of objects made every full
    collection walk them: pauses that grew with the store). Leases run on the clock's
    monotonic time, in milliseconds.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ConfigurationError("the memory store's max_entries and max_bytes must be >= 1")
        # the system clock read directly: a store call reads it once or twice, every event
        self._now: Callable[[], float] = time.monotonic if clock is None else clock.monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = 0

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[4] <= self._now():
            self._drop(key)
            return None
        return entry

    def _drop(self, key: str) -> None:
        self.bytes -= self._entries.pop(key)[5]

    def _put(self, key: str, record: Record, ttl: float, *, stamp: bool = False) -> Record:
        """Store ``record`` (``stamp``: its lease, a duration, becomes an end); returns it."""
        lease = record.lease
        if stamp and lease > 0:
            lease += int(self._now() * 1000)
            record = replace(record, lease=lease)
        status, digest, token = record.status.value, record.payload_hash, record.token
        self._write(
            key, status, digest, token, record.result, self._now() + ttl, record.attempt, lease
        )
        return record

    def _write(
        self,
        key: str,
        status: str,
        digest: str,
        token: str,
        result: bytes | None,
        expires: float,
        attempt: int,
        lease: int,
    ) -> None:
        """Store a record under ``key`` as the newest entry (replacing the one there), then
        drop what is expired or over the bounds."""
        size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token) + len(result or b"")
        entries = self._entries
        old = entries.get(key)
        entries[key] = (status, digest, token, result, expires, size, attempt, lease)
        if old is None:
            self.bytes += size
            self._trim()
            return
        entries.move_to_end(key)
        self.bytes += size - old[5]
        if size > old[5]:
            self._trim()

    def claim(
        self, key: str, digest: str, token: str, attempt: int, lease: int, ttl: float
    ) -> bool:
        """`acquire` of an absent key without the `Record` and the coroutine (the guard's fast
        path for this store, `tidal._idempotency.guard.Idempotency.enter`): True once our
        in-progress record is stored (``lease`` in ms); False, storing nothing, when a record
        is there (then `acquire` decides)."""
        entries = self._entries
        now = self._now()
        existing = entries.get(key)
        if existing is not None:
            if existing[4] > now:
                return False
            self._drop(key)
        size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token)
        end = int(now * 1000) + lease
        entries[key] = (IN_PROGRESS, digest, token, None, now + ttl, size, attempt, end)
        self.bytes += size
        if (  # `_trim`'s first test, without its call: most new keys drop nothing
            len(entries) > self.max_entries
            or self.bytes > self.max_bytes
            or entries[next(iter(entries))][4] <= now
        ):
            self._trim(now)
        return True

    def finish(
        self,
        key: str,
        status: str,
        digest: str,
        token: str,
        result: bytes | None,
        attempt: int,
        ttl: float,
    ) -> bool:
        """`complete` without the `Record` and the coroutine (see `claim`)."""
        entries = self._entries
        now = self._now()
        existing = entries.get(key)
        if existing is not None and existing[4] <= now:
            self._drop(key)
            existing = None
        if existing is None:
            size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token) + len(result or b"")
            entries[key] = (status, digest, token, result, now + ttl, size, attempt, 0)
            self.bytes += size
            self._trim(now)
            return True
        if existing[2] != token:
            return False
        if result is None and existing[3] is None and existing[1] == digest:  # sized by `claim`
            entries[key] = (status, digest, token, None, now + ttl, existing[5], attempt, 0)
            entries.move_to_end(key)
            return True
        size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token) + len(result or b"")
        entries[key] = (status, digest, token, result, now + ttl, size, attempt, 0)
        entries.move_to_end(key)
        self.bytes += size - existing[5]
        if size > existing[5]:
            self._trim(now)
        return True

    def drop(self, key: str, token: str) -> None:
        """`release` without the coroutine (see `claim`)."""
        existing = self._live(key)
        if existing is not None and existing[2] == token:
            self._drop(key)

    def _trim(self, now: float | None = None) -> None:
        entries = self._entries
        if not entries:
            return
        if now is None:
            now = self._now()
        while entries:
            key = next(iter(entries))
            expired = entries[key][4] <= now
            if not expired and len(entries) <= self.max_entries and self.bytes <= self.max_bytes:
                return
            self.evicted += not expired
            self._drop(key)

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        existing = self._live(key)
        if existing is None:
            self._put(key, record, ttl, stamp=True)
            return None
        current = _record(existing)
        lease_over = 0 < current.lease <= int(self._now() * 1000)
        taken = successor(current, record, lease_over=lease_over)
        if taken is None:
            return current
        return self._put(key, taken, ttl, stamp=True)

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        existing = self._live(key)
        if existing is not None and existing[2] != record.token:
            return False
        self._put(key, record, ttl)
        return True

    async def release(self, key: str, token: str) -> None:
        self.drop(key, token)

    async def get(self, key: str) -> Record | None:
        existing = self._live(key)
        return None if existing is None else _record(existing)

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]:
        return [await self.acquire(key, record, ttl=ttl) for key, record, ttl in items]

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]:
        return [await self.complete(key, record, ttl=ttl) for key, record, ttl in items]

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._entries)


def _record(entry: _Entry) -> Record:
    status, digest, token, result, _, _, attempt, lease = entry
    return Record(
        status=Status(status),
        payload_hash=digest,
        token=token,
        result=result,
        attempt=attempt,
        lease=lease,
    )
