"""Compile the leaves of an EventBridge content pattern: one list of matchers per field.

Called by ``patterns`` for every ``"field": [matcher, ...]``. A plain value matches by equality
(numbers never equal strings, booleans never equal numbers); an operator object is one of
prefix, suffix, equals-ignore-case, wildcard, anything-but, exactly, numeric, cidr or exists.
Errors name the field path, as in ``detail.price: numeric ...``.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidal._errors import FilterError
from tidal._filters.predicates import disjunction, negation

ValueTest = Callable[[Any], bool]
"""Decides on one leaf value of the event data (a string, number, boolean or None)."""

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}


def is_number(value: object) -> bool:
    """A JSON number: int or float, but not bool (which Python counts as int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_plain(value: object) -> bool:
    """A value a pattern may match by equality: string, finite number, boolean or null."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int)


def equals_any(values: Sequence[Any]) -> ValueTest:
    """Equality with any of ``values``, keeping strings, numbers, booleans and null apart."""
    strings = frozenset(value for value in values if isinstance(value, str))
    numbers = frozenset(value for value in values if is_number(value))
    booleans = frozenset(value for value in values if isinstance(value, bool))
    null = any(value is None for value in values)

    def test(value: Any) -> bool:
        if isinstance(value, str):
            return value in strings
        if isinstance(value, bool):
            return value in booleans
        if value is None:
            return null
        return is_number(value) and value in numbers

    return test


def compile_operator(spec: Mapping[str, Any], path: str) -> ValueTest:
    """The test for one operator object such as ``{"prefix": "a"}`` (not ``exists``)."""
    if len(spec) != 1:
        raise FilterError(f"{path}: an operator object takes exactly one key, got {list(spec)}")
    [(name, operand)] = spec.items()
    compiler = _OPERATORS.get(name)
    if compiler is None:
        known = ", ".join(sorted([*_OPERATORS, "exists"]))
        raise FilterError(f"{path}: unknown operator {name!r} (known: {known})")
    return compiler(operand, f"{path}: {name}")


def _string_operand(operand: object, where: str) -> str:
    if not isinstance(operand, str):
        raise FilterError(f"{where} expects a string, got {operand!r}")
    return operand


def _strings_only(test: Callable[[str], bool]) -> ValueTest:
    return lambda value: isinstance(value, str) and test(value)


def _affix(operand: object, where: str, *, at_start: bool) -> ValueTest:
    if isinstance(operand, Mapping) and list(operand) == ["equals-ignore-case"]:
        folded = _string_operand(operand["equals-ignore-case"], f"{where} equals-ignore-case")
        folded = folded.casefold()
        if at_start:
            return _strings_only(lambda value: value.casefold().startswith(folded))
        return _strings_only(lambda value: value.casefold().endswith(folded))
    text = _string_operand(operand, where)
    if at_start:
        return _strings_only(lambda value: value.startswith(text))
    return _strings_only(lambda value: value.endswith(text))


def _prefix(operand: object, where: str) -> ValueTest:
    return _affix(operand, where, at_start=True)


def _suffix(operand: object, where: str) -> ValueTest:
    return _affix(operand, where, at_start=False)


def _equals_ignore_case(operand: object, where: str) -> ValueTest:
    folded = _string_operand(operand, where).casefold()
    return _strings_only(lambda value: value.casefold() == folded)


def _wildcard(operand: object, where: str) -> ValueTest:
    regex = _wildcard_regex(_string_operand(operand, where), where)
    return _strings_only(lambda value: regex.fullmatch(value) is not None)


def _one_or_many(compile_one: Callable[[Any, str], ValueTest]) -> Callable[[Any, str], ValueTest]:
    """Accept a single operand or a non-empty list of them (inside ``anything-but``)."""

    def compile_any(operand: object, where: str) -> ValueTest:
        if isinstance(operand, list) and operand:
            return disjunction([compile_one(item, where) for item in operand])
        return compile_one(operand, where)

    return compile_any


def _wildcard_regex(pattern: str, where: str) -> re.Pattern[str]:
    """``*`` matches any run; ``\\*`` and ``\\\\`` are a literal star and backslash."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped not in ("*", "\\"):
                raise FilterError(f"{where} {pattern!r}: a backslash may only escape * or \\")
            parts.append(re.escape(escaped))
            index += 2
            continue
        if char == "*" and pattern.startswith("*", index + 1):
            raise FilterError(f"{where} {pattern!r}: consecutive wildcards are not allowed")
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _anything_but(operand: object, where: str) -> ValueTest:
    """Any present value except the excluded ones (EventBridge: never a missing field)."""
    if isinstance(operand, Mapping):
        return negation(_anything_but_operator(operand, where))
    values = operand if isinstance(operand, list) else [operand]
    all_strings = all(isinstance(value, str) for value in values)
    all_numbers = all(is_number(value) and is_plain(value) for value in values)
    if not values or not (all_strings or all_numbers):
        raise FilterError(
            f"{where} expects a string, a number, or a non-empty list of only strings or only "
            f"numbers, got {operand!r}"
        )
    return negation(equals_any(values))


def _non_empty_affix(
    compile_one: Callable[[Any, str], ValueTest],
) -> Callable[[Any, str], ValueTest]:
    """``anything-but`` prefix / suffix: a non-empty string or a non-empty list of them (an
    empty one would exclude every string: event-ruler refuses it, JsonRuleCompilerTest.java
    "anything-but": {"prefix": ""} and its "no empty string" list cases)."""

    def compile_any(operand: object, where: str) -> ValueTest:
        items = operand if isinstance(operand, list) and operand else [operand]
        for item in items:
            if not isinstance(item, str):
                raise FilterError(f"{where} expects a string or a list of strings, got {operand!r}")
            if not item:
                raise FilterError(f"{where}: an empty string would exclude every value")
        return disjunction([compile_one(item, where) for item in items])

    return compile_any


def _anything_but_operator(operand: Mapping[str, Any], where: str) -> ValueTest:
    if len(operand) != 1 or next(iter(operand)) not in _NEGATABLE:
        allowed = ", ".join(_NEGATABLE)
        raise FilterError(f"{where} takes one of {allowed} as an object, got {operand!r}")
    [(name, inner)] = operand.items()
    return _NEGATABLE[name](inner, f"{where} {name}")


def _numeric(operand: object, where: str) -> ValueTest:
    """One comparison, or a range: a lower bound (> or >=) then an upper bound (< or <=)."""
    pairs = _numeric_pairs(operand, where)
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in (">", ">=") or high_op not in ("<", "<=") or not low < high:
            raise FilterError(
                f"{where} range must be a lower bound (> or >=) then a greater upper bound "
                f"(< or <=), got {operand!r}"
            )
    tests = tuple((_COMPARISONS[op], bound) for op, bound in pairs)
    return lambda value: is_number(value) and all(test(value, bound) for test, bound in tests)


def _numeric_pairs(operand: object, where: str) -> list[tuple[str, float]]:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise FilterError(
            f"{where} expects [op, number] or [op, number, op, number], got {operand!r}"
        )
    pairs = list(zip(operand[::2], operand[1::2], strict=True))
    for op, bound in pairs:
        if op not in _COMPARISONS or not is_number(bound) or not is_plain(bound):
            raise FilterError(
                f"{where} expects operators among {', '.join(_COMPARISONS)} each followed by a "
                f"finite number, got {operand!r}"
            )
    return [(op, float(bound)) for op, bound in pairs]


def _cidr(operand: object, where: str) -> ValueTest:
    text = _string_operand(operand, where)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise FilterError(f"{where} {text!r} is not an IPv4 or IPv6 CIDR block") from exc
    return _strings_only(lambda value: _address_in(value, network))


def _address_in(text: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(text) in network
    except ValueError:
        return False


def _exactly(operand: object, where: str) -> ValueTest:
    """Event Ruler's ``{"exactly": "text"}``: string equality, as a plain string matcher."""
    text = _string_operand(operand, where)
    return _strings_only(lambda value: value == text)


_NEGATABLE: dict[str, Callable[[Any, str], ValueTest]] = {
    "prefix": _non_empty_affix(_prefix),
    "suffix": _non_empty_affix(_suffix),
    "equals-ignore-case": _one_or_many(_equals_ignore_case),
    "wildcard": _one_or_many(_wildcard),
}

_OPERATORS: dict[str, Callable[[Any, str], ValueTest]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "anything-but": _anything_but,
    "exactly": _exactly,
    "numeric": _numeric,
    "cidr": _cidr,
}
