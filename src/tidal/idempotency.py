"""Idempotency keyed by (source, id) per subscription: an in-progress -> completed state machine.

The dispatcher wraps each handler run in `Idempotency.run`. Stores implement `IdempotencyStore`
atomically (no check-then-write race): `MemoryIdempotencyStore` here for tests and `tidal dev`,
`tidal.stores.redis.RedisIdempotencyStore` for production.

States: absent -> IN_PROGRESS (acquired with a token and a lease) -> COMPLETED (kept for
``ttl``). A handler that fails leaves FAILED; once a delivery has ended in a dead letter,
`Idempotency.dead_lettered` leaves DEAD. Every record carries the number of the attempt it
belongs to, written *before* the handler runs: an acquire that finds a FAILED record, or an
IN_PROGRESS one whose lease (``in_progress_ttl``) has run out (a worker killed mid-handler),
takes the key over as the next attempt, so attempts are counted across crashes and restarts for
as long as the store keeps the record (Redis: across processes; memory: only within one).

A DEAD key is a duplicate (answered with no events) for every copy that is not a run's copy: a
redelivered copy (a source whose acknowledgement was lost, a consumer that died before its
commit) is not dead-lettered again. A re-driven, replayed or restored copy (marked with the
``tidal-run`` header, `RUN_HEADER`, which the Kafka transport notes with `mark_rerun`) takes a
DEAD key over and counts its attempts afresh; a COMPLETED key stays a duplicate for it too.

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
import time
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
RUN_HEADER: Final = "tidal-run"
"""The Kafka header a restore, replay or re-drive run marks its records with
(`tidal.archive.marks`): such a copy runs again where its first delivery was dead-lettered."""
_RERUN: Final = "_tidal_rerun"

log = logging.getLogger("tidal.idempotency")


class Status(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"


IN_PROGRESS: Final = Status.IN_PROGRESS.value
COMPLETED: Final = Status.COMPLETED.value
FAILED: Final = Status.FAILED.value


@dataclass(frozen=True, kw_only=True)
class Record:
    """One idempotency record; ``result`` holds what the run produced (serialised replies).

    ``attempt``: the attempt the record belongs to. ``lease``: milliseconds an IN_PROGRESS
    record is held as sent to ``acquire``, which stamps it into the store's clock (epoch ms in
    Redis, monotonic ms in memory) when it stores it; not compared. ``rerun``: the record is
    sent by a run's copy (`is_rerun`), which takes a DEAD key over (`successor`)."""

    status: Status
    payload_hash: str
    token: str
    result: bytes | None = None
    attempt: int = 1
    lease: int = field(default=0, compare=False)
    rerun: bool = False

    def to_json(self) -> str:
        # by hand: json.dumps of the dict costs several times more on the hot path; "a" and
        # "l" first and as plain integers: the Redis scripts rewrite them in place
        result = "null" if self.result is None else f'"{base64.b64encode(self.result).decode()}"'
        rerun = ',"x":true' if self.rerun else ""
        return (
            f'{{"a":{self.attempt:d},"l":{self.lease:d},"s":"{self.status.value}",'
            f'"h":{encode_basestring(self.payload_hash)},'
            f'"t":{encode_basestring(self.token)},"r":{result}{rerun}}}'
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
            rerun=raw.get("x") is True,
        )

    def but(self, status: Status, *, result: bytes | None = None) -> Record:
        """This record (same token and attempt) in another state."""
        return Record(
            status=status,
            payload_hash=self.payload_hash,
            token=self.token,
            result=result,
            attempt=self.attempt,
        )


