"""Tracing: receive / handle / emit spans, with the context carried inside the events."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError
from tidal._dispatching import Dispatcher, Handled
from tidal._errors import ConfigurationError
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal.observability import _hooks as hooks
from tidal.observability._configuring import _exporters, build, enabled
from tidal.observability._tracing import OtelTracer
from tidal.testing import ManualClock, MemoryBroker, make_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hooks.install(OtelTracer(provider.get_tracer("tests")))
    yield exporter
    hooks.install(None)
    provider.shutdown()


def pipeline() -> App:
    app = App("shop", policy=DeliveryPolicy.of(max_attempts=1))

    @app.on(type="order.v1")
    def order(event: Event, ctx: Context) -> Event:
        return ctx.derive(type="receipt.v1", data={"order": event.id})

    @app.on(type="receipt.v1")
    def receipt(event: Event) -> None:
        return None

    @app.on(type="bad.v1")
    def bad(event: Event) -> None:
        raise InvalidEventError("missing total")

    return app


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_trace_follows_an_event_to_the_events_it_emits(
    spans: InMemorySpanExporter, clock: ManualClock
) -> None:
    broker = MemoryBroker(pipeline(), clock=clock)
    event = make_event("order.v1", traceparent=TRACEPARENT)
    await broker.publish(event)
    await broker.drain()
    found = by_name(spans)
    chain = [
        "receive order.v1",
        "handle order",
        "emit order",
        "receive receipt.v1",
        "handle receipt",
    ]
    assert set(chain) <= set(found)
    assert {f"{found[name].context.trace_id:032x}" for name in chain} == {TRACE}
    assert parent_of(found["receive order.v1"]) == int(PARENT, 16)
    assert parent_of(found["handle order"]) == found["receive order.v1"].context.span_id
    assert parent_of(found["emit order"]) == found["handle order"].context.span_id
    # the receipt carried the handle span's context in its traceparent extension
    assert parent_of(found["receive receipt.v1"]) == found["handle order"].context.span_id
    assert found["emit order"].kind is SpanKind.PRODUCER
    assert found["receive order.v1"].kind is SpanKind.CONSUMER
    handle = found["handle order"].attributes or {}
    assert handle["tidal.subscription"] == "order"
    assert handle["tidal.attempt"] == 1
    received = found["receive order.v1"].attributes or {}
    assert received["cloudevents.event_type"] == "order.v1"
    assert received["cloudevents.event_id"] == event.id


async def test_an_event_without_traceparent_starts_a_trace(
    spans: InMemorySpanExporter, clock: ManualClock
) -> None:
    broker = MemoryBroker(pipeline(), clock=clock)
    await broker.publish(make_event("receipt.v1"))
    await broker.drain()
    found = by_name(spans)
    assert found["receive receipt.v1"].parent is None
    assert parent_of(found["handle receipt"]) == found["receive receipt.v1"].context.span_id


async def test_a_failed_attempt_is_an_error_span(
    spans: InMemorySpanExporter, clock: ManualClock
) -> None:
    broker = MemoryBroker(pipeline(), clock=clock)
    await broker.publish(make_event("bad.v1"))
    await broker.drain()
    handle = by_name(spans)["handle bad"]
    assert handle.status.status_code is StatusCode.ERROR
    assert handle.status.description == "InvalidEventError: missing total"  # as the SDK says it
    assert [e.name for e in handle.events] == ["exception"]
    # the name users import it by, not the private module that defines it
    assert (handle.events[0].attributes or {})["exception.type"] == "tidal.InvalidEventError"
    # the attempt's failure is classified inside the receive: its span is not an error
    assert by_name(spans)["receive bad.v1"].status.status_code is StatusCode.UNSET


async def test_http_continues_the_event_trace_and_links_the_transport_hop(
    spans: InMemorySpanExporter,
) -> None:
    receiver = Receiver(dispatcher=Dispatcher(pipeline()), max_body_bytes=1 << 20)
    hop = f"00-{'1' * 32}-{'2' * 16}-01"
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "o-1",
        "ce-source": "/pos",
        "ce-type": "order.v1",
        "ce-traceparent": TRACEPARENT,
        "traceparent": hop,
        "content-type": "application/json",
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/", headers=headers, content=b"{}")
    assert response.status_code == 200
    found = by_name(spans)
    receive = found["receive order.v1"]
    assert f"{receive.context.trace_id:032x}" == TRACE
    assert [f"{link.context.trace_id:032x}" for link in receive.links] == ["1" * 32]
    handle = found["handle order"]
    reply_parent = f"00-{TRACE}-{handle.context.span_id:016x}-01"
    assert response.headers["ce-type"] == "receipt.v1"
    assert response.headers["ce-traceparent"] == reply_parent


async def test_http_uses_the_transport_header_when_the_event_has_no_context(
    spans: InMemorySpanExporter,
) -> None:
    receiver = Receiver(dispatcher=Dispatcher(pipeline()), max_body_bytes=1 << 20)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "r-1",
        "ce-source": "/pos",
        "ce-type": "receipt.v1",
        "traceparent": TRACEPARENT,
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.post("/", headers=headers, content=b"{}")
    receive = by_name(spans)["receive receipt.v1"]
    assert parent_of(receive) == int(PARENT, 16)
    assert not receive.links


async def test_with_tracing_off_events_are_left_alone(clock: ManualClock) -> None:
    assert hooks.tracer is None
    dispatcher = Dispatcher(pipeline(), clock=clock)
    sub = next(s for s in dispatcher.app.subscriptions if s.name == "order")
    outcome = await dispatcher.attempt(sub, make_event("order.v1"))
    assert isinstance(outcome, Handled)
    assert [e.get_extension("traceparent") for e in outcome.emitted] == [None]


async def test_a_running_broker_traces_from_when_a_tracer_is_installed_until_it_is_removed(
    clock: ManualClock,
) -> None:
    """The stages are built when the broker starts and rebuilt on every install."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = MemoryBroker(pipeline(), clock=clock)  # started with tracing off
    try:
        hooks.install(OtelTracer(provider.get_tracer("tests")))
        await broker.publish(make_event("receipt.v1", id="traced"))
        await broker.drain()
        hooks.install(None)
        await broker.publish(make_event("receipt.v1", id="untraced"))
        await broker.drain()
    finally:
        hooks.install(None)
        provider.shutdown()
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["handle receipt", "receive receipt.v1"]
    ids = {span.attributes.get("cloudevents.event_id") for span in exporter.get_finished_spans()}
    assert ids == {"traced", None}


