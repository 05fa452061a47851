"""Errors that say what to do next; raised by handlers and by tidal itself.

Handlers raise these to steer delivery; transports read them to pick an HTTP status, a
retry delay or the dead-letter sink. Foreign exceptions are wrapped ``from exc`` at the adapter
that caught them.

The tree::

    TidalError
    ├── RetryableError(delay=None)          try again (after ``delay`` seconds if given)
    │   ├── IdempotencyInProgressError      the same event is being handled elsewhere right now
    │   ├── DependencyUnavailableError      a service tidal needs is down: pause, use no attempt
    │   └── HandlerTimeoutError             one attempt outran the policy's timeout
    ├── PermanentError                      never retry: dead-letter it
    │   ├── InvalidEventError (ValueError)  the event itself is malformed
    │   ├── IdempotencyConflictError        same (source, id), different payload
    │   ├── EventExpiredError               older than the policy's max_age
    │   └── AttemptsExhaustedError          the store counts every allowed attempt made
    ├── ConfigurationError (ValueError)     the app is wired wrongly (raised at import/start-up)
    │   └── FilterError                     a subscription filter cannot compile
    └── PayloadTooLargeError (ValueError)   a request body over the configured limit

FilterWarning (UserWarning): a filter names an attribute that is neither a CloudEvents context
attribute, a documented extension, nor one the App declares; it compiles, and is warned about.

Any other exception escaping a handler is treated as retryable: like Lambda, an unknown failure
is assumed transient until the attempts run out.
"""

from __future__ import annotations


class TidalError(Exception):
    """Base of every error tidal raises or understands."""


class RetryableError(TidalError):
    """The event may succeed later; ``delay`` (seconds) overrides the backoff when given."""

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        super().__init__(message)
        if delay is not None and delay < 0:
            raise ValueError(f"retry delay must be >= 0, got {delay}")
        self.delay = delay


class PermanentError(TidalError):
    """Retrying cannot help: the event goes to the dead-letter sink."""


class InvalidEventError(PermanentError, ValueError):
    """The event is malformed (missing attribute, bad encoding, bad data)."""


class IdempotencyConflictError(PermanentError):
    """An event with the same (source, id) was already seen with a different payload."""


class IdempotencyInProgressError(RetryableError):
    """Another worker is handling the same (source, id) right now."""


class DependencyUnavailableError(RetryableError):
    """A service tidal itself depends on (the idempotency store, the Kafka broker, an HTTP sink)
    cannot be reached: the event is paused, not failed; its attempt does not count and the
    transport stops taking new events in until the service answers again
    (`tidal._outcomes.Paused`). ``dependency`` names the service (``redis``, ``kafka``,
    ``sink``)."""

    def __init__(
        self, message: str = "", *, delay: float | None = None, dependency: str | None = None
    ) -> None:
        super().__init__(message, delay=delay)
        self.dependency = dependency


class ConfigurationError(TidalError, ValueError):
    """The app or its settings are wrong; raised before any event is handled."""


class FilterError(ConfigurationError):
    """A subscription filter or content pattern cannot be compiled."""


class FilterWarning(UserWarning):
    """A filter compiles but names an attribute no event is known to carry (a likely typo)."""


class PayloadTooLargeError(TidalError, ValueError):
    """A request or record is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class EventExpiredError(PermanentError):
    """The event is older than the subscription's ``max_age``: it is dead-lettered unhandled."""


class AttemptsExhaustedError(PermanentError):
    """The idempotency store counts ``attempts`` attempts of the event already, as many as the
    policy allows (``limit``): a worker stopped before the delivery ended (killed during the
    last attempt, or before its dead letter was sent), so the handler does not run again and
    the event is dead-lettered."""

    def __init__(self, *, attempts: int, limit: int) -> None:
        super().__init__(
            f"{attempts} of {limit} attempts were made already (a worker stopped before the "
            "delivery ended)"
        )
        self.attempts = attempts
        self.limit = limit


class HandlerTimeoutError(RetryableError):
    """One attempt ran longer than the policy's ``timeout``."""
