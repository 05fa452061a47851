"""Idempotency keyed by (source, id) per subscription: an in-progress -> completed state machine.

The dispatcher wraps each handler run in `Idempotency.run`. Stores implement `IdempotencyStore`
atomically (no check-then-write race): `MemoryIdempotencyStore` here for tests and `tidal dev`,
`tidal.stores.redis.RedisIdempotencyStore` for production.

States: absent -> IN_PROGRESS (acquired with a token and a lease) -> COMPLETED (kept for
``ttl``). A handler that fails leaves FAILED; a delivery that ends in a dead letter leaves
DEAD (with where the delivery came from, ``origin``). Every record carries the number of the
attempt it belongs to, written *before* the handler runs: an acquire that finds a FAILED
record, or an IN_PROGRESS one whose lease (``in_progress_ttl``) has run out (a worker killed
mid-handler), takes the key over as the next attempt, so attempts are counted across crashes
and restarts for as long as the store keeps the record (Redis: across processes; memory: only
within one). A DEAD record of the same origin answers a redelivery of what was already
dead-lettered (`Idempotency.run` reports it ``dead``); an event from elsewhere (a re-drive)
starts over.

A transport holding many events at once (the Kafka worker's fetched batch) calls `claim_many`
first: one store call (``acquire_many``) acquires every key, and each
event's `Idempotency.run` then starts from its `Claim` instead of acquiring on its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import itertools
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring
from typing import Any, Final, Literal, Protocol

from tidal.clock import Clock, SystemClock
from tidal.errors import (
    AttemptsExhaustedError,
    ConfigurationError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from tidal.events import Event

OnInProgress = Literal["wait", "report"]


MAX_HELD: Final = 10_000
"""Keys whose run met a store failure that a guard remembers its record for (`Idempotency.run`),
and keys whose last attempt here ended without success (`Idempotency.dead_lettered`)."""
SETTLE_BACKOFF: Final = (0.05, 5.0)
"""First and longest wait (seconds) between tries of writing how a run ended (`Idempotency.run`)."""
SETTLE_LOG_EVERY: Final = 10.0

log = logging.getLogger("tidal.idempotency")


class Status(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True, kw_only=True)
class Record:
    """One idempotency record; ``result`` holds what the run produced (serialised replies).

    ``attempt``: the attempt the record belongs to. ``lease``: milliseconds an IN_PROGRESS
    record is held as sent to ``acquire``, which stamps it into the store's clock (epoch ms in
    Redis, monotonic ms in memory) when it stores it; not compared. ``origin``: where the
    delivery came from (the Kafka worker: topic/partition/offset of the first record), which
    tells a redelivery of a dead-lettered event from a re-drive."""

    status: Status
    payload_hash: str
    token: str
    result: bytes | None = None
    attempt: int = 1
    lease: int = field(default=0, compare=False)
    origin: str | None = None

    def to_json(self) -> str:
        # by hand: json.dumps of the dict costs several times more on the hot path; "a" and
        # "l" first and as plain integers: the Redis scripts rewrite them in place
        result = "null" if self.result is None else f'"{base64.b64encode(self.result).decode()}"'
        origin = "" if self.origin is None else f',"o":{encode_basestring(self.origin)}'
        return (
            f'{{"a":{self.attempt:d},"l":{self.lease:d},"s":"{self.status.value}",'
            f'"h":{encode_basestring(self.payload_hash)},'
            f'"t":{encode_basestring(self.token)},"r":{result}{origin}}}'
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        raw = json.loads(text)
        result = None if raw.get("r") is None else base64.b64decode(raw["r"])
        return cls(
            status=Status(raw["s"]),
            payload_hash=raw["h"],
            token=raw["t"],
            result=result,
            attempt=int(raw.get("a", 1)),
            lease=int(raw.get("l", 0)),
            origin=raw.get("o"),
        )

    def but(self, status: Status, *, result: bytes | None = None) -> Record:
        """This record (same token, attempt, origin) in another state."""
        return Record(
            status=status,
            payload_hash=self.payload_hash,
            token=self.token,
            result=result,
            attempt=self.attempt,
            origin=self.origin,
        )


def successor(current: Record, mine: Record, *, lease_over: bool) -> Record | None:
    """What an acquire of ``mine`` stores where ``current`` is (both stores' rule; the Redis
    scripts mirror it): None when ``current`` stands (returned to the caller as it is).

    Ours and in progress: kept, its lease renewed (a run the store failed). Completed, in
    progress under a live lease, dead-lettered from the same origin: it stands. Failed, or in
    progress with its lease over (the worker died): ours as the next attempt of the same
    payload; another payload, or dead-lettered from elsewhere (a re-drive), starts over."""
    status = current.status
    if current.token == mine.token and status is Status.IN_PROGRESS:
        return replace(mine, attempt=current.attempt)
    if status is Status.COMPLETED:
        return None
    if status is Status.DEAD:
        if current.origin is not None and current.origin == mine.origin:
            return None
        return mine
    if status is Status.IN_PROGRESS and not lease_over:
        return None
    if current.payload_hash == mine.payload_hash:
        return replace(mine, attempt=current.attempt + 1)
    return mine


Pending = tuple[str, Record, float]
"""One key's step of a batch call: (key, record, ttl in seconds)."""


