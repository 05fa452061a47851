"""Idempotency keyed by (source, id) per subscription: an in-progress -> completed state machine.

The dispatcher wraps each handler run in `Idempotency.run`. Stores implement `IdempotencyStore`
atomically (no check-then-write race): `MemoryIdempotencyStore` here for tests and `tidal dev`,
`tidal.stores.redis.RedisIdempotencyStore` for production.

States: absent -> IN_PROGRESS (acquired with a token) -> COMPLETED (kept for ``ttl``); a failure
deletes the in-progress record so a retry can run; an in-progress record that outlives
``in_progress_ttl`` (a crashed worker) expires by itself. Once an event's dead letter is in its
sink, `Idempotency.settle` keeps its key COMPLETED with no events (a token starting
`DEAD_LETTERED`): a redelivered copy (a source whose acknowledgement was lost, a consumer that
died before its commit) is then a duplicate, not a second dead letter. A re-driven, replayed or
restored copy (marked with the ``tidal-run`` header, `RUN_HEADER`, which the Kafka transport
notes with `mark_rerun`) takes such a key over and runs again.

A transport holding many events at once (the Kafka worker's fetched batch) calls `claim_many`
first: one store call (``acquire_many``) acquires every key, and each
event's `Idempotency.run` then starts from its `Claim` instead of acquiring on its own.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import itertools
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Final, Literal, Protocol

from tidal.clock import Clock, SystemClock
from tidal.errors import (
    ConfigurationError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from tidal.events import Event

OnInProgress = Literal["wait", "report"]


DEAD_LETTERED: Final = "dead-lettered/"
"""Token prefix of the record `Idempotency.settle` writes for a dead-lettered event."""
RUN_HEADER: Final = "tidal-run"
"""The Kafka header a restore, replay or re-drive run marks its records with
(`tidal.archive.marks`): such a copy runs again where its first delivery was dead-lettered."""
_RERUN: Final = "_tidal_rerun"

MAX_HELD: Final = 10_000
"""Keys whose run met a store failure that a guard remembers its record for (`Idempotency.run`)."""


class Status(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


IN_PROGRESS: Final = Status.IN_PROGRESS.value
COMPLETED: Final = Status.COMPLETED.value


@dataclass(frozen=True, kw_only=True)
class Record:
    """One idempotency record; ``result`` holds what the run produced (serialised replies)."""

    status: Status
    payload_hash: str
    token: str
    result: bytes | None = None

    def to_json(self) -> str:
        # by hand: json.dumps of the dict costs several times more on the hot path
        result = "null" if self.result is None else f'"{base64.b64encode(self.result).decode()}"'
        return (
            f'{{"s":"{self.status.value}","h":{encode_basestring(self.payload_hash)},'
            f'"t":{encode_basestring(self.token)},"r":{result}}}'
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        raw = json.loads(text)
        result = None if raw.get("r") is None else base64.b64decode(raw["r"])
        return cls(status=Status(raw["s"]), payload_hash=raw["h"], token=raw["t"], result=result)


Pending = tuple[str, Record, float]
"""One key's step of a batch call: (key, record, ttl in seconds)."""


class IdempotencyStore(Protocol):
    """Atomic storage of idempotency records (times in seconds); the batch calls answer per
    item, in order, as the single calls would (a store without a batch call of its own loops)."""

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        """Store ``record`` if ``key`` is absent and return None; else return what is there."""
        ...

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        """Replace our in-progress record (``record.token``); False if another owns the key."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Delete the record if it still holds ``token``."""
        ...

    async def get(self, key: str) -> Record | None:
        """The current record, if any."""
        ...

    async def acquire_many(self, items: Sequence[Pending]) -> list[Record | None]:
        """`acquire` for each (key, record, ttl)."""
        ...

    async def complete_many(self, items: Sequence[Pending]) -> list[bool]:
        """`complete` for each (key, record, ttl)."""
        ...

    async def close(self) -> None:
        """Release connections (the store is not used afterwards)."""
        ...


