"""The built-in CESQL v1 functions (§3.5): string manipulation, ``ABS`` and the casts.

Looked up by ``cesql_parsing`` by name and arity (an unknown name, or a known name called with
an arity it has no overload for, is a compile-time ``MISSING_FUNCTION`` error, as the TCK's
``CONCAT_WS()`` case says) and invoked by ``cesql_evaluating`` with every argument already cast
to its parameter type (§3.7). A function that fails raises ``EvaluationError`` carrying the
value the spec defines for the failure (``LEFT('abc', -2)`` is ``'abc'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidal._filters.cesql_casting import INT_MAX, INT_MIN, to_boolean, to_integer, to_string
from tidal._filters.cesql_errors import ErrorKind, EvaluationError
from tidal._filters.cesql_nodes import TypeName, Value

_CASTS: dict[TypeName, Callable[[Value], Value]] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "String": to_string,
}


@dataclass(frozen=True, slots=True)
class Function:
    """One overload: fixed ``parameters``, then ``variadic`` more of one type when it is set."""

    parameters: tuple[TypeName, ...]
    returns: TypeName
    body: Callable[..., Value]
    variadic: TypeName | None = None

    def accepts(self, arity: int) -> bool:
        """Whether a call with ``arity`` arguments dispatches to this overload."""
        fixed = len(self.parameters)
        return arity == fixed or (self.variadic is not None and arity > fixed)

    def casts(self, arity: int) -> tuple[Callable[[Value], Value], ...]:
        """The cast applied to each of ``arity`` arguments (CESQL v1 §3.7, n-ary functions)."""
        types = [*self.parameters, *[self.variadic or "String"] * (arity - len(self.parameters))]
        return tuple(_CASTS[name] for name in types)


def _failure(
    message: str, result: Value, kind: ErrorKind = ErrorKind.FUNCTION_EVALUATION
) -> EvaluationError:
    return EvaluationError(kind, message, result=result)


def _absolute(number: int) -> int:
    if number == INT_MIN:
        raise _failure("ABS(-2147483648) overflows", INT_MAX, ErrorKind.MATH)
    return abs(number)


def _left(text: str, count: int) -> str:
    if count < 0:
        raise _failure(f"LEFT with a negative length {count}", text)
    return text[:count]


def _right(text: str, count: int) -> str:
    if count < 0:
        raise _failure(f"RIGHT with a negative length {count}", text)
    return text[len(text) - count :] if count else ""


def _substring(text: str, position: int, length: int | None = None) -> str:
    """1-based ``position``; negative counts from the end; 0 gives the empty string."""
    if position > len(text) or position < -len(text):
        raise _failure(f"SUBSTRING position {position} is outside {text!r}", "")
    if length is not None and length < 0:
        raise _failure(f"SUBSTRING with a negative length {length}", "")
    if position == 0:
        return ""
    start = position - 1 if position > 0 else len(text) + position
    return text[start:] if length is None else text[start : start + length]


def _concat_ws(delimiter: str, *parts: str) -> str:
    return delimiter.join(parts)


def _concat(*parts: str) -> str:
    return "".join(parts)


FUNCTIONS: dict[str, tuple[Function, ...]] = {
    "LENGTH": (Function(("String",), "Integer", len),),
    "CONCAT": (Function((), "String", _concat, variadic="String"),),
    "CONCAT_WS": (Function(("String",), "String", _concat_ws, variadic="String"),),
    "LOWER": (Function(("String",), "String", str.lower),),
    "UPPER": (Function(("String",), "String", str.upper),),
    "TRIM": (Function(("String",), "String", str.strip),),
    "LEFT": (Function(("String", "Integer"), "String", _left),),
    "RIGHT": (Function(("String", "Integer"), "String", _right),),
    "SUBSTRING": (
        Function(("String", "Integer"), "String", _substring),
        Function(("String", "Integer", "Integer"), "String", _substring),
    ),
    "ABS": (Function(("Integer",), "Integer", _absolute),),
    "INT": (Function(("Integer",), "Integer", to_integer),),
    "BOOL": (Function(("Boolean",), "Boolean", to_boolean),),
    "STRING": (Function(("String",), "String", to_string),),
}


def overload(name: str, arity: int) -> Function | None:
    """The overload of ``name`` a call with ``arity`` arguments dispatches to, if any."""
    return next((f for f in FUNCTIONS.get(name, ()) if f.accepts(arity)), None)


def describe(name: str) -> str:
    """How an error names the arities ``name`` accepts, e.g. ``2 or 3`` or ``1 or more``."""
    arities = [
        f"{len(f.parameters)} or more" if f.variadic else str(len(f.parameters))
        for f in FUNCTIONS[name]
    ]
    return " or ".join(arities)


def names() -> Sequence[str]:
    """Every built-in function name, sorted."""
    return sorted(FUNCTIONS)
