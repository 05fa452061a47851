"""Idempotency keyed by (source, id) per subscription: an in-progress -> completed state machine.

Modules, each importing only those listed after it (a contract in ``.importlinter``):

- `guard`: `Idempotency`, which runs a handler at most once per key and counts its attempts
  in the store (the dispatcher's idempotent stage and batch claim step call it);
- `memory`: `MemoryIdempotencyStore`, the in-process store (tests, ``tidal dev``, the default),
  whose new-key calls the guard makes directly;
- `records`: `Record` and its stored form, the replies a completed record keeps, the
  takeover rule (`successor`) and `IdempotencyStore`, the port the memory store and the
  server adapters in `tidal._stores` (Redis) implement;
- `copies`: an event's payload digest and whether it is a run's copy (re-drive, replay,
  restore).

The names below are re-exported for tests and benchmarks; tidal's own modules import the module
that defines a name. None is public API (`tidal.testing` exports `MemoryIdempotencyStore`).
"""

from tidal._idempotency.copies import event_hash, is_rerun, mark_rerun, payload_hash
from tidal._idempotency.guard import Claim, Idempotency, RunResult
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._idempotency.records import IdempotencyStore, Pending, Record, Status, successor

__all__ = [
    "Claim",
    "Idempotency",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "Pending",
    "Record",
    "RunResult",
    "Status",
    "event_hash",
    "is_rerun",
    "mark_rerun",
    "payload_hash",
    "successor",
]
