"""The gateway's own observability: ``/metrics`` counts its POSTs by status and its events by
route and outcome, and each POST is an ingest span that the published events continue."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from services.gateway.api import create_gateway
from services.gateway.settings import GatewaySettings
from tests.services.conftest import sample
from tests.services.test_gateway_api import BEARER, JSON, NOW, Recorder, binary_headers, body
from tests.support.tracing import Install

from tidal.observability._sampling import Sampling, parse_traceparent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def service() -> str:
    """The gateway's service name: series of its own (other tests' gateways may live on)."""
    return f"gw-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(
    recorder: Recorder, gateway_settings: GatewaySettings, service: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway(recorder, gateway_settings, clock=lambda: NOW, service=service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def reading() -> bytes:
    return body(sample("reading"))


# -- metrics -------------------------------------------------------------------------------


async def test_every_post_is_counted_by_status_and_every_event_by_route_and_outcome(
    client: httpx.AsyncClient, recorder: Recorder, service: str
) -> None:
    headers = {**BEARER, **JSON}
    assert (await client.post("/telemetry", content=reading(), headers=headers)).status_code == 202
    assert (await client.post("/telemetry", content=reading(), headers=JSON)).status_code == 401
    assert (await client.post("/telemetry", content=b"{", headers=headers)).status_code == 400
    recorder.failing = True
    assert (await client.post("/telemetry", content=reading(), headers=headers)).status_code == 503
    await client.get("/healthz")  # not a POST: not counted
    samples = await scrape(client)

    def count(name: str, **labels: str) -> float:
        return samples.get((name, frozenset({"service": service, **labels}.items())), 0.0)

    for status in ("202", "401", "400", "503"):
        assert count("tidal_http_requests_total", status=status) == 1, status
    assert count("tidal_http_requests_total", status="200") == 0
    typed = {"subscription": "telemetry", "event_type": "com.acme.fleet.telemetry.v1"}
    assert count("tidal_events_total", outcome="received", **typed) == 2
    assert count("tidal_events_total", outcome="handled", **typed) == 1
    assert count("tidal_events_total", outcome="failed", **typed) == 1


async def test_an_error_that_escapes_counts_as_the_500_it_becomes(
    client: httpx.AsyncClient, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("services.gateway.mapping.telemetry_event", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # httpx's ASGI transport re-raises it
        await client.post("/telemetry", content=reading(), headers={**BEARER, **JSON})
    samples = await scrape(client)
    labels = {"service": service, "status": "500"}
    assert samples[("tidal_http_requests_total", frozenset(labels.items()))] == 1


async def test_metrics_can_be_turned_off(
    recorder: Recorder, gateway_settings: GatewaySettings
) -> None:
    app = create_gateway(recorder, gateway_settings, service="gw-quiet", metrics=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"] == "metrics_disabled"


# -- traces --------------------------------------------------------------------------------


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_a_post_is_an_ingest_span_continuing_the_caller_and_the_event_continues_it(
    client: httpx.AsyncClient, recorder: Recorder, install: Install
) -> None:
    exporter = install(Sampling(ratio=0.0))  # the caller's sampled flag decides
    headers = {**BEARER, **JSON, "traceparent": f"00-{TRACE}-{CALLER}-01", "tracestate": "k=v"}
    assert (await client.post("/telemetry", content=reading(), headers=headers)).status_code == 202
    spans = spans_by_name(exporter)
    ingest, emit = spans["ingest /telemetry"], spans["emit telemetry"]
    assert ingest.attributes is not None
    assert ingest.attributes["http.response.status_code"] == 202
    assert ingest.status.status_code is StatusCode.UNSET
    assert ingest.kind is SpanKind.SERVER
    assert emit.kind is SpanKind.PRODUCER
    assert f"{ingest.context.trace_id:032x}" == TRACE
    assert ingest.parent is not None
    assert f"{ingest.parent.span_id:016x}" == CALLER
    assert emit.parent is not None
    assert emit.parent.span_id == ingest.context.span_id
    [event] = recorder.events
    parent = parse_traceparent(
        event.get_extension("traceparent"), event.get_extension("tracestate")
    )
    assert parent is not None
    assert parent.sampled
    assert (parent.trace_id, parent.span_id) == (TRACE, f"{ingest.context.span_id:016x}")
    assert parent.tracestate == "k=v"


async def test_without_a_caller_the_gateway_starts_the_trace(
    client: httpx.AsyncClient, recorder: Recorder, install: Install
) -> None:
    exporter = install(Sampling(ratio=1.0))
    response = await client.post("/telemetry", content=reading(), headers={**BEARER, **JSON})
    assert response.status_code == 202
    ingest = spans_by_name(exporter)["ingest /telemetry"]
    assert ingest.parent is None
    [event] = recorder.events
    parent = parse_traceparent(event.get_extension("traceparent"))
    assert parent is not None
    assert parent.trace_id == f"{ingest.context.trace_id:032x}"


async def test_an_unsampled_post_has_no_span_yet_its_event_carries_the_trace_unsampled(
    client: httpx.AsyncClient, recorder: Recorder, install: Install
) -> None:
    exporter = install(Sampling(ratio=1.0))  # parent-based: the caller said not sampled
    headers = {**BEARER, **JSON, "traceparent": f"00-{TRACE}-{CALLER}-00"}
    assert (await client.post("/telemetry", content=reading(), headers=headers)).status_code == 202
    assert exporter.get_finished_spans() == ()
    [event] = recorder.events
    assert event.get_extension("traceparent") == f"00-{TRACE}-{CALLER}-00"


async def test_an_event_with_its_own_trace_keeps_it(
    client: httpx.AsyncClient, recorder: Recorder, install: Install
) -> None:
    install(Sampling(ratio=1.0))
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = binary_headers(traceparent=own)
    data = json.dumps(sample("reading")).encode()
    assert (await client.post("/events", content=data, headers=headers)).status_code == 202
    [event] = recorder.events
    assert event.get_extension("traceparent") == own


async def test_a_post_to_an_unknown_path_gets_a_span_named_by_no_client(
    client: httpx.AsyncClient, install: Install
) -> None:
    exporter = install(Sampling(ratio=1.0))
    assert (await client.post("/no/such/route", content=b"{}")).status_code in (404, 405)
    assert [span.name for span in exporter.get_finished_spans()] == ["ingest"]


async def test_a_broker_refusal_makes_the_ingest_span_an_error(
    client: httpx.AsyncClient, recorder: Recorder, install: Install
) -> None:
    exporter = install(Sampling(ratio=1.0))
    recorder.failing = True
    response = await client.post("/telemetry", content=reading(), headers={**BEARER, **JSON})
    assert response.status_code == 503
    spans = spans_by_name(exporter)
    ingest = spans["ingest /telemetry"]
    assert ingest.attributes is not None
    assert ingest.attributes["http.response.status_code"] == 503
    assert ingest.status.status_code is StatusCode.ERROR
    assert spans["emit telemetry"].status.status_code is StatusCode.ERROR  # the failed publish
