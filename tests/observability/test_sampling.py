"""Sampling decided before the SDK: unsampled events get no span, yet the events their handlers
emit carry a valid W3C ``traceparent`` (same trace, sampled flag off) and the ``tracestate``."""

from __future__ import annotations

import httpx
import pytest
from tests.support.tracing import Install

from tidal import App, Context, DeliveryPolicy, Event, RetryableError
from tidal._dispatching import Dispatcher, Handled
from tidal._errors import ConfigurationError
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal.observability._sampling import (
    Sampling,
    forward_event,
    parse_traceparent,
    picked,
    sampling_from,
)
from tidal.testing import ManualClock, MemoryBroker, make_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE}-{PARENT}-01"
NOT_SAMPLED = f"00-{TRACE}-{PARENT}-00"


def app() -> App:
    shop = App("shop")

    @shop.on(type="order.v1")
    def order(event: Event, ctx: Context) -> Event:
        return ctx.derive(type="receipt.v1", data={"order": event.id})

    return shop


async def emitted(event: Event) -> Event:
    """The one event the order handler emits for ``event`` (no receive span: the Kafka path)."""
    dispatcher = Dispatcher(app())
    outcome = await dispatcher.attempt(dispatcher.app.subscription("order"), event)
    assert isinstance(outcome, Handled)
    (receipt,) = outcome.emitted
    return receipt


async def test_an_unsampled_parent_gets_no_span_and_is_forwarded_unsampled(
    install: Install,
) -> None:
    spans = install(Sampling())
    event = make_event("order.v1", traceparent=NOT_SAMPLED, tracestate="vendor=a")
    receipt = await emitted(event)
    assert spans.get_finished_spans() == ()
    assert receipt.get_extension("traceparent") == NOT_SAMPLED
    assert receipt.get_extension("tracestate") == "vendor=a"


async def test_a_sampled_parent_is_traced_even_at_ratio_zero(install: Install) -> None:
    spans = install(Sampling(ratio=0.0))
    receipt = await emitted(make_event("order.v1", traceparent=SAMPLED))
    (handle,) = [s for s in spans.get_finished_spans() if s.name == "handle order"]
    assert f"{handle.context.trace_id:032x}" == TRACE
    assert receipt.get_extension("traceparent") == f"00-{TRACE}-{handle.context.span_id:016x}-01"


async def test_a_root_the_ratio_rejects_starts_an_unsampled_trace(install: Install) -> None:
    spans = install(Sampling(ratio=0.0))
    first = await emitted(make_event("order.v1"))
    second = await emitted(make_event("order.v1"))
    assert spans.get_finished_spans() == ()
    parents = [parse_traceparent(e.get_extension("traceparent")) for e in (first, second)]
    assert [(p is not None, p is not None and p.sampled) for p in parents] == [(True, False)] * 2
    assert len({p.trace_id for p in parents if p is not None}) == 2
    assert first.get_extension("tracestate") is None


async def test_an_unsampled_root_names_its_trace_after_the_event(install: Install) -> None:
    """Every attempt (and copy) of one event forwards the same trace, and the handler's
    ``ctx.logger`` lines name it: nothing is kept in the context."""
    install(Sampling(ratio=0.0))
    seen: list[tuple[str, str]] = []
    shop = App("shop")

    @shop.on(type="order.v1")
    def order(event: Event, ctx: Context) -> Event:
        extra = ctx.logger.extra or {}
        seen.append((str(extra["trace_id"]), str(extra["span_id"])))
        return ctx.derive(type="receipt.v1")

    dispatcher = Dispatcher(shop)
    event = make_event("order.v1", id="o-1", source="/pos")
    receipts = []
    for attempt in (1, 2):
        outcome = await dispatcher.attempt(shop.subscription("order"), event, attempt=attempt)
        assert isinstance(outcome, Handled)
        receipts.extend(outcome.emitted)
    parents = [parse_traceparent(r.get_extension("traceparent")) for r in receipts]
    assert parents[0] == parents[1]
    assert parents[0] is not None
    assert not parents[0].sampled
    assert seen == [(parents[0].trace_id, parents[0].span_id)] * 2
    other = await emitted(make_event("order.v1", id="o-2", source="/pos"))
    assert other.get_extension("traceparent") != receipts[0].get_extension("traceparent")


async def test_an_unsampled_parent_names_its_trace_in_the_handlers_log_lines(
    install: Install,
) -> None:
    install(Sampling())
    seen: list[object] = []
    shop = App("shop")

    @shop.on(type="order.v1")
    def order(event: Event, ctx: Context) -> None:
        seen.append((ctx.logger.extra or {}).get("trace_id"))

    dispatcher = Dispatcher(shop)
    event = make_event("order.v1", traceparent=NOT_SAMPLED)
    await dispatcher.attempt(shop.subscription("order"), event)
    assert seen == [TRACE]


async def test_a_sampler_that_is_not_parent_based_overrides_the_parent(install: Install) -> None:
    spans = install(Sampling(ratio=0.0, parent_based=False))
    receipt = await emitted(make_event("order.v1", traceparent=SAMPLED))
    assert spans.get_finished_spans() == ()
    assert receipt.get_extension("traceparent") == NOT_SAMPLED


