"""Delivery policy per subscription: attempts, backoff, timeouts, event age, dead-letter sink.

`App.on(policy=...)` stores one; the dispatcher reads it for timeouts and age, the transports for
how long to wait between attempts (`DeliveryPolicy.delay`), and `tidal manifests` maps it onto a
Knative Trigger's ``delivery`` (``retry``, ``backoffPolicy``, ``backoffDelay``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import isodate

from tidal._errors import ConfigurationError

Backoff = Literal["exponential", "linear"]


def parse_duration(value: str | float | int | timedelta, *, name: str) -> float:
    """Seconds from an ISO-8601 duration (``PT0.2S``), a number of seconds or a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        seconds = _parse_iso(value, name=name)
    if seconds < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value!r}")
    return seconds


def _parse_iso(text: str, *, name: str) -> float:
    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise ConfigurationError(f"{name}: {text!r} is not an ISO-8601 duration") from exc
    if isinstance(duration, isodate.Duration):
        raise ConfigurationError(f"{name}: {text!r} uses years or months; use days or less")
    return float(duration.total_seconds())


@dataclass(frozen=True, kw_only=True)
class DeliveryPolicy:
    """How hard tidal tries to deliver one event to one subscription.

    ``max_attempts`` counts the first attempt (3 = one try and two retries). The n-th retry waits
    ``base_delay * n`` (linear) or ``base_delay * 2**n`` (exponential), as Knative's brokers do
    (eventing-kafka-broker WebClientCloudEventSender.computeRetryPolicy, eventing kncloudevents
    retries.go), capped at ``max_delay``;
    with ``jitter`` the wait is drawn uniformly from [0, that] ("full jitter"): off by default,
    since Knative's brokers wait exactly that, and one policy is one schedule in both modes
    (`tidal manifests` refuses a jittered policy for a Trigger). ``timeout`` bounds
    one attempt; ``max_age`` bounds the event's age (from its ``time``) at the start of an attempt.
    ``dead_letter`` names the sink that failed events go to (URL, topic; transport-specific); with
    none, the Knative transport answers 4xx/5xx so the Broker's own delivery spec applies.
    """

    max_attempts: int = 3
    backoff: Backoff = "exponential"
    base_delay: float = 0.2
    max_delay: float = 60.0
    jitter: bool = False
    timeout: float | None = 30.0
    max_age: float | None = None
    dead_letter: str | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.backoff not in ("exponential", "linear"):
            raise ConfigurationError(
                f"backoff must be 'exponential' or 'linear', got {self.backoff!r}"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigurationError(f"timeout must be > 0, got {self.timeout}")
        if self.max_delay < self.base_delay:
            raise ConfigurationError("max_delay must be >= base_delay")

    @classmethod
    def of(
        cls,
        *,
        max_attempts: int = 3,
        backoff: Backoff = "exponential",
        delay: str | float | None = None,
        max_delay: str | float = "PT60S",
        jitter: bool = False,
        timeout: str | float | None = "PT30S",
        max_age: str | float | None = None,
        dead_letter: str | None = None,
        base_delay: str | float | None = None,
    ) -> DeliveryPolicy:
        """Build a policy from ISO-8601 durations (``"PT0.5S"``) or seconds. ``delay`` (Knative's
        ``backoffDelay``; default 0.2 s) and ``base_delay`` (the field's name) are one setting."""
        if delay is not None and base_delay is not None:
            raise ConfigurationError("give delay or base_delay (the same setting), not both")
        given = delay if delay is not None else base_delay
        base = parse_duration("PT0.2S" if given is None else given, name="delay")
        return cls(
            max_attempts=max_attempts,
            backoff=backoff,
            base_delay=base,
            max_delay=parse_duration(max_delay, name="max_delay"),
            jitter=jitter,
            timeout=None if timeout is None else parse_duration(timeout, name="timeout"),
            max_age=None if max_age is None else parse_duration(max_age, name="max_age"),
            dead_letter=dead_letter,
        )

    def iso_delay(self) -> str:
        """``base_delay`` as an ISO-8601 duration, as Knative's ``backoffDelay`` wants it."""
        return str(isodate.duration_isoformat(timedelta(seconds=self.base_delay)))

    def ceiling(self, retry: int) -> float:
        """The un-jittered wait before retry number ``retry`` (1-based), capped."""
        if retry < 1:
            return 0.0
        factor = retry if self.backoff == "linear" else 2 ** min(retry, 62)
        return min(self.base_delay * factor, self.max_delay)

    def delay(self, retry: int, *, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry``: the ceiling, or a full-jitter draw under it."""
        ceiling = self.ceiling(retry)
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0.0, ceiling)

    def exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` made attempts leave no retry."""
        return attempts >= self.max_attempts


DEFAULT_POLICY = DeliveryPolicy()
