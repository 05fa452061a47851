"""Which copy of an event the guard is looking at: its payload digest, and whether it is a run's.

An idempotency record keeps the digest of the payload it was acquired for, so a copy with the
same (source, id) but other data is a conflict, not a duplicate; the dispatcher and the stages
(`tidal._dispatching`, `tidal._stages`) hash an event once with the guard's digest
(`tidal._idempotency.guard.Idempotency.digest`): `event_hash`, stable across tidal versions,
for stores that outlive the process (Redis), `quick_event_hash` for the in-process one. A
restore, replay or re-drive marks its Kafka records with `RUN_HEADER` (`tidal_data.marks`);
the Kafka transport (`tidal._transports.kafka.handling`) notes such an event with
`mark_rerun`, and `is_rerun` tells the guard to let it take a dead-lettered key over.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import msgspec

from tidal._events import Event

RUN_HEADER: Final = "tidal-run"
"""The Kafka header a restore, replay or re-drive run marks its records with
(`tidal_data.marks`): such a copy runs again where its first delivery was dead-lettered."""
_RERUN: Final = "_tidal_rerun"
_DIGESTS: Final = "_tidal_payload_hash"
_SORTED_JSON: Final = json.JSONEncoder(sort_keys=True, default=str)


def payload_hash(data: Any) -> str:
    """A stable sha256 of event data (JSON with sorted keys; bytes as they are): what stores
    that outlive the process keep (Redis), so it never changes between tidal versions (a
    record written before an upgrade must match the redelivery read after it)."""
    raw = data if isinstance(data, bytes) else _SORTED_JSON.encode(data).encode()
    return hashlib.sha256(raw).hexdigest()


_QUICK_JSON: Final = msgspec.json.Encoder(order="sorted", enc_hook=str)
_QUICK_DIGESTS: Final = "_tidal_quick_hash"


def quick_hash(data: Any) -> str:
    """`payload_hash`'s in-process twin, several times cheaper: Python's own (keyed, 64-bit)
    hash of msgspec's sorted-keys JSON, in decimal. For the in-process store only, whose records
    die with the process (as does the hash's key): its digests differ from `payload_hash`'s,
    never compared with them. A record's digest only tells a conflicting copy (same key, other
    data) from a duplicate, which 64 bits do (a sha256 cost several times the hash).

    It tells JSON payloads apart exactly as `payload_hash` does (same value, same digest;
    ``1``, ``1.0`` and ``true`` differ). Where msgspec would blur that (it writes NaN and the
    infinities as ``null``: any output with a ``null``) or cannot write the data (non-string
    keys, lone surrogates), the digest is `payload_hash`'s encoding, marked so that the two
    encodings never meet."""
    if isinstance(data, bytes):
        return str(hash(data))
    try:
        raw = _QUICK_JSON.encode(data)
    except (TypeError, ValueError, RecursionError):
        raw = b"null"
    if raw.partition(b"null")[1]:  # not ``in`` (raises and clears a TypeError) nor ``find``
        raw = b"~" + _SORTED_JSON.encode(data).encode()
    return str(hash(raw))


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


def quick_event_hash(event: Event) -> str:
    """`quick_hash` of ``event``'s data, computed once per event (see `event_hash`)."""
    kept = vars(event)  # the event's own attributes: a dict's calls, not getattr / setattr
    found: str | None = kept.get(_QUICK_DIGESTS)
    if found is None:
        found = kept[_QUICK_DIGESTS] = quick_hash(event.data)
    return found


def mark_rerun(event: Event) -> None:
    """Note that ``event`` is a run's copy (re-drive, replay, restore), not a redelivery."""
    setattr(event, _RERUN, True)


def is_rerun(event: Event) -> bool:
    return _RERUN in vars(event)  # only `mark_rerun` sets it
