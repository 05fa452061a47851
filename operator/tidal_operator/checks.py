"""Semantic checks a CRD schema cannot express: cron fields, durations, regular expressions.

Each check raises ``SpecError`` with a CamelCase reason that ends up in the ``SpecValid``
condition. Pure; called by ``tidal_operator.specs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

# The CronJob controller parses schedules with robfig/cron v3's ParseStandard (kubernetes
# pkg/apis/batch/validation/validation.go, validateScheduleFormat); bounds and names from
# robfig/cron v3.0.1 spec.go:22-52, descriptors from parser.go:parseDescriptor.
MACROS: Final = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names) per field: minute, hour, day of month, month, day of week
FIELDS: Final = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 6, DAYS),
)
# the longest each month gets (February in leap years: robfig looks five years ahead)
MONTH_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
GO_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DURATION: Final = re.compile(r"([0-9]+)([smhdw])")


class SpecError(ValueError):
    """The spec cannot be reconciled; ``reason`` goes into the SpecValid condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _number(token: str, low: int, names: tuple[str, ...]) -> int:
    """parser.go parseIntOrName / mustParseInt: a name (any case) or a non-negative integer."""
    if token.lower() in names:
        return names.index(token.lower()) + low
    if not GO_INTEGER.fullmatch(token):
        raise ValueError(f"failed to parse int from {token}")
    if int(token) < 0:
        raise ValueError(f"negative number ({int(token)}) not allowed: {token}")
    return int(token)


def _range(expr: str, low: int, high: int, names: tuple[str, ...]) -> tuple[set[int], bool]:
    """parser.go getRange: the values of one comma-separated part, and whether it is a star."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = low_high[0] in ("*", "?")
    if star:
        start, end = low, high
    elif len(low_high) > 2:
        raise ValueError(f"too many hyphens: {expr}")
    else:
        start = _number(low_high[0], low, names)
        end = _number(low_high[-1], low, names)
    step = 1
    if len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], 0, ())
        end = high if len(low_high) == 1 else end
        star = star and step <= 1
    if start < low or end > high or start > end:
        raise ValueError(f"{expr} is outside {low}-{high} or backwards")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def cron_fields(fields: list[str]) -> list[tuple[set[int], bool]]:
    """parser.go getField per field: the union of its parts (empty parts are skipped)."""
    parsed = []
    for text, (_, low, high, names) in zip(fields, FIELDS, strict=True):
        values, star = set(), False
        for part in (p for p in text.split(",") if p):
            found, is_star = _range(part, low, high, names)
            values |= found
            star = star or is_star
        parsed.append((values, star))
    return parsed


def _fires(parsed: list[tuple[set[int], bool]]) -> bool:
    """Some time matches (spec.go dayMatches: day of month AND day of week when either is a
    star, else OR)."""
    (minutes, _), (hours, _), (dom, dom_star), (months, _), (dow, dow_star) = parsed
    if not (minutes and hours and months):
        return False
    dates = any(day <= MONTH_DAYS[month - 1] for month in months for day in dom)
    if dom_star or dow_star:
        return dates and bool(dow)
    return dates or bool(dow)


def check_cron(expression: str, *, field: str) -> None:
    """A schedule the CronJob controller accepts and that fires at least once.

    robfig/cron v3's standard parser: five fields or a descriptor, ``*`` and ``?`` alike, day
    of week 0-6, names in any case. Time zones in the schedule are refused as Kubernetes does
    (they are evaluated in UTC here). Stricter than the controller: ``@every`` (a fixed delay,
    no calendar) is refused, as the staleness alert needs a calendar schedule; so is a schedule
    that matches no date (``0 2 30 2 *``): its CronJob would never run, no alert could fire.
    """

    def refuse(problem: str) -> SpecError:
        return SpecError("InvalidSchedule", f"{field} {expression!r}: {problem}")

    if "TZ" in expression:
        raise refuse("time zones are not allowed: schedules are evaluated in UTC")
    text = expression.strip()
    if text.startswith("@"):
        if text in MACROS:
            return
        raise refuse(f"use five fields or one of {', '.join(sorted(MACROS))} (not @every)")
    fields = text.split()
    if len(fields) != 5:
        raise refuse("it needs five fields: minute hour day-of-month month day-of-week")
    try:
        parsed = cron_fields(fields)
    except ValueError as exc:
        raise refuse(str(exc)) from exc
    if not _fires(parsed):
        raise refuse("it never fires (no date matches its day, month and day-of-week fields)")


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
