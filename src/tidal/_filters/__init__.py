"""Subscription filters: Knative attribute dialects (incl. CESQL) and EventBridge content patterns.

``compile_filters`` turns a Knative Trigger ``filters`` list into a predicate over an event's
attributes; ``compile_pattern`` turns an EventBridge content pattern into a predicate over its
data. Both validate everything up front (a ``tidal._errors.FilterError`` names what is wrong)
and never raise at match time. ``Expression`` evaluates one CESQL v1 expression to a value and
an ``ErrorKind`` (what the CESQL TCK checks). The builders return the plain dict forms, for
example ``app.on(filters=[prefix(type="com.acme.")])``.
"""

from tidal._filters.cesql_errors import CesqlError, ErrorKind
from tidal._filters.cesql_expressions import Expression, Outcome
from tidal._filters.dialects import (
    all_of,
    any_of,
    cesql,
    compile_filters,
    exact,
    not_,
    prefix,
    suffix,
)
from tidal._filters.patterns import compile_pattern
from tidal._filters.predicates import DataPredicate, Predicate

__all__ = [
    "CesqlError",
    "DataPredicate",
    "ErrorKind",
    "Expression",
    "Outcome",
    "Predicate",
    "all_of",
    "any_of",
    "cesql",
    "compile_filters",
    "compile_pattern",
    "exact",
    "not_",
    "prefix",
    "suffix",
]
