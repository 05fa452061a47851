"""Split a CESQL v1 expression into tokens, each with its 1-based position.

Called by ``cesql_parsing``; raises a ``CesqlError`` of kind ``PARSE`` (via ``syntax_error``)
for characters the language does not have and for unterminated string literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tidal._filters.cesql_errors import CesqlError, ErrorKind

KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})
_OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">", "+", "-", "*", "/", "%")
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}
_WORD = re.compile(r"[A-Za-z0-9_]+")
_DIGITS = re.compile(r"[0-9]+")


class Kind(StrEnum):
    """What a token is."""

    INTEGER = "INTEGER"
    STRING = "STRING"
    NAME = "NAME"
    KEYWORD = "KEYWORD"
    OPERATOR = "OPERATOR"
    LPAREN = "LPAREN"
    RPAREN = "RPAREN"
    COMMA = "COMMA"
    END = "END"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` as written, ``value`` decoded (keywords upper-cased, quotes removed)."""

    kind: Kind
    text: str
    value: str
    position: int

    def describe(self) -> str:
        """How error messages name this token."""
        return "end of expression" if self.kind is Kind.END else repr(self.text)

    def is_keyword(self, *words: str) -> bool:
        """Whether this token is one of the keywords ``words``."""
        return self.kind is Kind.KEYWORD and self.value in words

    def is_operator(self, *symbols: str) -> bool:
        """Whether this token is one of the operators ``symbols``."""
        return self.kind is Kind.OPERATOR and self.value in symbols


def syntax_error(expression: str, message: str, kind: ErrorKind = ErrorKind.PARSE) -> CesqlError:
    """A ``CesqlError`` that quotes ``expression`` before saying what is wrong with it."""
    return CesqlError(f'cesql expression "{expression}": {message}', kind)


def tokenize(expression: str) -> list[Token]:
    """Every token of ``expression``, ending with an ``END`` token."""
    tokens: list[Token] = []
    index = 0
    while index < len(expression):
        if expression[index].isspace():
            index += 1
            continue
        token = _read_token(expression, index)
        tokens.append(token)
        index += len(token.text)
    tokens.append(Token(Kind.END, "", "", len(expression) + 1))
    return tokens


def _read_token(expression: str, index: int) -> Token:
    char = expression[index]
    if char in "'\"":
        return _read_string(expression, index)
    if char in _PUNCTUATION:
        return Token(Kind(_PUNCTUATION[char]), char, char, index + 1)
    word = _WORD.match(expression, index)
    if word:
        return _classify_word(word.group(), index)
    for symbol in _OPERATORS:
        if expression.startswith(symbol, index):
            return Token(Kind.OPERATOR, symbol, symbol, index + 1)
    raise syntax_error(expression, f"unexpected character {char!r} at position {index + 1}")


def _classify_word(word: str, index: int) -> Token:
    if _DIGITS.fullmatch(word):
        return Token(Kind.INTEGER, word, word, index + 1)
    if word.upper() in KEYWORDS:
        return Token(Kind.KEYWORD, word, word.upper(), index + 1)
    return Token(Kind.NAME, word, word, index + 1)


def _read_string(expression: str, start: int) -> Token:
    quote = expression[start]
    chars: list[str] = []
    index = start + 1
    while index < len(expression):
        char = expression[index]
        if char == "\\" and expression.startswith(quote, index + 1):
            chars.append(quote)
            index += 2
            continue
        if char == quote:
            text = expression[start : index + 1]
            return Token(Kind.STRING, text, "".join(chars), start + 1)
        chars.append(char)
        index += 1
    raise syntax_error(expression, f"unterminated string literal starting at position {start + 1}")
