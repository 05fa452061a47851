"""The CESQL v1 error types (spec §3.3) as kinds, and the two exceptions that carry them.

``CesqlError`` is a compile-time ``FilterError`` (parse errors, calls to functions that do not
exist): raised by ``cesql_lexing`` / ``cesql_parsing`` when a filter is registered.
``EvaluationError`` is raised at match time by ``cesql_casting``, ``cesql_functions`` and
``cesql_evaluating``; the compiled expression turns it into a value and an ``ErrorKind``. The
kinds' values are the names the CESQL TCK uses (``cesql/cesql_tck/README.md``).
"""

from __future__ import annotations

from enum import StrEnum

from tidal._errors import FilterError
from tidal._filters.cesql_nodes import Node, Value


class ErrorKind(StrEnum):
    """One of the error types every CESQL engine MUST support (CESQL v1 §3.3)."""

    PARSE = "parse"
    MATH = "math"
    CAST = "cast"
    MISSING_ATTRIBUTE = "missingAttribute"
    MISSING_FUNCTION = "missingFunction"
    FUNCTION_EVALUATION = "functionEvaluation"
    GENERIC = "generic"


class CesqlError(FilterError):
    """An expression that cannot compile; ``kind`` is ``PARSE`` or ``MISSING_FUNCTION``."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.PARSE) -> None:
        super().__init__(message)
        self.kind = kind


class EvaluationError(Exception):
    """A CESQL runtime error of ``kind``.

    ``result`` is the value the raising function defines for the error (``LEFT('abc', -2)`` is
    ``'abc'``, CESQL v1 §3.5.1) and ``origin`` the call node that raised it; ``None`` when the
    failing subexpression yields its zero value (§3.3).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        result: Value | None = None,
        origin: Node | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.result = result
        self.origin = origin
