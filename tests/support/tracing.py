"""Tracing for tests: `installed_tracers` installs tidal's `OtelTracer` over an in-memory
exporter (every span tidal starts kept), with the `Sampling` a test asks for; the ``install``
fixture of ``tests/conftest.py`` hands it out and removes the tracer afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from tidal.observability import _hooks as hooks
from tidal.observability._sampling import Sampling
from tidal.observability._tracing import OtelTracer

Install = Callable[[Sampling], InMemorySpanExporter]


@contextmanager
def installed_tracers() -> Iterator[Install]:
    """Yields ``install(sampling) -> exporter``; on exit no tracer is installed."""
    providers: list[TracerProvider] = []

    def install(sampling: Sampling) -> InMemorySpanExporter:
        exporter, provider = InMemorySpanExporter(), TracerProvider(sampler=ALWAYS_ON)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
        hooks.install(OtelTracer(provider.get_tracer("tests"), sampling=sampling))
        return exporter

    try:
        yield install
    finally:
        hooks.install(None)
        for provider in providers:
            provider.shutdown()
