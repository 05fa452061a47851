"""The idempotency record: its type, its stored form, the takeover rule and the store port.

Everything that says what a record is lives here, and nowhere else: `Record` with its
stored form (`Record.encode` / `Record.decode`), the replies a completed record keeps
(`encode_replies` / `decode_replies`), what an acquire makes of the record already there
(`successor`), and `IdempotencyStore`, the port every store implements with every method
declared. The guard (`tidal._idempotency.guard`) and the stages (`tidal._stages`) use the type
and the replies; the stores (`tidal._idempotency.memory`, `tidal._stores.redis`,
`tidal._stores.coalescing`) implement the port.

The stored form is one JSON object, written by hand (``json.dumps`` of a dict costs several times
more on the hot path)::

    {"a":<attempt>,"l":<lease ms>,"s":"<status>","h":"<payload hash>","t":"<token>",
     "r":<result: base64 text, or null>[,"x":true: a run's copy]}

``"a"`` and ``"l"`` come first, as plain integers: the Redis scripts (`tidal._stores.redis`)
read the other fields with ``cjson`` and rewrite those two in place (the lease stamped on
Redis' clock, a takeover's attempt); they tell our record from another owner's by searching
for `owner_mark`. A record written without ``"a"`` or ``"l"`` reads as attempt 1 with no
lease.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring
from typing import Final, Protocol

from tidal._bindings.http import parse_batch, to_batch
from tidal._events import Event


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
    """One idempotency record; ``result`` holds what the run produced (`encode_replies`).

    ``attempt``: the attempt the record belongs to. ``lease``: milliseconds an IN_PROGRESS
    record is held as sent to ``acquire``, which stamps it into the store's clock (epoch ms in
    Redis, monotonic ms in memory) when it stores it; not compared. ``rerun``: the record is
    sent by a run's copy (`tidal._idempotency.copies.is_rerun`), which takes a DEAD key over
    (`successor`)."""

    status: Status
    payload_hash: str
    token: str
    result: bytes | None = None
    attempt: int = 1
    lease: int = field(default=0, compare=False)
    rerun: bool = False

    def encode(self) -> str:
        """The stored form (see the module's docstring)."""
        result = "null" if self.result is None else f'"{base64.b64encode(self.result).decode()}"'
        rerun = ',"x":true' if self.rerun else ""
        return (
            f'{{"a":{self.attempt:d},"l":{self.lease:d},"s":"{self.status.value}",'
            f'"h":{encode_basestring(self.payload_hash)},'
            f'{owner_mark(self.token)},"r":{result}{rerun}}}'
        )

    @classmethod
    def decode(cls, text: str | bytes) -> Record:
        """The record `encode` wrote (or a script rewrote)."""
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


def owner_mark(token: str) -> str:
    """The text `Record.encode` writes for ``token``: a stored record holds it exactly when its
    token is ``token`` (string values are JSON-escaped, so no other field can hold it), so a
    script finds a record's owner by a plain search (`tidal._stores.redis`)."""
    return f'"t":{encode_basestring(token)}'


def encode_replies(events: Sequence[Event]) -> bytes | None:
    """The ``result`` a completed record keeps of the events its run emitted: the HTTP
    binding's batched mode (a JSON array of structured events); None for no events."""
    return to_batch(events)[1] if events else None


def decode_replies(result: bytes | None) -> list[Event]:
    """The events `encode_replies` kept (a duplicate answers with them)."""
    return parse_batch(result) if result else []


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
