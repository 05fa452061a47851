"""Parse a CESQL v1 expression into a syntax tree (``cesql_nodes``).

Called by ``cesql_evaluating.compile_cesql``. Precedence follows CESQL v1 §3.6, loosest first:
AND / OR / XOR (one level, left to right), comparisons, ``+ -``, ``* / %``, postfix LIKE and IN,
unary NOT and ``-``, then literals, attributes, EXISTS, function calls and parentheses.

Where the spec and SQL read the same text differently, tidal refuses to guess and asks for
parentheses: AND / OR / XOR mixed at one level (``a OR b AND c``), a bare NOT as the left
operand of another operator (``NOT a = b``), and LIKE / IN as an operand of arithmetic or a
comparison (``a + b IN (1)``). Every error names the position and the offending token; all are
``CesqlError`` of kind ``PARSE``, except a call no built-in overload takes (``MISSING_FUNCTION``).

Attribute names are case-insensitive and read in lower case: the spec's ANTLR grammar
(``cesql/CESQLLexer.g4``, ``IDENTIFIER_WITH_NUMBER: [a-zA-Z0-9]+``) and its TCK
(``exists_expression.yaml``: ``EXISTS SOURCE``) accept upper case, and CloudEvents attribute
names are lower case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from tidal._filters.cesql_casting import INT_MAX, INT_MIN
from tidal._filters.cesql_errors import CesqlError, ErrorKind
from tidal._filters.cesql_functions import describe, names, overload
from tidal._filters.cesql_lexing import Kind, Token, syntax_error, tokenize
from tidal._filters.cesql_nodes import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    LOGIC_OPERATORS,
    Attribute,
    Binary,
    Call,
    Exists,
    In,
    Like,
    Literal,
    Node,
    Unary,
)

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9]+")
_FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z_]*")
_ADDITIVE = frozenset({"+", "-"})
_MULTIPLICATIVE = frozenset({"*", "/", "%"})
_OPERAND = "a value, an attribute, EXISTS, a function call or '('"


def parse(expression: str) -> Node:
    """The syntax tree of ``expression``; a ``CesqlError`` if it is not valid CESQL."""
    return _Parser(expression).parse()


class _Parser:
    def __init__(self, expression: str) -> None:
        self._expression = expression
        self._tokens = tokenize(expression)
        self._index = 0

    def parse(self) -> Node:
        node = self._logic()
        self._expect(Kind.END, "an operator or the end of the expression")
        return node

    # -- tokens ------------------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _advance(self) -> Token:
        token = self._peek()
        self._index = min(self._index + 1, len(self._tokens) - 1)
        return token

    def _expect(self, kind: Kind, expected: str) -> Token:
        if self._peek().kind is not kind:
            raise self._unexpected(self._peek(), expected)
        return self._advance()

    def _unexpected(self, token: Token, expected: str) -> CesqlError:
        where = f"at position {token.position}"
        return self._error(f"unexpected {token.describe()} {where}, expected {expected}")

    def _error(self, message: str, kind: ErrorKind = ErrorKind.PARSE) -> CesqlError:
        return syntax_error(self._expression, message, kind)

    # -- binary levels -----------------------------------------------------------------------

    def _logic(self) -> Node:
        left = self._comparison()
        first: Token | None = None
        while self._peek().is_keyword(*LOGIC_OPERATORS):
            token = self._advance()
            first = first or token
            if token.value != first.value:
                raise self._mixed_logic(first, token)
            left = Binary(token.value, left, self._comparison())
        return left

    def _mixed_logic(self, first: Token, token: Token) -> CesqlError:
        return self._error(
            f"{first.value} and {token.value} mixed without parentheses at position "
            f"{token.position}: CESQL evaluates them left to right at equal precedence, SQL "
            "binds AND tighter; add parentheses to say which you mean"
        )

    def _comparison(self) -> Node:
        return self._binary_level(self._additive, COMPARISON_OPERATORS)

    def _additive(self) -> Node:
        return self._binary_level(self._multiplicative, _ADDITIVE)

    def _multiplicative(self) -> Node:
        return self._binary_level(self._postfix, _MULTIPLICATIVE)

    def _binary_level(self, operand: Callable[[], Node], operators: frozenset[str]) -> Node:
        left = operand()
        while self._peek().is_operator(*operators):
            token = self._advance()
            self._check_operand(left, token, is_left=True)
            right = operand()
            self._check_operand(right, token, is_left=False)
            left = Binary(token.value, left, right)
        return left

    def _check_operand(self, node: Node, token: Token, *, is_left: bool) -> None:
        """Reject an unparenthesized operand that the CESQL spec and SQL group differently."""
        if is_left and isinstance(node, Unary) and node.operator == "NOT" and not node.grouped:
            raise self._error(
                f"NOT before {token.text!r} at position {token.position} is ambiguous: CESQL "
                f"binds NOT tighter than {token.text!r}, SQL does not; write NOT (x "
                f"{token.text} y) or (NOT x) {token.text} y"
            )
        arithmetic_or_comparison = token.value in ARITHMETIC_OPERATORS | COMPARISON_OPERATORS
        if arithmetic_or_comparison and isinstance(node, Like | In) and not node.grouped:
            keyword = "LIKE" if isinstance(node, Like) else "IN"
            raise self._error(
                f"{keyword} next to {token.text!r} at position {token.position} is ambiguous: "
                f"CESQL binds {keyword} tighter than {token.text!r}, SQL does not; "
                "add parentheses"
            )

    # -- postfix LIKE / IN -------------------------------------------------------------------

    def _postfix(self) -> Node:
        node = self._unary()
        while True:
            negated = self._peek().is_keyword("NOT") and self._peek(1).is_keyword("LIKE", "IN")
            token = self._peek(1 if negated else 0)
            if not token.is_keyword("LIKE", "IN"):
                return node
            self._check_operand(node, token, is_left=True)
            self._index += 2 if negated else 1
            node = self._like(node, negated) if token.value == "LIKE" else self._in(node, negated)

    def _like(self, operand: Node, negated: bool) -> Like:
        pattern = self._expect(Kind.STRING, "a string literal pattern after LIKE")
        return Like(operand, pattern.value, negated)

    def _in(self, operand: Node, negated: bool) -> In:
        self._expect(Kind.LPAREN, "'(' after IN")
        items = self._expressions()
        self._expect(Kind.RPAREN, "',' or ')' in the IN set")
        return In(operand, items, negated)

    def _expressions(self) -> tuple[Node, ...]:
        items = [self._logic()]
        while self._peek().kind is Kind.COMMA:
            self._advance()
            items.append(self._logic())
        return tuple(items)

    # -- unary and primary -------------------------------------------------------------------

    def _unary(self) -> Node:
        token = self._peek()
        signed_literal = token.is_operator("-", "+") and self._peek(1).kind is Kind.INTEGER
        if signed_literal:
            self._advance()
            return Literal(self._integer(self._advance(), negative=token.value == "-"))
        if token.is_keyword("NOT") or token.is_operator("-"):
            self._advance()
            return Unary(token.value, self._unary())
        return self._primary()

    def _primary(self) -> Node:
        token = self._advance()
        if token.kind is Kind.INTEGER:
            return Literal(self._integer(token, negative=False))
        if token.kind is Kind.STRING:
            return Literal(token.value)
        if token.is_keyword("TRUE", "FALSE"):
            return Literal(token.value == "TRUE")
        if token.is_keyword("EXISTS"):
            return Exists(self._attribute_name(self._expect(Kind.NAME, "an attribute name")))
        if token.kind is Kind.NAME:
            return self._call(token) if self._peek().kind is Kind.LPAREN else self._attribute(token)
        if token.kind is Kind.LPAREN:
            return self._group()
        raise self._unexpected(token, _OPERAND)

    def _integer(self, token: Token, *, negative: bool) -> int:
        number = -int(token.value) if negative else int(token.value)
        if not INT_MIN <= number <= INT_MAX:
            raise self._error(
                f"integer literal {token.text!r} at position {token.position} does not fit in "
                "32 bits"
            )
        return number

    def _attribute(self, token: Token) -> Attribute:
        return Attribute(self._attribute_name(token))

    def _attribute_name(self, token: Token) -> str:
        if not _ATTRIBUTE_NAME.fullmatch(token.value):
            raise self._error(
                f"invalid attribute name {token.text!r} at position {token.position}: "
                "CloudEvents attribute names are letters and digits"
            )
        return token.value.lower()

    def _call(self, token: Token) -> Call:
        name = token.value.upper()
        if not _FUNCTION_NAME.fullmatch(token.value):
            raise self._unexpected(token, _OPERAND)
        self._advance()
        arguments = () if self._peek().kind is Kind.RPAREN else self._expressions()
        self._expect(Kind.RPAREN, f"',' or ')' closing {name}(")
        function = overload(name, len(arguments))
        if function is not None:
            return Call(name, arguments, function.returns)
        where = f"at position {token.position}"
        if name in names():
            arities = describe(name)
            plural = "argument" if arities == "1" else "arguments"
            message = f"{name} {where} takes {arities} {plural}, got {len(arguments)}"
        else:
            message = f"unknown function {token.text!r} {where} (built-ins: {', '.join(names())})"
        raise self._error(message, ErrorKind.MISSING_FUNCTION)

    def _group(self) -> Node:
        node = self._logic()
        self._expect(Kind.RPAREN, "')'")
        if isinstance(node, Unary | Binary | Like | In):
            return replace(node, grouped=True)
        return node
