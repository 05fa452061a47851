"""The OTLP/HTTP trace receiver of the cross-process tracing tests: `harness.otlp`."""

from harness.otlp import Collector, Span, otlp_collector

__all__ = ["Collector", "Span", "otlp_collector"]
