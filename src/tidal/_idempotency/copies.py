"""Which copy of an event the guard is looking at: its payload digest, and whether it is a run's.

An idempotency record keeps the digest of the payload it was acquired for, so a copy with the
same (source, id) but other data is a conflict, not a duplicate; the dispatcher and the stages
(`tidal._dispatching`, `tidal._stages`) hash an event once with `event_hash`. A restore, replay or
re-drive marks its Kafka records with `RUN_HEADER` (`tidal_data.marks`); the Kafka transport
(`tidal._transports.kafka.handling`) notes such an event with `mark_rerun`, and `is_rerun` tells
the guard to let it take a dead-lettered key over.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from tidal._events import Event

RUN_HEADER: Final = "tidal-run"
"""The Kafka header a restore, replay or re-drive run marks its records with
(`tidal_data.marks`): such a copy runs again where its first delivery was dead-lettered."""
_RERUN: Final = "_tidal_rerun"
_DIGESTS: Final = "_tidal_payload_hash"
_SORTED_JSON: Final = json.JSONEncoder(sort_keys=True, default=str)


def payload_hash(data: Any) -> str:
    """A stable sha256 of event data (JSON with sorted keys; bytes as they are)."""
    raw = data if isinstance(data, bytes) else _SORTED_JSON.encode(data).encode()
    return hashlib.sha256(raw).hexdigest()


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
