"""The attribute names a filter may name without a warning, and the names a filter list names.

Called by `tidal._app` when a subscription is registered: a Knative filter (``exact`` / ``prefix``
/ ``suffix`` or a CESQL expression) that names an attribute outside ``KNOWN`` and outside what
the App declares compiles, but draws a ``FilterWarning``. Naming any attribute is legal (CESQL
v1 §3.2: "Each CloudEvent context attribute and extension MUST be addressable"; an absent one
is a MissingAttributeError and the filter does not pass, §1.2), so a typo such as
``cesql("tyep = 'x'")`` would otherwise silently never match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from tidal._filters.cesql_expressions import Expression

CONTEXT_ATTRIBUTES: Final = frozenset(
    {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"}
)
"""CloudEvents 1.0 context attributes (cloudevents/spec cloudevents/spec.md §3.1)."""

DOCUMENTED_EXTENSIONS: Final = frozenset(
    {
        # cloudevents/spec cloudevents/extensions/*.md (commit c2845a4)
        "authtype", "authid", "authclaims",  # authcontext.md
        "bamtxid", "bampid", "bamptxid", "bamptxsid", "bamptxsstatus", "bamptxcompleted",  # bam.md
        "correlationid", "causationid",  # correlation.md
        "dataclassification", "dataregulation", "datacategory",  # data-classification.md
        "dataref",  # dataref.md
        "deprecated", "deprecationfrom", "deprecationsunset", "deprecationmigration",
        "traceparent", "tracestate",  # distributed-tracing.md
        "expirytime",  # expirytime.md
        "opcuametadatamajorversion",  # opcua.md
        "partitionkey",  # partitioning.md
        "recordedtime",  # recordedtime.md
        "sampledrate",  # sampledrate.md
        "sequence",  # sequence.md
        "severitytext", "severitynumber",  # severity.md
        # knative/eventing: pkg/broker/ttl.go:32, pkg/broker/metrics.go:24,
        # pkg/kncloudevents/attributes/knative_error.go:27-29
        "knativebrokerttl", "knativearrivaltime",
        "knativeerrordest", "knativeerrorcode", "knativeerrordata",
    }
)  # fmt: skip

KNOWN: Final = CONTEXT_ATTRIBUTES | DOCUMENTED_EXTENSIONS


def referenced_attributes(filters: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    """Every attribute name a compiled (valid) Knative ``filters`` list reads, in order."""
    for flt in filters:
        for dialect, value in flt.items():
            if dialect in ("exact", "prefix", "suffix"):
                yield from value
            elif dialect in ("all", "any"):
                yield from referenced_attributes(value)
            elif dialect == "not":
                yield from referenced_attributes([value])
            elif dialect == "cesql":
                yield from sorted(Expression(value).attributes)