async def test_http_forwards_an_unsampled_trace_without_spans(install: Install) -> None:
    spans = install(Sampling())
    receiver = Receiver(dispatcher=Dispatcher(app()), max_body_bytes=1 << 20)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "o-1",
        "ce-source": "/pos",
        "ce-type": "order.v1",
        "traceparent": NOT_SAMPLED,  # the transport's hop only: the event has none
        "content-type": "application/json",
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/", headers=headers, content=b"{}")
    assert response.status_code == 200
    assert response.headers["ce-traceparent"] == NOT_SAMPLED
    assert spans.get_finished_spans() == ()


async def test_every_attempt_on_one_event_decides_alike(install: Install) -> None:
    """At a ratio between 0 and 1 the attempts on one event (as a Kafka worker makes them,
    each redelivery anew) are all sampled or none: the draw comes from the event's id, not
    from a new random number per attempt."""
    spans = install(Sampling(ratio=0.5))
    dispatcher = Dispatcher(app())
    sub = dispatcher.app.subscription("order")
    for n in range(40):
        event = make_event("order.v1", id=f"o-{n}")
        for attempt in (1, 2, 3):
            await dispatcher.attempt(sub, event, attempt=attempt)
    handles: dict[str, int] = {}
    for span in spans.get_finished_spans():
        if span.name == "handle order":
            key = str((span.attributes or {})["cloudevents.event_id"])
            handles[key] = handles.get(key, 0) + 1
    assert set(handles.values()) == {3}  # each sampled event: all three attempts
    assert 5 < len(handles) < 35  # and about half the events


async def test_a_receive_and_its_attempts_decide_alike(
    install: Install, clock: ManualClock
) -> None:
    """A receive that samples nothing marks nothing: each attempt inside it comes to the same
    decision from the event alone, retries included."""
    spans = install(Sampling(ratio=0.5))
    shop = App("shop", policy=DeliveryPolicy.of(max_attempts=3))
    tries: dict[str, int] = {}

    @shop.on(type="order.v1")
    def order(event: Event) -> None:
        tries[event.id] = tries.get(event.id, 0) + 1
        if tries[event.id] < 3:
            raise RetryableError("not yet")

    broker = MemoryBroker(shop, clock=clock)
    for n in range(40):
        await broker.publish(make_event("order.v1", id=f"o-{n}"))
    await broker.drain()
    finished = spans.get_finished_spans()
    receives = {s.context.span_id for s in finished if s.name == "receive order.v1"}
    handles = [s for s in finished if s.name == "handle order"]
    assert set(tries.values()) == {3}
    assert 5 < len(receives) < 35
    assert len(handles) == 3 * len(receives)
    assert {s.parent.span_id for s in handles if s.parent is not None} == receives


def test_the_ratio_picks_its_share_of_distinct_ids() -> None:
    threshold = Sampling(ratio=0.01).threshold
    share = sum(picked(f"evt-{n}", threshold) for n in range(100_000)) / 100_000
    assert 0.008 < share < 0.012
    assert not any(picked(f"evt-{n}", Sampling(ratio=0.0).threshold) for n in range(1000))
    assert all(picked(f"evt-{n}", Sampling(ratio=1.0).threshold) for n in range(1000))


async def test_http_forwards_the_events_own_trace_when_nothing_is_sampled(
    install: Install,
) -> None:
    """An unsampled request without any parent forwards the trace named after its event, as
    the Kafka path does: the same for a redelivered copy, and nothing marked in the context."""
    spans = install(Sampling(ratio=0.0))
    receiver = Receiver(dispatcher=Dispatcher(app()), max_body_bytes=1 << 20)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "o-1",
        "ce-source": "/pos",
        "ce-type": "order.v1",
        "content-type": "application/json",
    }
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/", headers=headers, content=b"{}")
        again = await client.post("/", headers=headers, content=b"{}")
    expected, _ = forward_event(None, "/pos", "o-1")
    assert first.headers["ce-traceparent"] == again.headers["ce-traceparent"] == expected
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Sampling(ratio=1.0, parent_based=True)),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, Sampling(ratio=0.0, parent_based=False)),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
            Sampling(ratio=0.1, parent_based=True),
        ),
        ({"OTEL_TRACES_SAMPLER": "TraceIdRatio"}, Sampling(ratio=1.0, parent_based=False)),
    ],
)
def test_sampling_follows_the_standard_variables(
    environ: dict[str, str], expected: Sampling
) -> None:
    assert sampling_from(environ) == expected


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "ten percent"},
    ],
)
def test_an_unknown_sampler_or_bad_ratio_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_SAMPLER"):
        sampling_from(environ)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"00-{TRACE}-{PARENT}",
        f"00-{'0' * 32}-{PARENT}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"ff-{TRACE}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}-01-extra",
    ],
)
def test_an_invalid_traceparent_counts_as_none(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_later_version_may_carry_more_fields() -> None:
    parent = parse_traceparent(f"01-{TRACE}-{PARENT}-01-what-comes-next")
    assert parent is not None
    assert (parent.trace_id, parent.span_id, parent.sampled) == (TRACE, PARENT, True)
