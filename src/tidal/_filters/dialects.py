"""Knative Trigger ``filters`` (the CloudEvents Subscriptions API dialects) over attributes.

Called by the app when a handler is registered with ``filters=[...]``: ``compile_filters``
validates the list the way the Knative webhook does and returns one predicate, which the
dispatcher calls per event. Also holds the builder helpers (``exact``, ``prefix``, ...) that
return the plain dict forms, so the same filters can be written in Python or copied from YAML.

Dialects: ``exact`` / ``prefix`` / ``suffix`` (one or more attributes, each with a non-empty
string value, all of which must match: Knative accepts several, trigger_validation_test.go
"valid exact filter containing more than one attribute"), ``all`` / ``any`` (a non-empty list
of filters), ``not`` (one filter), ``cesql`` (an expression). Non-string attribute values are
compared in their string form; ``time`` as the text the event carried (``rendering``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidal._errors import FilterError
from tidal._filters.cesql_errors import CesqlError
from tidal._filters.cesql_expressions import compile_cesql
from tidal._filters.predicates import Predicate, always, conjunction, disjunction, negation
from tidal._filters.rendering import attribute_text

DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")  # the Knative webhook's rule

StringTest = Callable[[str, str], bool]
_STRING_TESTS: dict[str, StringTest] = {
    "exact": str.__eq__,
    "prefix": str.startswith,
    "suffix": str.endswith,
}


def compile_filters(filters: Sequence[Mapping[str, Any]]) -> Predicate:
    """One predicate for a Subscriptions API ``filters`` list: every filter must match."""
    if isinstance(filters, str | bytes | Mapping) or not isinstance(filters, Sequence):
        raise FilterError(f"filters: expected a list of filters, got {type(filters).__name__}")
    return conjunction(
        [_compile(flt, f"filters[{i}]") for i, flt in enumerate(filters)] or [always]
    )


def _compile(flt: object, path: str) -> Predicate:
    if not isinstance(flt, Mapping):
        raise FilterError(f"{path}: expected a mapping with one dialect, got {type(flt).__name__}")
    unknown = [key for key in flt if key not in DIALECTS]
    if unknown:
        raise FilterError(f"{path}: unknown dialect {unknown[0]!r} (known: {', '.join(DIALECTS)})")
    if len(flt) != 1:
        found = ", ".join(flt) or "none"
        raise FilterError(f"{path}: a filter takes exactly one dialect, found {found}")
    [(dialect, value)] = flt.items()
    return _COMPILERS[dialect](dialect, value, f"{path}.{dialect}")


def _string_match(dialect: str, value: object, path: str) -> Predicate:
    if not isinstance(value, Mapping) or not value:
        raise FilterError(
            f"{path}: expected a mapping of one or more attribute names to values, got {value!r}"
        )
    tests = []
    for name, expected in value.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise FilterError(
                f"{path}: invalid attribute name {name!r}: lowercase letters and digits, "
                "starting with a letter"
            )
        if not isinstance(expected, str) or not expected:
            raise FilterError(
                f"{path}.{name}: the value must be a non-empty string, got {expected!r}"
            )
        tests.append(_attribute_test(name, expected, _STRING_TESTS[dialect]))
    return conjunction(tests)


def _attribute_test(name: str, expected: str, test: StringTest) -> Predicate:
    def matches(attributes: Mapping[str, Any]) -> bool:
        value = attributes.get(name)
        if value is None:
            return False
        return test(value if type(value) is str else attribute_text(value), expected)

    return matches


def _nested_list(dialect: str, value: object, path: str) -> Predicate:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
        raise FilterError(f"{path}: expected a non-empty list of filters, got {value!r}")
    nested = [_compile(flt, f"{path}[{i}]") for i, flt in enumerate(value)]
    return conjunction(nested) if dialect == "all" else disjunction(nested)


def _not(_dialect: str, value: object, path: str) -> Predicate:
    return negation(_compile(value, path))


def _cesql(_dialect: str, value: object, path: str) -> Predicate:
    if not isinstance(value, str) or not value.strip():
        raise FilterError(f"{path}: expected a non-empty CESQL expression, got {value!r}")
    try:
        return compile_cesql(value)
    except CesqlError as exc:
        raise CesqlError(f"{path}: {exc}", exc.kind) from exc


_COMPILERS: dict[str, Callable[[str, object, str], Predicate]] = {
    "exact": _string_match,
    "prefix": _string_match,
    "suffix": _string_match,
    "all": _nested_list,
    "any": _nested_list,
    "not": _not,
    "cesql": _cesql,
}


# -- builders: the plain dict forms ------------------------------------------------------------


def _one_per_attribute(dialect: str, attributes: Mapping[str, str]) -> dict[str, Any]:
    if not attributes:
        raise FilterError(f"{dialect}() needs at least one attribute, e.g. type='com.acme.x'")
    forms = [{dialect: {name: value}} for name, value in attributes.items()]
    return forms[0] if len(forms) == 1 else {"all": forms}


def exact(**attributes: str) -> dict[str, Any]:
    """``{"exact": {name: value}}``; several attributes become ``all`` of one-attribute filters."""
    return _one_per_attribute("exact", attributes)


def prefix(**attributes: str) -> dict[str, Any]:
    """``{"prefix": {name: value}}``; several attributes become ``all`` of one-attribute filters."""
    return _one_per_attribute("prefix", attributes)


def suffix(**attributes: str) -> dict[str, Any]:
    """``{"suffix": {name: value}}``; several attributes become ``all`` of one-attribute filters."""
    return _one_per_attribute("suffix", attributes)


def all_of(*filters: Mapping[str, Any]) -> dict[str, Any]:
    """``{"all": [...]}``: every filter must match."""
    return {"all": [dict(flt) for flt in filters]}


def any_of(*filters: Mapping[str, Any]) -> dict[str, Any]:
    """``{"any": [...]}``: at least one filter must match."""
    return {"any": [dict(flt) for flt in filters]}


def not_(flt: Mapping[str, Any]) -> dict[str, Any]:
    """``{"not": {...}}``: the filter must not match."""
    return {"not": dict(flt)}


def cesql(expression: str) -> dict[str, Any]:
    """``{"cesql": expression}``: a CloudEvents SQL expression must evaluate to TRUE."""
    return {"cesql": expression}
