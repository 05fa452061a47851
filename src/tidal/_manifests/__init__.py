"""Kubernetes objects derived from an App: Knative Triggers, KEDA ScaledObjects, chart values.

`tidal manifests module:app` (`tidal.cli._manifests`) prints them; the chart's committed values for
the reference services are generated with ``--values`` and a test in ``tests/deploy`` fails when
they drift. Modules: `triggers` (filters and delivery policy to a Trigger), `scaling` (Kafka
consumer groups to a ScaledObject), `values` (the chart-values form), `naming` (object names),
`eventtypes` (EventTypes with the payload schemas, ``--event-types``).
"""

from tidal._manifests.scaling import ScalingOptions, scaled_object
from tidal._manifests.triggers import trigger, trigger_delivery, trigger_filters
from tidal._manifests.values import chart_values

__all__ = [
    "ScalingOptions",
    "chart_values",
    "scaled_object",
    "trigger",
    "trigger_delivery",
    "trigger_filters",
]
