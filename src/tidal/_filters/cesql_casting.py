"""CESQL implicit casts and checked 32-bit integer arithmetic.

Called by ``cesql_evaluating`` and ``cesql_functions`` at match time. A failed cast raises
``EvaluationError`` of kind ``CAST``, an overflow or a division by zero one of kind ``MATH``;
the compiled predicate turns either into "no match" (CESQL v1 §1.2: a filter whose expression
errors never passes).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tidal._filters.cesql_errors import ErrorKind, EvaluationError
from tidal._filters.cesql_nodes import TypeName, Value
from tidal._filters.rendering import attribute_text

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def checked(number: int) -> int:
    """``number`` if it fits a signed 32-bit integer; an overflow is an error."""
    if INT_MIN <= number <= INT_MAX:
        return number
    raise EvaluationError(ErrorKind.MATH, f"integer overflow: {number}")


def to_integer(value: Value) -> int:
    """Cast to Integer: ``TRUE`` is 1; a string must be a base-10 32-bit integer."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if not _INTEGER_TEXT.fullmatch(value) or not INT_MIN <= (number := int(value)) <= INT_MAX:
        raise EvaluationError(ErrorKind.CAST, f"cannot cast {value!r} to a 32-bit Integer")
    return number


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
    raise EvaluationError(ErrorKind.CAST, f"cannot cast {value!r} to Boolean")


def to_string(value: Value) -> str:
    """Cast to String: integers in base 10, booleans as ``true``/``false``."""
    return value if isinstance(value, str) else attribute_text(value)


CASTS: dict[TypeName, Callable[[Value], Value]] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "String": to_string,
}


def attribute_value(raw: object) -> Value:
    """An attribute as a CESQL value: bool and int stay typed, everything else is a String
    (CESQL v1 §3.2); ``time`` is the text the event carried (``rendering.attribute_text``)."""
    if isinstance(raw, str | int):
        return raw
    return attribute_text(raw)


def divide(dividend: int, divisor: int) -> int:
    """Integer division truncated towards zero; dividing by zero is an error."""
    if divisor == 0:
        raise EvaluationError(ErrorKind.MATH, "division by zero")
    quotient = abs(dividend) // abs(divisor)
    return checked(quotient if (dividend < 0) == (divisor < 0) else -quotient)


def remainder(dividend: int, divisor: int) -> int:
    """The remainder of the truncated division; it has the dividend's sign."""
    return dividend - divisor * divide(dividend, divisor)


ZERO: dict[TypeName, Value] = {"Boolean": False, "Integer": 0, "String": ""}
"""The zero value of each type: what a subexpression yields with an error (CESQL v1 §3.1)."""
