"""Compiled CESQL v1 expressions: their value and error kind per event, and the filter form.

``Expression`` is the engine's public face (``tidal._filters.Expression``): ``evaluate`` returns
an ``Outcome`` (the value and the ``ErrorKind`` of the error that stopped it, if any), which is
what the CESQL TCK states per case. ``compile_cesql`` is what the ``cesql`` Knative dialect
(``dialects``) calls: a predicate that holds when the expression is Boolean ``TRUE`` without
error (CESQL v1 §1.2). Parse errors and calls to missing functions are compile-time
``CesqlError``; so is a filter expression that can never be a Boolean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidal._filters.cesql_casting import ZERO
from tidal._filters.cesql_errors import ErrorKind, EvaluationError
from tidal._filters.cesql_evaluating import compile_node
from tidal._filters.cesql_lexing import syntax_error
from tidal._filters.cesql_nodes import Attribute, Exists, Node, Value, children, static_type
from tidal._filters.cesql_parsing import parse
from tidal._filters.predicates import Predicate


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an expression evaluated to for one event, and the kind of error that stopped it.

    With an error, ``value`` is the zero value of the expression's type (CESQL v1 §3.3; Boolean
    when only the event can tell, §3.2), or the value the failing built-in defines when the
    expression is that call (``ABS(-2147483648)`` is ``2147483647`` with a ``MATH`` error).
    """

    value: Value
    error: ErrorKind | None = None


class Expression:
    """A parsed CESQL v1 expression; ``CesqlError`` when ``text`` does not compile."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._node = parse(text)
        self._evaluate = compile_node(self._node)
        self.type = static_type(self._node)
        self._zero = ZERO[self.type or "Boolean"]

    @property
    def attributes(self) -> frozenset[str]:
        """The attribute names the expression reads (lower case), ``EXISTS`` included."""
        return frozenset(_names(self._node))

    def evaluate(self, attributes: Mapping[str, Any]) -> Outcome:
        """The value for an event's attributes, with the kind of the error that stopped it."""
        try:
            return Outcome(self._evaluate(attributes))
        except EvaluationError as error:
            if error.origin is self._node and error.result is not None:
                return Outcome(error.result, error.kind)
            return Outcome(self._zero, error.kind)

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """True when the expression is Boolean ``TRUE`` without error: the filter verdict."""
        try:
            return self._evaluate(attributes) is True
        except EvaluationError:
            return False

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _names(node: Node) -> list[str]:
    if isinstance(node, Attribute | Exists):
        return [node.name]
    return [name for child in children(node) for name in _names(child)]


def compile_cesql(text: str) -> Predicate:
    """A predicate that is true when ``text`` evaluates to Boolean ``TRUE`` without error."""
    expression = Expression(text)
    if expression.type not in (None, "Boolean"):
        raise syntax_error(
            text,
            f"the expression yields {expression.type}, a filter needs a Boolean",
            ErrorKind.GENERIC,
        )
    return expression.matches