class IdempotencyStore(Protocol):
    """Atomic storage of idempotency records (times in seconds); the batch calls answer per
    item, in order, as the single calls would (a store without a batch call of its own loops)."""

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        """Store ``record`` (its lease stamped) for ``ttl`` if ``key`` is absent and return
        None; else store and return what `successor` makes of the record there, or return
        that record as it is when it stands."""
        ...

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        """Replace our record (``record.token``) or an absent one; False if another owns the
        key. Also writes FAILED and DEAD records."""
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


# (status, payload hash, token, result, expires at, size, attempt, lease end, origin): only
# strings, bytes and numbers, so the garbage collector untracks the tuple and never walks the
# stored records
_Entry = tuple[str, str, str, bytes | None, float, int, int, int, str | None]


class MemoryIdempotencyStore:
    """An in-process store with expiry, bounded in entries and bytes (one event loop; atomic
    because it never awaits inside).

    Records are kept in write order. Every write drops the expired records at the front (so
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
        self._clock = clock or SystemClock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = 0

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[4] <= self._clock.monotonic():
            self._drop(key)
            return None
        return entry

    def _drop(self, key: str) -> None:
        self.bytes -= self._entries.pop(key)[5]

    def _now_ms(self) -> int:
        return int(self._clock.monotonic() * 1000)

    def _put(self, key: str, record: Record, ttl: float, *, stamp: bool = False) -> Record:
        """Store ``record`` (``stamp``: its lease, a duration, becomes an end); returns it."""
        if key in self._entries:
            self._drop(key)
        if stamp and record.lease > 0:
            record = replace(record, lease=self._now_ms() + record.lease)
        result, digest, token = record.result, record.payload_hash, record.token
        origin = record.origin
        size = ENTRY_OVERHEAD + len(key) + len(digest) + len(token) + len(result or b"")
        size += len(origin or "")
        expires = self._clock.monotonic() + ttl
        self._entries[key] = (
            record.status.value,
            digest,
            token,
            result,
            expires,
            size,
            record.attempt,
            record.lease,
            origin,
        )
        self.bytes += size
        self._trim()
        return record

    def _trim(self) -> None:
        entries, now = self._entries, self._clock.monotonic()
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
            self._put(key, record, ttl, stamp=True)
            return None
        current = _record(existing)
        lease_over = 0 < current.lease <= self._now_ms()
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
        existing = self._live(key)
        if existing is not None and existing[2] == token:
            self._drop(key)

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
    status, digest, token, result, _, _, attempt, lease, origin = entry
    return Record(
        status=Status(status),
        payload_hash=digest,
        token=token,
        result=result,
        attempt=attempt,
        lease=lease,
        origin=origin,
    )


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


_ORIGIN: Final = "_tidal_origin"


def set_origin(event: Event, origin: str) -> None:
    """Say where ``event``'s delivery came from (the Kafka worker: its first record's
    topic/partition/offset), kept on the event for its idempotency records (`Record.origin`)."""
    setattr(event, _ORIGIN, origin)


def origin_of(event: Event) -> str | None:
    """What `set_origin` said for ``event``, if anything."""
    found: str | None = vars(event).get(_ORIGIN)
    return found


@dataclass(frozen=True, slots=True)
class Claim:
    """What `Idempotency.claim_many` found for one key: ``existing`` is None when ``mine`` (our
    in-progress record) is stored, else the record that was already there (or ours, taken
    over as the next attempt: its token is ``mine``'s)."""

    key: str
    mine: Record
    existing: Record | None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What `Idempotency.run` did: ran the function (as attempt ``attempt``), or found it
    already done; ``dead``: already dead-lettered from the same origin."""

    result: bytes | None
    duplicate: bool
    attempt: int = 1
    dead: bool = False


class Idempotency:
    """Runs a function at most once per key while the completed record lives, and counts its
    attempts in the store before each run."""

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
        # an in-progress record's key outlives its lease, so a takeover still finds its attempt
        self._keep = max(ttl, in_progress_ttl)
        self._lease = max(1, int(in_progress_ttl * 1000))
        # tokens only tell owners apart: a random prefix per guard and a counter (no uuid4 each)
        self._prefix = uuid.uuid4().hex[:16]
        self._serial = itertools.count()
        self._held: dict[str, Record] = {}  # key -> our record, after the store failed (`run`)
        self._ended: dict[str, Record] = {}  # key -> our record of a run that did not succeed
        self._settle_logged = -SETTLE_LOG_EVERY

    def _mine(self, digest: str, *, attempt: int = 1, origin: str | None = None) -> Record:
        token = f"{self._prefix}{next(self._serial):x}"
        return Record(
            status=Status.IN_PROGRESS,
            payload_hash=digest,
            token=token,
            attempt=attempt,
            lease=self._lease,
            origin=origin,
        )

    async def claim_many(self, items: Sequence[tuple[str, str, str | None]]) -> list[Claim]:
        """Acquire every (key, payload digest, origin) for a first attempt in one store call
        (``acquire_many``); pass each `Claim` to `run` for its key."""
        keep = self._keep
        pending = [(key, self._mine(digest, origin=origin), keep) for key, digest, origin in items]
        found = await self.store.acquire_many(pending)
        return [Claim(k, r, e) for (k, r, _), e in zip(pending, found, strict=True)]

    async def release(self, claim: Claim) -> None:
        """Give back the key of a `Claim` whose run will not happen (if the claim stored it;
        a key it took over goes back to the attempt before)."""
        taken = claim.existing
        if taken is None or (taken.token == claim.mine.token and taken.attempt <= 1):
            await self.store.release(claim.key, claim.mine.token)
        elif taken.token == claim.mine.token:
            before = replace(taken.but(Status.FAILED), attempt=taken.attempt - 1)
            await self.store.complete(claim.key, before, ttl=self.ttl)

    async def run(
        self,
        key: str,
        digest: str,
        fn: Callable[[], Awaitable[bytes | None]],
        *,
        claim: Claim | None = None,
        started: Callable[[int], None] | None = None,
        attempt: int = 1,
        origin: str | None = None,
        limit: int | None = None,
    ) -> Outcome:
        """Acquire ``key`` as attempt ``attempt`` (or the next one after those the store
        counted), tell ``started`` that number, run ``fn`` and save its result; or return the
        completed result.

        The attempt is in the store before ``fn`` runs; past ``limit`` attempts ``fn`` does
        not run: `AttemptsExhaustedError`. How the run ended (completed, or failed) is written
        until the store takes it (backing off; only cancellation stops it), so an effect that
        ran is never run again nor failed for want of its record. With a `Claim` of
        ``claim_many`` for this key and digest, start from what it found. When the store fails
        (`DependencyUnavailableError`) while acquiring, the key's next run here takes our
        in-progress record back instead of waiting it out."""
        held = self._held.pop(key, None) if self._held else None
        if self._ended:
            self._ended.pop(key, None)
        if held is not None and held.payload_hash == digest:  # ours, from a run the store failed
            mine, first, acquiring = held, None, True
        elif claim is not None and claim.key == key and claim.mine.payload_hash == digest:
            mine, first = claim.mine, claim.existing
            acquiring = first is not None
        else:
            mine, first, acquiring = self._mine(digest, attempt=attempt, origin=origin), None, True
        try:
            found = await self._acquire(key, mine, first=first) if acquiring else None
        except DependencyUnavailableError:
            self._hold(key, mine)
            raise
        if found is not None:
            if found.token != mine.token:  # done before: completed, or dead-lettered
                dead = found.status is Status.DEAD
                return Outcome(
                    result=found.result, duplicate=True, attempt=found.attempt, dead=dead
                )
            mine = found  # ours: taken over as the next attempt, or our own renewed
        if limit is not None and mine.attempt > limit:
            self._end(key, mine)
            raise AttemptsExhaustedError(attempts=mine.attempt - 1, limit=limit)
        if started is not None:
            started(mine.attempt)
        try:
            result = await fn()
        except asyncio.CancelledError:  # stopping: one try, else the lease runs out by itself
            with contextlib.suppress(DependencyUnavailableError):
                await self.store.complete(key, mine.but(Status.FAILED), ttl=self.ttl)
            raise
        except BaseException:
            failed = mine.but(Status.FAILED)
            self._end(key, failed)
            await self._settle(key, failed)
            raise
        await self._settle(key, mine.but(Status.COMPLETED, result=result))
        return Outcome(result=result, duplicate=False, attempt=mine.attempt)

    async def dead_lettered(self, key: str) -> None:
        """Record that the delivery whose attempt last ended here under ``key`` has been
        dead-lettered, so a redelivery from the same origin is not dead-lettered again."""
        ended = self._ended.pop(key, None) if self._ended else None
        if ended is not None:
            await self._settle(key, ended.but(Status.DEAD))

    async def _settle(self, key: str, record: Record) -> None:
        """Write ``record`` over our own until the store takes it (a store that refuses it,
        another owner having taken the key over, has settled it too)."""
        delay, longest = SETTLE_BACKOFF
        while True:
            try:
                await self.store.complete(key, record, ttl=self.ttl)
                return
            except DependencyUnavailableError as exc:
                now = self._clock.monotonic()
                if now - self._settle_logged >= SETTLE_LOG_EVERY:
                    self._settle_logged = now
                    log.warning(
                        "recording %s %s failed, retrying until it lands: %r",
                        key,
                        record.status.value,
                        exc,
                    )
            await self._clock.sleep(delay)
            delay = min(delay * 2, longest)

    def _hold(self, key: str, mine: Record) -> None:
        """Remember ``mine`` for the key's next run (a bounded few: a record left behind
        is taken over by itself after ``in_progress_ttl``)."""
        if len(self._held) >= MAX_HELD:
            del self._held[next(iter(self._held))]
        self._held[key] = mine

    def _end(self, key: str, record: Record) -> None:
        """Remember our record of a run that did not succeed, for `dead_lettered`."""
        if len(self._ended) >= MAX_HELD:
            del self._ended[next(iter(self._ended))]
        self._ended[key] = record

    async def _acquire(
        self, key: str, mine: Record, *, first: Record | None = None
    ) -> Record | None:
        """None once ``mine`` is stored as it is; ours when the store took the key over for
        us (the next attempt) or kept our own; the completed or dead record if the work is
        over already.

        ``first``: what an earlier acquire of ``mine`` (`claim_many`) found instead."""
        deadline = self._clock.monotonic() + self.wait_timeout
        while True:
            if first is None:
                existing = await self.store.acquire(key, mine, ttl=self._keep)
            else:
                existing, first = first, None
            if existing is None:
                return None
            if existing.token == mine.token:  # ours: taken over, or stored by a failed run
                return existing
            if existing.payload_hash != mine.payload_hash:
                raise IdempotencyConflictError(
                    f"event {key!r} was already received with a different payload "
                    f"(sha256 {existing.payload_hash[:12]}... vs {mine.payload_hash[:12]}...)"
                )
            if existing.status is Status.COMPLETED or existing.status is Status.DEAD:
                return existing
            if self.on_in_progress == "report" or self._clock.monotonic() >= deadline:
                raise IdempotencyInProgressError(f"event {key!r} is being handled elsewhere")
            await self._clock.sleep(self.poll_interval)
