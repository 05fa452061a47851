"""The syntax tree of a CESQL expression, with the static type each node yields.

Built by ``cesql_parsing`` and turned into closures by ``cesql_evaluating``; ``static_type``
lets the compiler reject, before any event arrives, an expression that can never be a Boolean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

Value = bool | int | str
"""A CESQL value: Boolean, Integer (32-bit) or String."""

TypeName = TypingLiteral["Boolean", "Integer", "String"]

LOGIC_OPERATORS = frozenset({"AND", "OR", "XOR"})
COMPARISON_OPERATORS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
ARITHMETIC_OPERATORS = frozenset({"+", "-", "*", "/", "%"})


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal Boolean, Integer or String."""

    value: Value


@dataclass(frozen=True, slots=True)
class Attribute:
    """A context attribute or extension, read from the event by its (lowercase) name."""

    name: str


@dataclass(frozen=True, slots=True)
class Exists:
    """``EXISTS name``."""

    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    """``NOT operand`` or ``-operand``; ``grouped`` when written inside parentheses."""

    operator: str
    operand: Node
    grouped: bool = False


@dataclass(frozen=True, slots=True)
class Binary:
    """A logic, comparison or arithmetic operator; ``grouped`` when inside parentheses."""

    operator: str
    left: Node
    right: Node
    grouped: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """``operand [NOT] LIKE 'pattern'``; ``grouped`` when inside parentheses."""

    operand: Node
    pattern: str
    negated: bool
    grouped: bool = False


@dataclass(frozen=True, slots=True)
class In:
    """``operand [NOT] IN (item, ...)``; ``grouped`` when inside parentheses."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool
    grouped: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """A built-in function invocation (names are upper-cased; ``returns`` is its result type)."""

    name: str
    arguments: tuple[Node, ...]
    returns: TypeName


Node = Literal | Attribute | Exists | Unary | Binary | Like | In | Call


def type_of(value: Value) -> TypeName:
    """The CESQL type of a runtime value."""
    if isinstance(value, bool):
        return "Boolean"
    return "Integer" if isinstance(value, int) else "String"


def static_type(node: Node) -> TypeName | None:
    """The type ``node`` always yields, or ``None`` when only the event can tell (attributes)."""
    match node:
        case Literal(value=value):
            return type_of(value)
        case Attribute():
            return None
        case Unary(operator=operator):
            return "Boolean" if operator == "NOT" else "Integer"
        case Binary(operator=operator):
            return "Integer" if operator in ARITHMETIC_OPERATORS else "Boolean"
        case Call(returns=returns):
            return returns
        case _:
            return "Boolean"


def children(node: Node) -> tuple[Node, ...]:
    """The direct subexpressions of ``node``, left to right."""
    match node:
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case Like(operand=operand):
            return (operand,)
        case In(operand=operand, items=items):
            return (operand, *items)
        case Call(arguments=arguments):
            return arguments
        case _:
            return ()
