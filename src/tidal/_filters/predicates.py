"""Predicate types and the combinators that join compiled filters.

Called by the Knative dialects (``dialects``) and the content patterns (``patterns``) to build
one closure per subscription; the transports call the resulting closures once per event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

Predicate = Callable[[Mapping[str, Any]], bool]
"""Decides on an event's attributes mapping (``event.get_attributes()``)."""

DataPredicate = Callable[[Any], bool]
"""Decides on an event's data: parsed JSON (dict, list, str, number, None) or bytes."""

Subject = TypeVar("Subject")


def always(_subject: object) -> bool:
    """Match everything: the compiled form of an empty filter list or an empty pattern."""
    return True


def conjunction(tests: Sequence[Callable[[Subject], bool]]) -> Callable[[Subject], bool]:
    """One predicate that holds when every one of ``tests`` holds (true when there are none)."""
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def every(subject: Subject) -> bool:
        return all(test(subject) for test in frozen)

    return every


def disjunction(tests: Sequence[Callable[[Subject], bool]]) -> Callable[[Subject], bool]:
    """One predicate that holds when at least one of ``tests`` holds."""
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def some(subject: Subject) -> bool:
        return any(test(subject) for test in frozen)

    return some


def negation(test: Callable[[Subject], bool]) -> Callable[[Subject], bool]:
    """The predicate that holds exactly when ``test`` does not."""

    def inverted(subject: Subject) -> bool:
        return not test(subject)

    return inverted
