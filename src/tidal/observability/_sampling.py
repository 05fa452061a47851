"""Which events get spans: W3C ``traceparent`` parsing and the sampling decision.

Sampling is decided here, before the OpenTelemetry SDK is touched: `Sampling` (built by
`sampling_from` from the standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``) says
whether an event, given the `Parent` its ``traceparent`` names, gets spans: where the ratio
decides, `picked` draws from the event's id, so every decision on one event (its receive, each
attempt, a redelivered copy) comes out the same in a process without being remembered;
`forward` is what an unsampled request passes on to the events it emits (the same trace, the
sampled flag off), and `forward_event` what an unsampled event passes on (with no parent: a
trace named after it). Pure; called by `tidal.observability._tracing` (the `OtelTracer` and
`configure`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from tidal._errors import ConfigurationError

_HEX: Final = frozenset("0123456789abcdef")
_RATIO_BITS: Final = 52  # of an identity's hash, against the ratio's threshold: `picked`
RATIO_MASK: Final = (1 << _RATIO_BITS) - 1
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16

Forward = tuple[str, str | None]
"""The (traceparent, tracestate) an unsampled event's emitted events carry."""


@dataclass(frozen=True, slots=True)
class Parent:
    """A valid W3C ``traceparent`` (lower-case hex ids) and the ``tracestate`` beside it."""

    trace_id: str
    span_id: str
    sampled: bool
    tracestate: str | None = None


def parse_traceparent(value: object, tracestate: object = None) -> Parent | None:
    """The parent a ``traceparent`` value names; None when it is absent or not valid W3C."""
    if not isinstance(value, str) or len(value) < 55:
        return None
    version, trace_id, span_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if value[2] != "-" or value[35] != "-" or value[52] != "-" or version == "ff":
        return None
    if len(value) > 55 and (version == "00" or value[55] != "-"):
        return None
    if not _HEX.issuperset(version + trace_id + span_id + flags):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    state = tracestate if isinstance(tracestate, str) else None
    return Parent(trace_id, span_id, bool(int(flags, 16) & 1), state)


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which events get spans: a parent's sampled flag decides when ``parent_based`` and the
    event has one; otherwise a ``ratio`` of events (1: all, 0: none), `picked` by id."""

    ratio: float = 1.0
    parent_based: bool = True

    @property
    def threshold(self) -> int:
        """The ratio as `picked` compares it (0: none; ``RATIO_MASK + 1``: all)."""
        return int(self.ratio * (RATIO_MASK + 1))

    def sampled(self, parent: Parent | None) -> bool:
        """For a request that is no event (an ingress): the parent's flag, else a random draw
        at the ratio."""
        if parent is not None and self.parent_based:
            return parent.sampled
        return self.ratio >= 1.0 or (self.ratio > 0.0 and random.random() < self.ratio)

    def sampled_event(self, parent: Parent | None, event_id: str) -> bool:
        """For the event ``event_id``: the parent's flag, else `picked`."""
        if parent is not None and self.parent_based:
            return parent.sampled
        return picked(event_id, self.threshold)


def picked(event_id: str, threshold: int) -> bool:
    """Whether the ratio whose `Sampling.threshold` is ``threshold`` picks the event
    ``event_id``: the low bits of the hash of its id fall below it. Python's hash of a string
    (cached on it once computed, seeded per process) spreads like a random draw over distinct
    ids (1,000,000 ids, sequential or UUIDs: 0.98-1.04 % picked at 1 %), and gives the same
    answer for every decision on one event: a receive and its attempts agree without the
    context carrying the decision, and a retried or redelivered event is sampled again (in
    this process; another replica draws anew, as a random draw would)."""
    return (hash(event_id) & RATIO_MASK) < threshold


def forward(parent: Parent | None) -> Forward:
    """What an unsampled event passes on: its parent with the sampled flag off, or new ids."""
    if parent is None:
        trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1
        return f"00-{trace_id:032x}-{span_id:016x}-00", None
    return f"00-{parent.trace_id}-{parent.span_id}-00", parent.tracestate


def forward_event(parent: Parent | None, source: str, event_id: str) -> Forward:
    """What an unsampled event (``source``, ``event_id``) passes on: its parent with the sampled
    flag off or, with no parent, ids hashed from its identity. So every copy and attempt of the
    event, and every log line written while handling it, names the same trace without the
    context having to remember one (remembering costs more than the rest of the unsampled path)."""
    if parent is not None:
        return forward(parent)
    digest = hashlib.blake2b(f"{source}\x00{event_id}".encode(), digest_size=24).hexdigest()
    trace_id, span_id = digest[:32], digest[32:]
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:  # all-zero ids are invalid in W3C
        return forward(None)
    return f"00-{trace_id}-{span_id}-00", None


DEFAULT_SAMPLER: Final = "parentbased_always_on"  # the OpenTelemetry specification's default
_SAMPLERS: Final = {  # name -> (parent-based, fixed ratio or None: from the argument)
    "always_on": (False, 1.0),
    "always_off": (False, 0.0),
    "traceidratio": (False, None),
    "parentbased_always_on": (True, 1.0),
    "parentbased_always_off": (True, 0.0),
    "parentbased_traceidratio": (True, None),
}


def sampling_from(environ: Mapping[str, str]) -> Sampling:
    """`Sampling` per ``OTEL_TRACES_SAMPLER`` (the specification's names; default
    ``parentbased_always_on``) and ``OTEL_TRACES_SAMPLER_ARG`` (the ratio, default 1.0)."""
    name = environ.get("OTEL_TRACES_SAMPLER", DEFAULT_SAMPLER).strip().lower()
    if name not in _SAMPLERS:
        raise ConfigurationError(
            f"OTEL_TRACES_SAMPLER={name!r}: tidal supports {', '.join(_SAMPLERS)}"
        )
    parent_based, ratio = _SAMPLERS[name]
    if ratio is None:
        ratio = _ratio(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    return Sampling(ratio=ratio, parent_based=parent_based)


def _ratio(text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigurationError(f"OTEL_TRACES_SAMPLER_ARG={text!r}: a ratio from 0 to 1")
    return ratio
