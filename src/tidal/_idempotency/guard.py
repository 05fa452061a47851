"""The idempotency guard: runs a function at most once per key, counting its attempts.

The dispatcher's idempotent stage (`tidal._stages.idempotent`) wraps each handler run in
`Idempotency.run` (on the in-process store, a new key's run goes between `Idempotency.enter`
and `Idempotency.completed` / `Idempotency.failed`: the stage awaits the handler itself, with
no closure or coroutine per step); the batch claim step
(`tidal._dispatching.Dispatcher.claim_many`) calls `Idempotency.claim_many`, and gives back a
claim whose run will not happen with `Idempotency.release`. The guard keeps its records in any
`IdempotencyStore` (`tidal._idempotency.records`): `MemoryIdempotencyStore`
(`tidal._idempotency.memory`), whose calls it makes directly for a new key, or
`tidal._stores.redis.RedisIdempotencyStore`.

States: absent -> IN_PROGRESS (acquired with a token and a lease) -> COMPLETED (kept for
``ttl``). A handler that fails leaves FAILED; once a delivery has ended in a dead letter,
`Idempotency.dead_lettered` leaves DEAD. Every record carries the number of the attempt it
belongs to, written *before* the handler runs: an acquire that finds a FAILED record, or an
IN_PROGRESS one whose lease (``in_progress_ttl``) has run out (a worker killed mid-handler),
takes the key over as the next attempt (`tidal._idempotency.records.successor`), so attempts
are counted across crashes and restarts for as long as the store keeps the record (Redis:
across processes; memory: only within one).

A DEAD key is a duplicate (answered with no events) for every copy that is not a run's copy: a
redelivered copy (a source whose acknowledgement was lost, a consumer that died before its
commit) is not dead-lettered again. A re-driven, replayed or restored copy
(`tidal._idempotency.copies.is_rerun`) takes a DEAD key over and counts its attempts afresh; a
COMPLETED key stays a duplicate for it too.

A transport holding many events at once (the Kafka worker's fetched batch) calls `claim_many`
first: one store call (``acquire_many``) acquires every key, and each event's `Idempotency.run`
then starts from its `Claim` instead of acquiring on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from tidal._clock import Clock, SystemClock
from tidal._errors import (
    AttemptsExhaustedError,
    ConfigurationError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    IdempotencyInProgressError,
)
from tidal._events import Event
from tidal._idempotency.copies import event_hash, quick_event_hash
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._idempotency.records import COMPLETED, FAILED, IdempotencyStore, Record, Status

OnInProgress = Literal["wait", "report"]

MAX_HELD: Final = 10_000
"""Keys whose run met a store failure that a guard remembers its record for (`Idempotency.run`),
and keys whose last attempt here ended without success (`Idempotency.dead_lettered`)."""
SETTLE_BACKOFF: Final = (0.05, 5.0)
"""First and longest wait (seconds) between tries of writing how a run ended (`Idempotency.run`)."""
SETTLE_LOG_EVERY: Final = 10.0

log = logging.getLogger("tidal.idempotency")


@dataclass(frozen=True, slots=True)
class Claim:
    """What `Idempotency.claim_many` found for one key: ``existing`` is None when ``mine`` (our
    in-progress record) is stored, else the record that was already there (or ours, taken
    over as the next attempt: its token is ``mine``'s)."""

    key: str
    mine: Record
    existing: Record | None


@dataclass(slots=True, kw_only=True)
class RunResult:
    """What `Idempotency.run` returns: the function's result from this run (as attempt
    ``attempt``), or, ``duplicate``, the result kept from the run that completed the key
    before (None where the key was dead-lettered)."""

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
        self.in_process = self._memory is not None  # `enter` may take a new key at once
        # the digest of an event's data its records carry: the in-process store's die with
        # the process, so they take the cheaper one; every other store's, the stable one
        self.digest: Callable[[Event], str] = (
            quick_event_hash if isinstance(store, MemoryIdempotencyStore) else event_hash
        )

    def _mine(
        self, digest: str, *, attempt: int = 1, rerun: bool = False, token: str | None = None
    ) -> Record:
        return Record(
            status=Status.IN_PROGRESS,
            payload_hash=digest,
            token=token or f"{self._prefix}{next(self._serial)}",
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
    ) -> RunResult:
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
        in_memory = self._memory is not None and claim is None and not rerun
        if in_memory:  # never fails, so never holds a record (`_held`)
            token = self.enter(key, digest, attempt, limit)
            if token is not None:
                return await self._run_entered(key, digest, token, fn, attempt, started)
        elif self._ended:
            self._ended.pop(key, None)
        if in_memory:  # a record is there: the general path takes it over, waits, conflicts
            mine, first, acquiring = self._mine(digest, attempt=attempt), None, True
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
                return RunResult(result=found.result, duplicate=True, attempt=found.attempt)
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
        return RunResult(result=result, duplicate=False, attempt=mine.attempt)

    async def _run_entered(
        self,
        key: str,
        digest: str,
        token: str,
        fn: Callable[[], Awaitable[bytes | None]],
        attempt: int,
        started: Callable[[int], None] | None,
    ) -> RunResult:
        """`run` once `enter` stored our in-progress record under ``token``."""
        if started is not None:
            started(attempt)
        try:
            result = await fn()
        except BaseException as exc:
            self.failed(key, digest, token, attempt, exc)
            raise
        self.completed(key, digest, token, attempt, result)
        return RunResult(result=result, duplicate=False, attempt=attempt)

    def enter(self, key: str, digest: str, attempt: int, limit: int | None) -> str | None:
        """`run`'s first step on the in-process store, for a caller that runs the work itself
        (`tidal._stages.idempotent`: no closure, no coroutine per step): once our in-progress
        record is stored for ``key`` (new, or its record expired) as attempt ``attempt``, its
        token, and the caller ends the run with `completed` or `failed`. None, storing
        nothing, when the store is another or a record is there: then `run` decides.
        `AttemptsExhaustedError` past ``limit``, as from `run`. Its calls neither await nor
        fail, so how the run ended is written at once."""
        memory = self._memory
        if memory is None:
            return None
        if self._ended:
            self._ended.pop(key, None)
        token = f"{self._prefix}{next(self._serial)}"
        if not memory.claim(key, digest, token, attempt, self._lease, self._keep):
            return None
        if limit is not None and attempt > limit:
            self._end(key, self._mine(digest, attempt=attempt, token=token))
            raise AttemptsExhaustedError(attempts=attempt - 1, limit=limit)
        return token

    def completed(
        self, key: str, digest: str, token: str, attempt: int, result: bytes | None
    ) -> None:
        """The run `enter` began ended well: ``result`` is what a duplicate answers."""
        if self._memory is not None:
            self._memory.finish(key, COMPLETED, digest, token, result, attempt, self.ttl)

    def failed(self, key: str, digest: str, token: str, attempt: int, exc: BaseException) -> None:
        """The run `enter` began raised ``exc``: its record says FAILED (the next attempt
        takes the key over), and unless it was cancelled, `dead_lettered` may follow."""
        if self._memory is None:
            return
        self._memory.finish(key, FAILED, digest, token, None, attempt, self.ttl)
        if not isinstance(exc, asyncio.CancelledError):
            failed = Record(status=Status.FAILED, payload_hash=digest, token=token)
            self._end(key, replace(failed, attempt=attempt))

    async def close(self) -> None:
        """Close the store (its connections); the guard is not used afterwards."""
        await self.store.close()

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
                    f"(digest {existing.payload_hash[:12]}... vs {mine.payload_hash[:12]}...)"
                )
            if existing.status is Status.COMPLETED or existing.status is Status.DEAD:
                return existing
            now = self._clock.monotonic()
            if deadline is None:
                deadline = now + self.wait_timeout
            if self.on_in_progress == "report" or now >= deadline:
                raise IdempotencyInProgressError(f"event {key!r} is being handled elsewhere")
            await self._clock.sleep(self.poll_interval)