@pytest.mark.parametrize(
    ("mode", "environ", "expected"),
    [
        ("auto", {}, False),
        ("auto", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ("auto", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ("auto", {"OTEL_TRACES_EXPORTER": "console"}, True),
        ("auto", {"OTEL_TRACES_EXPORTER": "none"}, False),
        ("auto", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}, False),
        ("on", {}, True),
        ("on", {"OTEL_SDK_DISABLED": "TRUE"}, False),
        ("off", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
    ],
)
def test_tracing_follows_the_standard_otel_variables(
    mode: str, environ: dict[str, str], expected: bool
) -> None:
    assert enabled(mode, environ) is expected


def test_exporters_come_from_otel_traces_exporter_and_protocol() -> None:
    (otlp,) = _exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert type(otlp).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    otlp.shutdown()
    with pytest.raises(ConfigurationError, match="zipkin"):
        _exporters({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigurationError, match="protocol"):
        _exporters({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})


def test_the_built_provider_names_the_service_and_hashes_its_resource_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environ = {"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_off"}
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider, tracer = build(service="orders", version="9.9", environ=environ)
    resource = provider.resource
    assert resource.attributes["service.name"] == "orders"
    assert resource.attributes["service.version"] == "9.9"
    assert tracer.sampling.ratio == 0.0
    assert hash(resource) == hash(Resource(resource.attributes, resource.schema_url))

    def dumps(*_: object, **__: object) -> str:
        raise AssertionError("the resource was encoded again to hash it")

    # the OTLP encoder hashes the resource once per span it groups: no JSON dump each time
    monkeypatch.setattr("opentelemetry.sdk.resources.dumps", dumps)
    assert {resource: 1}[resource] == 1
    provider.shutdown()
