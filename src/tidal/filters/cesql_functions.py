"""The built-in CESQL functions tidal supports: string helpers, ``ABS`` and the casts.

Looked up by ``cesql_parsing`` (an unknown name or a wrong arity is a compile error) and
invoked by ``cesql_evaluating``. Each function takes one argument, cast to its parameter type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidal.filters.cesql_casting import (
    INT_MIN,
    EvaluationError,
    to_boolean,
    to_integer,
    to_string,
)
from tidal.filters.cesql_nodes import TypeName, Value


@dataclass(frozen=True, slots=True)
class Function:
    """A unary built-in: ``body`` receives the argument already evaluated (not yet cast)."""

    returns: TypeName
    body: Callable[[Value], Value]


def _absolute(value: Value) -> int:
    number = to_integer(value)
    if number == INT_MIN:
        raise EvaluationError("ABS overflows for -2147483648")
    return abs(number)


FUNCTIONS: dict[str, Function] = {
    "LENGTH": Function("Integer", lambda value: len(to_string(value))),
    "LOWER": Function("String", lambda value: to_string(value).lower()),
    "UPPER": Function("String", lambda value: to_string(value).upper()),
    "TRIM": Function("String", lambda value: to_string(value).strip()),
    "ABS": Function("Integer", _absolute),
    "INT": Function("Integer", to_integer),
    "BOOL": Function("Boolean", to_boolean),
    "STRING": Function("String", to_string),
}
