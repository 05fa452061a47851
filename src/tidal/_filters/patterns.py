"""EventBridge-style content patterns over an event's ``data``.

Called by the app when a handler is registered with a content pattern: ``compile_pattern``
validates the pattern and returns one predicate over the parsed data, run per event.

A pattern mirrors the data: a nested object descends into the field of the same name, a list
holds the matchers for a leaf (any one may match), every key of an object must match, and
``"$or": [pattern, pattern, ...]`` at any level needs one of its patterns to match. As in
EventBridge (and its Event Ruler engine): arrays in the data are flattened, so a leaf matches
when any element matches and a nested object matches when any object element does; only
leaf values (strings, numbers, booleans, null) count for ``exists``; a missing field matches
only ``{"exists": false}``. Data that is not a JSON object matches only the empty pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from tidal._errors import FilterError
from tidal._filters.matchers import ValueTest, compile_operator, equals_any, is_plain
from tidal._filters.predicates import DataPredicate, always, conjunction, disjunction

ObjectTest = Callable[[Mapping[str, Any]], bool]
LeafTest = Callable[[tuple[Any, ...]], bool]

_MISSING: Any = object()
_EMPTY: Mapping[str, Any] = {}


def compile_pattern(pattern: Mapping[str, Any]) -> DataPredicate:
    """One predicate over ``data`` for an EventBridge content ``pattern``."""
    if not isinstance(pattern, Mapping):
        raise FilterError(f"pattern: expected a mapping, got {type(pattern).__name__}")
    if not pattern:
        return always
    test = _compile_object(pattern, "")

    def matches(data: Any) -> bool:
        return isinstance(data, Mapping) and test(data)

    return matches


def _compile_object(pattern: Mapping[str, Any], path: str) -> ObjectTest:
    tests: list[ObjectTest] = []
    for key, spec in pattern.items():
        if not isinstance(key, str):
            raise FilterError(f"{path or 'pattern'}: field names must be strings, got {key!r}")
        child = f"{path}.{key}" if path else key
        tests.append(_compile_field(key, spec, child))
    return conjunction(tests)


def _compile_field(key: str, spec: object, path: str) -> ObjectTest:
    if key == "$or":
        return _compile_or(spec, path)
    if isinstance(spec, Mapping):
        if not spec:
            raise FilterError(f"{path}: an empty nested pattern is not allowed")
        _refuse_misplaced_operator(key, spec, path)
        return _descend(key, _compile_object(spec, path))
    if isinstance(spec, list):
        return _leaf(key, compile_leaf(spec, path))
    raise FilterError(
        f"{path}: expected a list of matchers or a nested pattern, got {type(spec).__name__} "
        f"{spec!r} (write [{spec!r}] to match the value)"
    )


def _refuse_misplaced_operator(key: str, spec: Mapping[str, Any], path: str) -> None:
    """Refuse ``"total": {"numeric": [">", 1]}``: a nested pattern whose one field is named
    after an operator and holds a valid operand for it is an operator missing its list; read
    as written it needs a field ``total.numeric`` and silently never matches (issue 18)."""
    if len(spec) != 1:
        return
    [(name, operand)] = spec.items()
    try:
        if name == "exists":
            _exists_operand(operand, path)
        else:
            compile_operator(spec, path)
    except FilterError:
        return  # not a valid use of that operator: a field that happens to share its name
    raise FilterError(
        f"{path}: {dict(spec)!r} is a nested pattern for a field named {name!r}, which never "
        f"matches unless the data has {path}.{name}; to apply the {name} operator to {key!r} "
        f"put it in the list of matchers: {{{key!r}: [{dict(spec)!r}]}}"
    )


def _compile_or(spec: object, path: str) -> ObjectTest:
    items: list[Any] = spec if isinstance(spec, list) else []
    if len(items) < 2 or not all(isinstance(item, Mapping) and item for item in items):
        raise FilterError(f"{path}: expected a list of at least two non-empty patterns")
    parent = path.removesuffix("$or")
    return disjunction([_compile_object(item, f"{parent}$or[{i}]") for i, item in enumerate(items)])


def _descend(key: str, test: ObjectTest) -> ObjectTest:
    def matches(obj: Mapping[str, Any]) -> bool:
        value = obj.get(key)
        if isinstance(value, Mapping):
            return test(value)
        if isinstance(value, list):
            objects = [item for item in _flatten(value) if isinstance(item, Mapping)]
            return any(test(item) for item in objects) if objects else test(_EMPTY)
        return test(_EMPTY)

    return matches


def _leaf(key: str, test: LeafTest) -> ObjectTest:
    def matches(obj: Mapping[str, Any]) -> bool:
        return test(_leaf_values(obj.get(key, _MISSING)))

    return matches


def _leaf_values(value: Any) -> tuple[Any, ...]:
    """The leaf values a field holds: none when missing or an object; array elements flattened."""
    if value is _MISSING or isinstance(value, Mapping):
        return ()
    if isinstance(value, list):
        return tuple(item for item in _flatten(value) if not isinstance(item, Mapping))
    return (value,)


def _flatten(values: list[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from _flatten(value)
        else:
            yield value


def compile_leaf(matchers: Sequence[Any], path: str) -> LeafTest:
    """The test for ``"field": [matcher, ...]``: true when any matcher matches any leaf value."""
    if not matchers:
        raise FilterError(f"{path}: an empty matcher list can never match")
    plain = [matcher for matcher in matchers if is_plain(matcher)]
    tests: list[ValueTest] = [equals_any(plain)] if plain else []
    exists: set[bool] = set()
    for matcher in matchers:
        if isinstance(matcher, Mapping) and list(matcher) == ["exists"]:
            exists.add(_exists_operand(matcher["exists"], path))
        elif isinstance(matcher, Mapping):
            tests.append(compile_operator(matcher, path))
        elif not is_plain(matcher):
            raise FilterError(f"{path}: unsupported matcher {matcher!r}")
    return _leaf_test(disjunction(tests) if tests else None, exists)


def _exists_operand(operand: object, path: str) -> bool:
    if not isinstance(operand, bool):
        raise FilterError(f"{path}: exists expects true or false, got {operand!r}")
    return operand


def _leaf_test(test: ValueTest | None, exists: set[bool]) -> LeafTest:
    when_absent = False in exists
    when_present = True in exists

    def matches(values: tuple[Any, ...]) -> bool:
        if not values:
            return when_absent
        if when_present:
            return True
        return test is not None and any(test(value) for value in values)

    return matches