def successor(current: Record, mine: Record, *, lease_over: bool) -> Record | None:
    """What an acquire of ``mine`` stores where ``current`` is (both stores' rule; the Redis
    scripts mirror it): None when ``current`` stands (returned to the caller as it is).

    Ours and in progress: kept, its lease renewed (a run the store failed). Completed, in
    progress under a live lease, dead-lettered (unless ours is a run's copy): it stands.
    Failed, or in progress with its lease over (the worker died): ours as the next attempt of
    the same payload; another payload, or a run's copy where the key is dead-lettered, starts
    over."""
    status = current.status
    if current.token == mine.token and status is Status.IN_PROGRESS:
        return replace(mine, attempt=current.attempt)
    if status is Status.COMPLETED:
        return None
    if status is Status.DEAD:
        return mine if mine.rerun else None
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
        """`acquire` of an absent key without the `Record` and the coroutine (`Idempotency.run`'s
        fast path for this store): True once our in-progress record is stored (``lease`` in
        ms); False, storing nothing, when a record is there (then `acquire` decides)."""
        if self._live(key) is not None:
            return False
        now = self._now()
        end = int(now * 1000) + lease
        self._write(key, IN_PROGRESS, digest, token, None, now + ttl, attempt, end)
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
        existing = self._live(key)
        if existing is not None and existing[2] != token:
            return False
        self._write(key, status, digest, token, result, self._now() + ttl, attempt, 0)
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
    in-progress record) is stored, else the record that was already there (or ours, taken
    over as the next attempt: its token is ``mine``'s)."""

    key: str
    mine: Record
    existing: Record | None


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What `Idempotency.run` did: ran the function (as attempt ``attempt``), or found it
    already done (completed, or dead-lettered: then with no result)."""

    result: bytes | None
    duplicate: bool
    attempt: int = 1


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
        # the in-process store (not a subclass: one that overrides its calls goes the long way)
        self._memory = store if type(store) is MemoryIdempotencyStore else None

    def _mine(
        self, digest: str, *, attempt: int = 1, rerun: bool = False, token: str | None = None
    ) -> Record:
        return Record(
            status=Status.IN_PROGRESS,
            payload_hash=digest,
            token=token or f"{self._prefix}{next(self._serial):x}",
            attempt=attempt,
            lease=self._lease,
            rerun=rerun,
        )

    async def claim_many(self, items: Sequence[tuple[str, str, bool]]) -> list[Claim]:
        """Acquire every (key, payload digest, whether a run's copy: `is_rerun`) for a first
        attempt in one store call (``acquire_many``); pass each `Claim` to `run` for its key."""
        keep = self._keep
        pending = [(key, self._mine(digest, rerun=rerun), keep) for key, digest, rerun in items]
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
        limit: int | None = None,
        rerun: bool = False,
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
        in-progress record back instead of waiting it out. ``rerun``: a run's copy (`is_rerun`),
        which takes over a dead-lettered key and counts its attempts afresh."""
        if self._ended:
            self._ended.pop(key, None)
        memory = self._memory  # never fails, so never holds a record (`_held`)
        if memory is not None and claim is None and not rerun:
            token = f"{self._prefix}{next(self._serial):x}"
            if memory.claim(key, digest, token, attempt, self._lease, self._keep):
                return await self._run_in_memory(
                    memory, key, digest, token, fn, attempt, started, limit
                )
            # a record is there: the general path takes it over, waits, conflicts or replays
            mine, first, acquiring = self._mine(digest, attempt=attempt, token=token), None, True
        elif (held := self._held.pop(key, None) if self._held else None) is not None and (
            held.payload_hash == digest
        ):  # ours, from a run the store failed
            mine, first, acquiring = held, None, True
        elif claim is not None and claim.key == key and claim.mine.payload_hash == digest:
            mine, first = claim.mine, claim.existing
            acquiring = first is not None
        else:
            mine, first, acquiring = self._mine(digest, attempt=attempt, rerun=rerun), None, True
        try:
            found = await self._acquire(key, mine, first=first) if acquiring else None
        except DependencyUnavailableError:
            self._hold(key, mine)
            raise
        if found is not None:
            if found.token != mine.token:  # done before: completed, or dead-lettered
                return Outcome(result=found.result, duplicate=True, attempt=found.attempt)
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

    async def _run_in_memory(
        self,
        store: MemoryIdempotencyStore,
        key: str,
        digest: str,
        token: str,
        fn: Callable[[], Awaitable[bytes | None]],
        attempt: int,
        started: Callable[[int], None] | None,
        limit: int | None,
    ) -> Outcome:
        """`run` on the in-process store once `MemoryIdempotencyStore.claim` stored our
        in-progress record (attempt ``attempt``, the key being new): the same steps with no
        `Record` built for a run that succeeds and no coroutine per store call. Its calls
        neither await nor fail, so how the run ended is written at once."""
        if limit is not None and attempt > limit:
            self._end(key, self._mine(digest, attempt=attempt, token=token))
            raise AttemptsExhaustedError(attempts=attempt - 1, limit=limit)
        if started is not None:
            started(attempt)
        try:
            result = await fn()
        except BaseException as exc:
            store.finish(key, FAILED, digest, token, None, attempt, self.ttl)
            if not isinstance(exc, asyncio.CancelledError):
                failed = Record(status=Status.FAILED, payload_hash=digest, token=token)
                self._end(key, replace(failed, attempt=attempt))
            raise
        store.finish(key, COMPLETED, digest, token, result, attempt, self.ttl)
        return Outcome(result=result, duplicate=False, attempt=attempt)

    async def dead_lettered(self, key: str) -> None:
        """Record that the delivery whose attempt last ended here under ``key`` has been
        dead-lettered (DEAD), so a copy that is not a run's copy (`is_rerun`) is a duplicate,
        not a second dead letter. Written until the store takes it, like a completion."""
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
        deadline = None  # read the clock only once there is something to wait for
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
            now = self._clock.monotonic()
            if deadline is None:
                deadline = now + self.wait_timeout
            if self.on_in_progress == "report" or now >= deadline:
                raise IdempotencyInProgressError(f"event {key!r} is being handled elsewhere")
            await self._clock.sleep(self.poll_interval)
