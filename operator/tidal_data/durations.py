"""Durations (``35d``, ``1h30m``) and RFC 3339 times as the data plane's flags spell them.

Pure; called by the CLI's parameter types and by retention.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION: Final = re.compile(r"^(?:[0-9]+[smhdw])+$")
_PART: Final = re.compile(r"([0-9]+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``35d`` -> 35 days; digits with ``s``, ``m``, ``h``, ``d`` or ``w``, concatenated."""
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration like 35d or 1h30m (units s, m, h, d, w)")
    seconds = sum(int(n) * UNITS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return timedelta(seconds=seconds)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2025-01-01T00:00:00Z") from exc
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset)")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backup_id(value: datetime) -> str:
    """A backup's identifier: its start time, safe in an object key (``2025-01-01T02-00-04Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def backup_time(identifier: str) -> datetime | None:
    """The start time a backup identifier encodes, or None if it is not one."""
    try:
        return datetime.strptime(identifier, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
