"""Semantic checks a CRD schema cannot express: cron fields, durations, regular expressions.

Each check raises ``SpecError`` with a CamelCase reason that ends up in the ``SpecValid``
condition. Pure; called by ``tidal_operator.specs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MACROS: Final = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# (low, high, names) per cron field: minute, hour, day of month, month, day of week
FIELDS: Final = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    (0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DURATION: Final = re.compile(r"([0-9]+)([smhdw])")


class SpecError(ValueError):
    """The spec cannot be reconciled; ``reason`` goes into the SpecValid condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _value(token: str, low: int, names: tuple[str, ...]) -> int:
    if token.upper() in names:
        return names.index(token.upper()) + low
    if not token.isdigit():
        raise ValueError(token)
    return int(token)


def _check_part(part: str, low: int, high: int, names: tuple[str, ...]) -> None:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise ValueError(part)
    if base == "*":
        return
    first, _, last = base.partition("-")
    bounds = [_value(first, low, names)] + ([_value(last, low, names)] if last else [])
    if any(not low <= value <= high for value in bounds) or bounds != sorted(bounds):
        raise ValueError(part)


def check_cron(expression: str, *, field: str) -> None:
    """A standard five-field cron expression or a macro (CronJob syntax, no time zone prefix)."""
    if expression.strip() in MACROS:
        return
    fields = expression.split()
    problem = "it needs five fields: minute hour day-of-month month day-of-week"
    if len(fields) == 5 and "TZ" not in expression:
        try:
            for text, (low, high, names) in zip(fields, FIELDS, strict=True):
                for part in text.split(","):
                    _check_part(part, low, high, names)
            return
        except ValueError as exc:
            problem = f"{exc} is out of range or malformed"
    elif "TZ" in expression:
        problem = "time zones are not allowed: schedules are evaluated in UTC"
    raise SpecError("InvalidSchedule", f"{field} {expression!r}: {problem}")


def seconds(duration: str, *, field: str) -> int:
    """Seconds in a ``35d`` / ``1h30m`` duration."""
    matches = list(DURATION.finditer(duration))
    if not matches or "".join(match.group(0) for match in matches) != duration:
        raise SpecError("InvalidDuration", f"{field} {duration!r}: use digits with s, m, h, d or w")
    total = sum(int(match.group(1)) * UNITS[match.group(2)] for match in matches)
    if total == 0:
        raise SpecError("InvalidDuration", f"{field} {duration!r} must be longer than zero")
    return total


def check_patterns(patterns: Iterable[str], *, field: str) -> None:
    """Every pattern compiles as a regular expression."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SpecError("InvalidPattern", f"{field} {pattern!r}: {exc}") from exc
