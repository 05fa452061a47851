"""Dead-letter events: the original event, unchanged, plus extensions describing the failure.

The dispatcher builds them; transports send them to the subscription's dead-letter sink;
`tidal dlq` reads them back. Extension names are CloudEvents-legal (lowercase alphanumerics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tidal._bindings.formats import encode_time
from tidal._events import Event

MAX_MESSAGE_BYTES: Final = 1024

ERROR_CLASS: Final = "tidalerrorclass"
"""The dead letter's extension naming the failure's class (``RuntimeError``, ``RecordTooLarge``)."""
ERROR_MESSAGE: Final = "tidalerrormessage"
"""The failure's message, cut to ``MAX_MESSAGE_BYTES``."""
ATTEMPTS: Final = "tidalattempts"
FIRST_FAILURE: Final = "tidalfirstfailure"
LAST_FAILURE: Final = "tidallastfailure"
"""When the last attempt failed (RFC 3339): what ``tidal dlq`` slices the archive by."""
SUBSCRIBER: Final = "tidalsubscriber"
"""The subscription whose handler failed."""
# where a Kafka record was first read from (the Kafka transport adds them)
TOPIC: Final = "tidaltopic"
"""The topic the failed record was first read from (Kafka): where ``tidal dlq redrive`` sends
it back."""
PARTITION: Final = "tidalpartition"
OFFSET: Final = "tidaloffset"
FAILURE_EXTENSIONS: Final = (
    ERROR_CLASS,
    ERROR_MESSAGE,
    ATTEMPTS,
    FIRST_FAILURE,
    LAST_FAILURE,
    SUBSCRIBER,
    TOPIC,
    PARTITION,
    OFFSET,
)
"""Every extension a dead letter adds to the event (a re-drive removes them)."""


@dataclass(frozen=True, kw_only=True)
class Failure:
    """Why and how often delivery of one event to one subscriber failed."""

    error_class: str
    message: str
    attempts: int
    first_failure: datetime
    last_failure: datetime
    subscriber: str

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        attempts: int,
        first_failure: datetime,
        last_failure: datetime,
        subscriber: str,
    ) -> Failure:
        return cls(
            error_class=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            attempts=attempts,
            first_failure=first_failure,
            last_failure=last_failure,
            subscriber=subscriber,
        )


def truncate(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """Cut ``message`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "..."


def failure_extensions(
    failure: Failure, *, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The extension attributes describing ``failure`` (plus ``extra``), by name."""
    extensions: dict[str, Any] = {
        ERROR_CLASS: failure.error_class,
        ERROR_MESSAGE: truncate(failure.message),
        ATTEMPTS: failure.attempts,
        FIRST_FAILURE: encode_time(failure.first_failure),
        LAST_FAILURE: encode_time(failure.last_failure),
        SUBSCRIBER: failure.subscriber,
    }
    extensions.update(extra or {})
    return extensions


def dead_letter(event: Event, failure: Failure, *, extra: Mapping[str, Any] | None = None) -> Event:
    """The dead-letter form of ``event``: its attributes and data plus the failure extensions."""
    return event.with_extensions(failure_extensions(failure, extra=extra))


def original(letter: Event) -> Event:
    """Strip the failure extensions: the event as it was before it was dead-lettered."""
    attributes = {k: v for k, v in letter.get_attributes().items() if k not in FAILURE_EXTENSIONS}
    return Event(attributes, letter.get_data())