MAX_ENTRIES: Final = 100_000
MAX_BYTES: Final = 64 * 1024 * 1024
ENTRY_OVERHEAD: Final = 240  # bytes a record costs beyond its strings: dict slot, tuple, Record


# (status, payload hash, token, result, expires at, size): only strings, bytes and numbers, so
# the garbage collector untracks the tuple and never walks the stored records
_Entry = tuple[str, str, str, bytes | None, float, int]


class MemoryIdempotencyStore:
    """An in-process store with expiry, bounded in entries and bytes (one event loop; atomic
    because it never awaits inside).

    Records are kept in write order. Every new key drops the expired records at the front (so
    unique keys never looked up again still go, with no sweep task), then the oldest records
    while there are more than ``max_entries`` or they hold more than ``max_bytes``: under that
    pressure the dedupe window is the newest records, not ``ttl`` (use Redis for a full one).
    ``evicted`` counts records dropped before their time. Entries are flat tuples of atoms, so
    a full store costs the garbage collector nothing (a store of objects made every full
    collection walk them: pauses that grew with the store).
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

    def _put(self, key: str, record: Record, ttl: float) -> None:
        self._write(key, record.status.value, record.payload_hash, record.token, record.result, ttl)

    def _write(
        self, key: str, status: str, digest: str, token: str, result: bytes | None, ttl: float
    ) -> None:
        """Store a record under ``key`` as the newest entry (replacing the one there), then
        drop what is expired or over the bounds."""
        size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token) + len(result or b"")
        entries = self._entries
        old = entries.get(key)
        entries[key] = (status, digest, token, result, self._now() + ttl, size)
        if old is None:
            self.bytes += size
            self._trim()
            return
        entries.move_to_end(key)
        self.bytes += size - old[5]
        if size > old[5]:
            self._trim()

    def claim(self, key: str, digest: str, token: str, ttl: float) -> Record | None:
        """`acquire` without the `Record` and the coroutine (`Idempotency.run`'s fast path for
        this store): None once our in-progress record is stored, else the record there."""
        existing = self._live(key)
        if existing is None:
            self._write(key, IN_PROGRESS, digest, token, None, ttl)
            return None
        return _record(existing)

    def finish(self, key: str, digest: str, token: str, result: bytes | None, ttl: float) -> bool:
        """`complete` without the `Record` and the coroutine (see `claim`)."""
        existing = self._live(key)
        if existing is not None and existing[2] != token:
            return False
        self._write(key, COMPLETED, digest, token, result, ttl)
        return True

    def drop(self, key: str, token: str) -> None:
        """`release` without the coroutine (see `claim`)."""
        existing = self._live(key)
        if existing is not None and existing[2] == token:
            self._drop(key)

    def _trim(self) -> None:
        entries = self._entries
        if not entries:
            return
        now = self._now()
        while entries:
            key, entry = next(iter(entries.items()))
            expired = entry[4] <= now
            if not expired and len(entries) <= self.max_entries and self.bytes <= self.max_bytes:
                return
            self.evicted += not expired
            self._drop(key)

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        existing = self._live(key)
        if existing is None:
            self._put(key, record, ttl)
            return None
        return _record(existing)

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
    status, digest, token, result, _, _ = entry
    return Record(status=Status(status), payload_hash=digest, token=token, result=result)


_SORTED_JSON: Final = json.JSONEncoder(sort_keys=True, default=str)


def payload_hash(data: Any) -> str:
    """A stable sha256 of event data (JSON with sorted keys; bytes as they are)."""
    raw = data if isinstance(data, bytes) else _SORTED_JSON.encode(data).encode()
    return hashlib.sha256(raw).hexdigest()


_DIGESTS: Final = "_tidal_payload_hash"


def event_hash(event: Event) -> str:
    """`payload_hash` of ``event``'s data, computed once per event: an event delivered to
    several idempotent subscriptions (fan-out, a Kafka batch claim then its attempt) is
    encoded and hashed once, not once per subscription. Kept on the event, which lives as
    long as its delivery."""
    found: str | None = vars(event).get(_DIGESTS)
    if found is None:
        found = payload_hash(event.data)
        setattr(event, _DIGESTS, found)
    return found


def mark_rerun(event: Event) -> None:
    """Note that ``event`` is a run's copy (re-drive, replay, restore), not a redelivery."""
    setattr(event, _RERUN, True)


