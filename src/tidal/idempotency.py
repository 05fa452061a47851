"""Idempotency keyed by (source, id) per subscription: an in-progress -> completed state machine.

The dispatcher wraps each handler run in `Idempotency.run`. Stores implement `IdempotencyStore`
atomically (no check-then-write race): `MemoryIdempotencyStore` here for tests and `tidal dev`,
`tidal.stores.redis.RedisIdempotencyStore` for production.

States: absent -> IN_PROGRESS (acquired with a token) -> COMPLETED (kept for ``ttl``); a failure
deletes the in-progress record so a retry can run; an in-progress record that outlives
``in_progress_ttl`` (a crashed worker) expires by itself.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from tidal.clock import Clock, SystemClock
from tidal.errors import ConfigurationError, IdempotencyConflictError, IdempotencyInProgressError

OnInProgress = Literal["wait", "report"]


class Status(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, kw_only=True)
class Record:
    """One idempotency record; ``result`` holds what the run produced (serialised replies)."""

    status: Status
    payload_hash: str
    token: str
    result: bytes | None = None

    def to_json(self) -> str:
        result = None if self.result is None else base64.b64encode(self.result).decode()
        return json.dumps(
            {"s": self.status.value, "h": self.payload_hash, "t": self.token, "r": result}
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        raw = json.loads(text)
        result = None if raw.get("r") is None else base64.b64decode(raw["r"])
        return cls(status=Status(raw["s"]), payload_hash=raw["h"], token=raw["t"], result=result)


class IdempotencyStore(Protocol):
    """Atomic storage of idempotency records (times in seconds)."""

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


class MemoryIdempotencyStore:
    """An in-process store with expiry (one event loop; atomic because it never awaits inside)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._records: dict[str, tuple[Record, float]] = {}

    def _live(self, key: str) -> Record | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock.monotonic():
            del self._records[key]
            return None
        return entry[0]

    async def acquire(self, key: str, record: Record, *, ttl: float) -> Record | None:
        existing = self._live(key)
        if existing is None:
            self._records[key] = (record, self._clock.monotonic() + ttl)
        return existing

    async def complete(self, key: str, record: Record, *, ttl: float) -> bool:
        existing = self._live(key)
        if existing is not None and existing.token != record.token:
            return False
        self._records[key] = (record, self._clock.monotonic() + ttl)
        return True

    async def release(self, key: str, token: str) -> None:
        existing = self._live(key)
        if existing is not None and existing.token == token:
            del self._records[key]

    async def get(self, key: str) -> Record | None:
        return self._live(key)

    def __len__(self) -> int:
        return len(self._records)


def payload_hash(data: Any) -> str:
    """A stable sha256 of event data (JSON with sorted keys; bytes as they are)."""
    raw = (
        data if isinstance(data, bytes) else json.dumps(data, sort_keys=True, default=str).encode()
    )
    return hashlib.sha256(raw).hexdigest()


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

    async def run(
        self, key: str, digest: str, fn: Callable[[], Awaitable[bytes | None]]
    ) -> Outcome:
        """Acquire ``key``, run ``fn`` and save its result; or return the completed result."""
        mine = Record(status=Status.IN_PROGRESS, payload_hash=digest, token=uuid.uuid4().hex)
        done = await self._acquire(key, mine)
        if done is not None:
            return Outcome(result=done.result, duplicate=True)
        try:
            result = await fn()
        except BaseException:
            await self.store.release(key, mine.token)
            raise
        completed = replace(mine, status=Status.COMPLETED, result=result)
        await self.store.complete(key, completed, ttl=self.ttl)
        return Outcome(result=result, duplicate=False)

    async def _acquire(self, key: str, mine: Record) -> Record | None:
        """None once ``mine`` is stored; the completed record if the work is already done."""
        deadline = self._clock.monotonic() + self.wait_timeout
        while True:
            existing = await self.store.acquire(key, mine, ttl=self.in_progress_ttl)
            if existing is None:
                return None
            if existing.payload_hash != mine.payload_hash:
                raise IdempotencyConflictError(
                    f"event {key!r} was already received with a different payload "
                    f"(sha256 {existing.payload_hash[:12]}... vs {mine.payload_hash[:12]}...)"
                )
            if existing.status is Status.COMPLETED:
                return existing
            if self.on_in_progress == "report" or self._clock.monotonic() >= deadline:
                raise IdempotencyInProgressError(f"event {key!r} is being handled elsewhere")
            await self._clock.sleep(self.poll_interval)
