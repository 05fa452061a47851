"""Compile a CESQL syntax tree into a closure over an event's attributes.

Called by ``cesql_expressions`` once per expression; what is left per event is a tree of small
closures. A runtime error (a missing attribute, a failed cast, division by zero, a function
that fails) raises ``EvaluationError`` with its kind and stops the evaluation: the spec's
fail-fast mode (CESQL v1 §4.1), which §1.2 recommends for filters.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from tidal._filters.cesql_casting import (
    CASTS,
    attribute_value,
    checked,
    divide,
    remainder,
    to_boolean,
    to_integer,
    to_string,
)
from tidal._filters.cesql_errors import CesqlError, ErrorKind, EvaluationError
from tidal._filters.cesql_functions import overload
from tidal._filters.cesql_nodes import (
    Attribute,
    Binary,
    Call,
    Exists,
    In,
    Like,
    Literal,
    Node,
    TypeName,
    Unary,
    Value,
    type_of,
)

Evaluator = Callable[[Mapping[str, Any]], Value]

_ORDERINGS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": divide,
    "%": remainder,
}


def compile_node(node: Node) -> Evaluator:
    """The closure that computes ``node`` from an attributes mapping."""
    match node:
        case Literal(value=value):
            return lambda _attributes: value
        case Attribute(name=name):
            return _attribute(name)
        case Exists(name=name):
            return lambda attributes: attributes.get(name) is not None
        case Unary():
            return _unary(node)
        case Binary():
            return _binary(node)
        case Like():
            return _like(node)
        case In():
            return _in(node)
        case Call():
            return _call(node)
    raise CesqlError(f"cesql: cannot compile {node!r}")  # pragma: no cover - exhaustive


def _attribute(name: str) -> Evaluator:
    def read(attributes: Mapping[str, Any]) -> Value:
        raw = attributes.get(name)
        if raw is None:
            raise EvaluationError(ErrorKind.MISSING_ATTRIBUTE, f"missing attribute {name}")
        return raw if type(raw) is str else attribute_value(raw)

    return read


def _unary(node: Unary) -> Evaluator:
    operand = compile_node(node.operand)
    if node.operator == "NOT":
        return lambda attributes: not to_boolean(operand(attributes))
    return lambda attributes: checked(-to_integer(operand(attributes)))


def _binary(node: Binary) -> Evaluator:
    if node.operator in ("AND", "OR", "XOR"):
        return _logic(node)
    if node.operator in ("=", "!=", "<>"):
        return _equality(node)
    left, right = compile_node(node.left), compile_node(node.right)
    if node.operator in _ORDERINGS:
        order = _ORDERINGS[node.operator]
        return lambda attributes: order(to_integer(left(attributes)), to_integer(right(attributes)))
    arithmetic = _ARITHMETIC[node.operator]
    return lambda attributes: checked(
        arithmetic(to_integer(left(attributes)), to_integer(right(attributes)))
    )


def _logic(node: Binary) -> Evaluator:
    left, right = compile_node(node.left), compile_node(node.right)
    if node.operator == "AND":
        return lambda attributes: to_boolean(left(attributes)) and to_boolean(right(attributes))
    if node.operator == "OR":
        return lambda attributes: to_boolean(left(attributes)) or to_boolean(right(attributes))
    return lambda attributes: to_boolean(left(attributes)) != to_boolean(right(attributes))


def _equality(node: Binary) -> Evaluator:
    """``x = y`` casts ``x`` to the type of ``y`` (CESQL v1 §3.7, ambiguous operators)."""
    left, right = compile_node(node.left), compile_node(node.right)
    negated = node.operator != "="
    if isinstance(node.right, Literal):
        expected, cast = node.right.value, CASTS[type_of(node.right.value)]
        return lambda attributes: (cast(left(attributes)) == expected) != negated

    def compare(attributes: Mapping[str, Any]) -> bool:
        value, other = left(attributes), right(attributes)
        return (CASTS[type_of(other)](value) == other) != negated

    return compare


def _like(node: Like) -> Evaluator:
    operand, pattern, negated = compile_node(node.operand), like_regex(node.pattern), node.negated

    def like(attributes: Mapping[str, Any]) -> bool:
        found = pattern.fullmatch(to_string(operand(attributes))) is not None
        return found != negated

    return like


def like_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a LIKE pattern: ``%`` any run, ``_`` one character, ``\\`` escapes them."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and pattern[index + 1 : index + 2] in ("%", "_", "\\"):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _in(node: In) -> Evaluator:
    """``x IN (...)`` casts every item to the type of ``x``; any failed cast is an error."""
    operand, negated = compile_node(node.operand), node.negated
    if all(isinstance(item, Literal) for item in node.items):
        sets = _literal_sets(node.items)

        def lookup(attributes: Mapping[str, Any]) -> bool:
            value = operand(attributes)
            return (value in _castable(sets[type_of(value)])) != negated

        return lookup
    items = tuple(compile_node(item) for item in node.items)

    def scan(attributes: Mapping[str, Any]) -> bool:
        value = operand(attributes)
        cast = CASTS[type_of(value)]
        return (value in [cast(item(attributes)) for item in items]) != negated

    return scan


def _literal_sets(items: tuple[Node, ...]) -> dict[TypeName, frozenset[Value] | None]:
    """Each literal item cast to each type up front; ``None`` where some item cannot be cast."""
    values = [item.value for item in items if isinstance(item, Literal)]
    sets: dict[TypeName, frozenset[Value] | None] = {}
    for name, cast in CASTS.items():
        try:
            sets[name] = frozenset(cast(value) for value in values)
        except EvaluationError:
            sets[name] = None
    return sets


def _castable(values: frozenset[Value] | None) -> frozenset[Value]:
    if values is None:
        raise EvaluationError(
            ErrorKind.CAST, "an IN item cannot be cast to the type of the left operand"
        )
    return values


def _call(node: Call) -> Evaluator:
    """Each argument cast to its parameter type, then the body; a failure the body raises is
    tagged with this call, so the caller can report the value the function defines for it."""
    function = overload(node.name, len(node.arguments))
    if function is None:  # pragma: no cover - the parser only builds calls that dispatch
        raise CesqlError(f"cesql: no overload of {node.name}", ErrorKind.MISSING_FUNCTION)
    body = function.body
    pairs = tuple(
        zip(function.casts(len(node.arguments)), map(compile_node, node.arguments), strict=True)
    )

    def call(attributes: Mapping[str, Any]) -> Value:
        values = [cast(argument(attributes)) for cast, argument in pairs]
        try:
            return body(*values)
        except EvaluationError as error:
            error.origin = node
            raise

    return call
