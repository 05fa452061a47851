"""CESQL implicit casts and checked 32-bit integer arithmetic.

Called by ``cesql_evaluating`` and ``cesql_functions`` at match time. Every failure raises
``EvaluationError``, which the compiled predicate turns into "no match" (the spec's fail-fast
mode: a filter whose expression errors never passes).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tidal.filters.cesql_nodes import TypeName, Value
from tidal.filters.rendering import attribute_text

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


class EvaluationError(Exception):
    """A CESQL runtime error: missing attribute, failed cast, division by zero, overflow."""


def checked(number: int) -> int:
    """``number`` if it fits a signed 32-bit integer; an overflow is an error."""
    if INT_MIN <= number <= INT_MAX:
        return number
    raise EvaluationError(f"integer overflow: {number}")


def to_integer(value: Value) -> int:
    """Cast to Integer: ``TRUE`` is 1; a string must be a base-10 32-bit integer."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if not _INTEGER_TEXT.fullmatch(value):
        raise EvaluationError(f"cannot cast {value!r} to Integer")
    return checked(int(value))


def to_boolean(value: Value) -> bool:
    """Cast to Boolean: non-zero integers are true; strings must read ``true``/``false``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise EvaluationError(f"cannot cast {value!r} to Boolean")


def to_string(value: Value) -> str:
    """Cast to String: integers in base 10, booleans as ``true``/``false``."""
    return value if isinstance(value, str) else attribute_text(value)


CASTS: dict[TypeName, Callable[[Value], Value]] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "String": to_string,
}


def attribute_value(raw: object) -> Value:
    """An attribute as a CESQL value: bool and int stay typed, everything else is a String."""
    if isinstance(raw, str | int):
        return raw
    return attribute_text(raw)


def divide(dividend: int, divisor: int) -> int:
    """Integer division truncated towards zero; dividing by zero is an error."""
    if divisor == 0:
        raise EvaluationError("division by zero")
    quotient = abs(dividend) // abs(divisor)
    return checked(quotient if (dividend < 0) == (divisor < 0) else -quotient)


def remainder(dividend: int, divisor: int) -> int:
    """The remainder of the truncated division; it has the dividend's sign."""
    return dividend - divisor * divide(dividend, divisor)