def is_rerun(event: Event) -> bool:
    return bool(vars(event).get(_RERUN, False))


@dataclass(frozen=True, slots=True)
class Claim:
    """What `Idempotency.claim_many` found for one key: ``existing`` is None when ``mine`` (our
    in-progress record) is stored, else the record that was already there."""

    key: str
    mine: Record
    existing: Record | None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What `Idempotency.run` did: ran the function, or found it already done."""

    result: bytes | None
    duplicate: bool


class Idempotency:
    """Runs a function at most once per key while the completed record lives."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        ttl: float = 3600.0,
        in_progress_ttl: float = 60.0,
        on_in_progress: OnInProgress = "wait",
        wait_timeout: float = 30.0,
        poll_interval: float = 0.05,
        clock: Clock | None = None,
    ) -> None:
        if ttl <= 0 or in_progress_ttl <= 0:
            raise ConfigurationError("idempotency ttl and in_progress_ttl must be > 0")
        if on_in_progress not in ("wait", "report"):
            raise ConfigurationError(
                f"on_in_progress must be 'wait' or 'report', got {on_in_progress!r}"
            )
        self.store = store
        self.ttl = ttl
        self.in_progress_ttl = in_progress_ttl
        self.on_in_progress: OnInProgress = on_in_progress
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self._clock = clock or SystemClock()
        # tokens only tell owners apart: a random prefix per guard and a counter (no uuid4 each)
        self._prefix = uuid.uuid4().hex[:16]
        self._serial = itertools.count()
        self._held: dict[str, Record] = {}  # key -> our record, after the store failed (`run`)
        # the in-process store (not a subclass: one that overrides its calls goes the long way)
        self._memory = store if type(store) is MemoryIdempotencyStore else None

    def _mine(self, digest: str) -> Record:
        token = f"{self._prefix}{next(self._serial):x}"
        return Record(status=Status.IN_PROGRESS, payload_hash=digest, token=token)

    async def claim_many(self, items: Sequence[tuple[str, str]]) -> list[Claim]:
        """Acquire every (key, payload digest) in one store call (``acquire_many``); pass each
        `Claim` to `run` for its key."""
        ttl = self.in_progress_ttl
        pending = [(key, self._mine(digest), ttl) for key, digest in items]
        found = await self.store.acquire_many(pending)
        return [Claim(k, r, e) for (k, r, _), e in zip(pending, found, strict=True)]

    async def release(self, claim: Claim) -> None:
        """Give back the key of a `Claim` whose run will not happen (if the claim stored it)."""
        if claim.existing is None:
            await self.store.release(claim.key, claim.mine.token)

    async def run(
        self,
        key: str,
        digest: str,
        fn: Callable[[], Awaitable[bytes | None]],
        *,
        claim: Claim | None = None,
        rerun: bool = False,
    ) -> Outcome:
        """Acquire ``key``, run ``fn`` and save its result; or return the completed result.

        With a `Claim` of ``claim_many`` for this key and digest, start from what it found.
        When the store fails (`DependencyUnavailableError`) after our acquire may have landed,
        the key's next run here takes our in-progress record back instead of waiting it out.
        ``rerun``: a run's copy (`is_rerun`), which takes over a key `settle` left."""
        memory = self._memory
        if memory is not None and claim is None and not rerun:
            return await self._run_in_memory(memory, key, digest, fn)
        held = self._held.pop(key, None) if self._held else None
        if held is not None and held.payload_hash == digest:  # ours, from a run the store failed
            mine, first, acquiring = held, None, True
        elif claim is not None and claim.key == key and claim.mine.payload_hash == digest:
            mine, first = claim.mine, claim.existing
            acquiring = first is not None
        else:
            mine, first, acquiring = self._mine(digest), None, True
        try:
            done = await self._acquire(key, mine, first=first) if acquiring else None
            if done is not None:
                taken = await self._take_over(key, done, digest) if rerun else None
                if taken is None:
                    return Outcome(result=done.result, duplicate=True)
                mine = taken
            try:
                result = await fn()
            except BaseException:
                await self.store.release(key, mine.token)
                raise
            completed = Record(
                status=Status.COMPLETED, payload_hash=digest, token=mine.token, result=result
            )
            await self.store.complete(key, completed, ttl=self.ttl)
        except DependencyUnavailableError:
            self._hold(key, mine)
            raise
        return Outcome(result=result, duplicate=False)

    async def _run_in_memory(
        self,
        store: MemoryIdempotencyStore,
        key: str,
        digest: str,
        fn: Callable[[], Awaitable[bytes | None]],
    ) -> Outcome:
        """`run` on the in-process store, whose calls neither await nor fail: the same steps
        with no `Record` built for our own run and no coroutine per store call."""
        token = f"{self._prefix}{next(self._serial):x}"
        found = store.claim(key, digest, token, self.in_progress_ttl)
        if found is not None:  # a record is there: the general path waits, conflicts or replays
            mine = Record(status=Status.IN_PROGRESS, payload_hash=digest, token=token)
            done = await self._acquire(key, mine, first=found)
            if done is not None:
                return Outcome(result=done.result, duplicate=True)
        try:
            result = await fn()
        except BaseException:
            store.drop(key, token)
            raise
        store.finish(key, digest, token, result, self.ttl)
        return Outcome(result=result, duplicate=False)

    async def _take_over(self, key: str, done: Record, digest: str) -> Record | None:
        """Our in-progress record in place of a `settle` record (None: ``done`` is a real
        completion, or someone else changed the key meanwhile)."""
        if not done.token.startswith(DEAD_LETTERED):
            return None
        mine = Record(status=Status.IN_PROGRESS, payload_hash=digest, token=done.token)
        return mine if await self.store.complete(key, mine, ttl=self.in_progress_ttl) else None

    async def settle(self, key: str, digest: str) -> bool:
        """Keep ``key`` COMPLETED, with no events, after its event's dead letter reached its
        sink (never before: a letter that was not sent must be attempted again). False when
        another run holds the key. Between the failed run's release and this call a
        redelivery can still slip through: the window is the dead letter's send."""
        token = f"{DEAD_LETTERED}{self._prefix}{next(self._serial):x}"
        record = Record(status=Status.COMPLETED, payload_hash=digest, token=token)
        return await self.store.complete(key, record, ttl=self.ttl)

    def _hold(self, key: str, mine: Record) -> None:
        """Remember ``mine`` for the key's next run (a bounded few: a record left behind
        expires by itself after ``in_progress_ttl``)."""
        if len(self._held) >= MAX_HELD:
            del self._held[next(iter(self._held))]
        self._held[key] = mine

    async def _acquire(
        self, key: str, mine: Record, *, first: Record | None = None
    ) -> Record | None:
        """None once ``mine`` is stored; the completed record if the work is already done.

        ``first``: what an earlier acquire of ``mine`` (`claim_many`) found instead."""
        deadline = None  # read the clock only once there is something to wait for
        while True:
            if first is None:
                existing = await self.store.acquire(key, mine, ttl=self.in_progress_ttl)
            else:
                existing, first = first, None
            if existing is None:
                return None
            if existing.payload_hash != mine.payload_hash:
                raise IdempotencyConflictError(
                    f"event {key!r} was already received with a different payload "
                    f"(sha256 {existing.payload_hash[:12]}... vs {mine.payload_hash[:12]}...)"
                )
            if existing.status is Status.COMPLETED:
                return existing
            if existing.token == mine.token:  # ours, stored by a run the store failed
                return None
            now = self._clock.monotonic()
            if deadline is None:
                deadline = now + self.wait_timeout
            if self.on_in_progress == "report" or now >= deadline:
                raise IdempotencyInProgressError(f"event {key!r} is being handled elsewhere")
            await self._clock.sleep(self.poll_interval)
