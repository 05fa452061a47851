"""Selecting archived records: by CloudEvents type, error class, subscriber and time window.

The attributes come from the record as the Kafka binding wrote it: ``ce_*`` headers in binary
mode, the JSON value in structured mode, plain ``tidal*`` headers on a dead letter of a record
that was not a CloudEvent. Pure; called by restore / replay and ``tidal dlq``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from tidal.kafka import ERROR_CLASS, LAST_FAILURE, SUBSCRIBER

BINARY_PREFIX: Final = "ce_"
STRUCTURED: Final = b"application/cloudevents"


def attributes(record: Any) -> dict[str, Any]:
    """The CloudEvents attributes (and tidal's failure extensions) of an archived record."""
    found: dict[str, Any] = {}
    structured = False
    for name, raw in record.headers:
        lower = name.lower()
        if lower == "content-type" and raw.startswith(STRUCTURED):
            structured = True
        elif lower.startswith(BINARY_PREFIX):
            found[lower[len(BINARY_PREFIX) :]] = raw.decode("utf-8", "replace")
        elif lower.startswith("tidal"):
            found.setdefault(lower, raw.decode("utf-8", "replace"))
    if structured and record.value:
        try:
            body = json.loads(record.value)
        except ValueError:
            body = None
        if isinstance(body, dict):
            found.update({k: v for k, v in body.items() if k not in ("data", "data_base64")})
    return found


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_time(record: Any, attrs: dict[str, Any], *, failure_time: bool) -> datetime:
    """The dead letter's last failure time (when asked and present), else the record time."""
    if failure_time and (moment := _time(attrs.get(LAST_FAILURE))) is not None:
        return moment
    return datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which records a restore, replay or re-drive takes; empty tuples select everything."""

    types: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()
    subscribers: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    failure_time: bool = False

    @property
    def everything(self) -> bool:
        return not (
            self.types or self.error_classes or self.subscribers or self.since or self.until
        )

    def matches(self, record: Any) -> bool:
        if self.everything:
            return True
        attrs = attributes(record)
        if self.types and attrs.get("type") not in self.types:
            return False
        if self.error_classes and attrs.get(ERROR_CLASS) not in self.error_classes:
            return False
        if self.subscribers and attrs.get(SUBSCRIBER) not in self.subscribers:
            return False
        if self.since is None and self.until is None:
            return True
        moment = record_time(record, attrs, failure_time=self.failure_time)
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )
