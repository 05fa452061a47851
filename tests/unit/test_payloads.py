"""Typed payloads: models declared by annotation or ``model=``, validated before the call; an
invalid payload is an `InvalidEventError` dead letter naming the field, never the payload."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic wants it on Python < 3.12

from tidal import App, ConfigurationError, Context, DeliveryPolicy, Event, InvalidEventError
from tidal._dispatching import Dispatcher, Failed, Handled
from tidal.testing import ManualClock, MemoryBroker, make_event

ORDER = "com.acme.pos.order.confirmed.v1"


class Line(BaseModel):
    sku: str
    qty: int = Field(gt=0)


class Order(BaseModel):
    orderId: str
    total: float
    items: list[Line]


class HighValue(BaseModel):
    orderId: str
    total: float


@dataclasses.dataclass
class Reading:
    vehicleId: str
    speedKph: float


class Ping(TypedDict):
    seq: int


VALID = {"orderId": "o-1", "total": 250.0, "items": [{"sku": "A", "qty": 2}]}


def policy() -> DeliveryPolicy:
    return DeliveryPolicy.of(max_attempts=3, delay="PT1S", jitter=False)


async def run(app: App, name: str, data: Any) -> Handled | Failed:
    dispatcher = Dispatcher(app, clock=ManualClock())
    return await dispatcher.deliver(app.subscription(name), make_event(ORDER, data=data))


async def test_event_annotation_gives_the_model_as_event_data() -> None:
    app, seen = App("orders", policy=policy()), []

    @app.on(type=ORDER)
    async def high_value(event: Event[Order], ctx: Context) -> Event:
        seen.append(event)
        assert ctx.event.data == VALID  # the context keeps the event as received
        return ctx.derive(type="hv", data=HighValue(orderId=event.data.orderId, total=1.5))

    outcome = await run(app, "high-value", VALID)
    assert isinstance(outcome, Handled)
    [event] = seen
    assert event.data == Order.model_validate(VALID)
    assert event.type == ORDER
    [emitted] = outcome.emitted
    assert emitted.data == {"orderId": "o-1", "total": 1.5}  # a model is emitted as JSON


async def test_a_model_annotation_gives_the_model_alone_like_faststream() -> None:
    app, seen = App("orders", policy=policy()), []

    @app.on(type=ORDER)
    def audit(order: Order) -> None:  # sync: still runs in a thread, validated first
        seen.append(order)

    assert isinstance(await run(app, "audit", VALID), Handled)
    assert seen == [Order.model_validate(VALID)]
    sub = app.subscription("audit")
    assert not sub.is_async
    assert not sub.wants_context
    assert sub.payload is not None
    assert sub.payload.shape == "data"


async def test_a_model_and_the_context_async() -> None:
    app, seen = App("orders", policy=policy()), []

    @app.on(type=ORDER)
    async def with_context(order: Order, ctx: Context) -> None:
        seen.append((order.orderId, ctx.event.id, ctx.attempt))

    assert isinstance(await run(app, "with-context", VALID), Handled)
    [(order_id, event_id, attempt)] = seen
    assert (order_id, attempt) == ("o-1", 1)
    assert event_id
    sub = app.subscription("with-context")
    assert sub.is_async
    assert sub.wants_context


async def test_model_keyword_like_powertools_event_parser() -> None:
    app, seen = App("fleet", policy=policy()), []

    @app.on(type=ORDER, model=Reading)
    async def readings(event: Event, ctx: Context) -> None:
        seen.append(event.data)

    assert isinstance(await run(app, "readings", {"vehicleId": "V1", "speedKph": "12"}), Handled)
    assert seen == [Reading(vehicleId="V1", speedKph=12.0)]  # lax, as pydantic is by default


async def test_typed_dict_and_a_model_defined_in_a_function() -> None:
    class Local(BaseModel):  # resolved from the decorator's frame (annotations are text here)
        seq: int

    app, seen = App("pings", policy=policy()), []

    @app.on(type=ORDER)
    def ping(event: Event[Ping]) -> None:
        seen.append(event.data)

    @app.on(type=ORDER)
    def bare_ping(item: Ping) -> None:  # a TypedDict refuses issubclass(): never asked
        seen.append(item)

    @app.on(type=ORDER)
    def local(item: Local) -> None:
        seen.append(item)

    await run(app, "ping", {"seq": "3"})
    await run(app, "bare-ping", {"seq": 5})
    await run(app, "local", {"seq": 4})
    assert seen == [{"seq": 3}, {"seq": 5}, Local(seq=4)]


async def test_invalid_payload_is_dead_lettered_at_once_naming_the_field() -> None:
    app, calls = App("orders", policy=policy()), []

    @app.on(type=ORDER)
    async def high_value(event: Event[Order]) -> None:
        calls.append(event)

    bad = {"orderId": "o-1", "total": 1, "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 0}]}
    outcome = await run(app, "high-value", bad)
    assert isinstance(outcome, Failed)
    assert calls == []
    assert isinstance(outcome.error, InvalidEventError)
    assert outcome.failure.attempts == 1  # permanent: never retried
    letter = outcome.letter
    assert letter.get_extension("tidalerrorclass") == "InvalidEventError"
    message = letter.get_extension("tidalerrormessage")
    assert message == (
        "data does not match Order: data.items[1].qty: "
        "Input should be greater than 0 (greater_than)"
    )
    assert letter.data == bad  # the original event, unchanged


async def test_the_message_never_carries_a_large_payload() -> None:
    app = App("orders", policy=policy())

    @app.on(type=ORDER)
    def handler(order: Order) -> None:
        return None

    secret = "x" * 50_000
    outcome = await run(app, "handler", {"orderId": secret, "total": "nope", "items": None})
    assert isinstance(outcome, Failed)
    message = str(outcome.error)
    assert secret[:100] not in message
    assert "data.total: Input should be a valid number" in message
    assert "data.items: Input should be a valid list (list_type)" in message
    assert len(message) < 1024


async def test_a_long_key_from_the_input_is_cut_in_the_field_path() -> None:
    app = App("pings", policy=policy())

    @app.on(type=ORDER)
    def handler(counts: dict[str, int]) -> None:
        return None

    key = "k" * 5000
    outcome = await run(app, "handler", {key: "many"})
    assert isinstance(outcome, Failed)
    cut = f"data.{'k' * 37}...: "
    assert str(outcome.error).startswith(f"data does not match dict[str, int]: {cut}")
    assert len(str(outcome.error)) < 300


async def test_many_errors_are_counted_not_listed() -> None:
    app = App("pings", policy=policy())

    @app.on(type=ORDER)
    def handler(pings: list[Ping]) -> None:
        return None

    outcome = await run(app, "handler", [{"seq": "x"}] * 8)
    assert isinstance(outcome, Failed)
    assert str(outcome.error).endswith("; and 3 more")
    assert "data[4].seq" in str(outcome.error)
    assert "data[5].seq" not in str(outcome.error)


async def test_bytes_data_is_validated_as_json() -> None:
    app, seen = App("orders", policy=policy()), []

    @app.on(type=ORDER)
    def handler(order: Order) -> None:
        seen.append(order)

    await run(app, "handler", json.dumps(VALID).encode())
    assert seen == [Order.model_validate(VALID)]


async def test_through_the_memory_broker_a_bad_order_lands_in_the_dead_letters(
    clock: ManualClock,
) -> None:
    app = App("orders", policy=policy())

    @app.on(type=ORDER)
    async def handler(event: Event[Order], ctx: Context) -> None:
        return None

    broker = MemoryBroker(app, clock=clock)
    await broker.publish(make_event(ORDER, data={"orderId": "o-2"}, id="bad"))
    await broker.drain()
    [letter] = broker.all_dead_letters()
    assert letter.id == "bad"
    assert "data.total: Field required (missing)" in letter.get_extension("tidalerrormessage")
    assert clock.sleeps == []  # no retry


def test_untyped_handlers_stay_untouched() -> None:
    app = App("plain")

    def handler(event: Event, ctx: Context) -> None:
        return None

    def anything(event: Any) -> None:
        return None

    def bare(event):  # type: ignore[no-untyped-def]
        return None

    for fn, name in ((handler, "a"), (anything, "b"), (bare, "c")):
        sub = app.add(fn, filters=(), data=None, name=name, policy=app.policy, idempotent=True)
        assert sub.handler is fn
        assert sub.payload is None


def test_the_cloudevents_base_class_means_the_raw_event() -> None:
    from cloudevents.core.v1.event import CloudEvent

    app = App("plain")

    def handler(event: CloudEvent) -> None:
        return None

    sub = app.add(handler, filters=(), data=None, name="a", policy=app.policy, idempotent=True)
    assert sub.payload is None


async def test_annotated_constraints_are_kept() -> None:
    app, seen = App("pings", policy=policy()), []

    @app.on(type=ORDER)
    def small(value: Annotated[int, Field(lt=10)]) -> None:
        seen.append(value)

    assert isinstance(await run(app, "small", 3), Handled)
    outcome = await run(app, "small", 12)
    assert isinstance(outcome, Failed)
    assert str(outcome.error) == (
        "data does not match int: data: Input should be less than 10 (less_than)"
    )
    assert seen == [3]


def test_model_and_annotation_must_agree() -> None:
    app = App("orders")
    with pytest.raises(ConfigurationError, match="annotated with Order but model=Reading"):

        @app.on(type=ORDER, model=Reading)
        def handler(event: Event[Order]) -> None:
            return None


def test_an_unresolvable_annotation_fails_at_import_naming_the_subscription() -> None:
    app = App("orders")
    with pytest.raises(ConfigurationError, match=r"subscription 'nowhere'.*'Missing'"):

        @app.on(type=ORDER, name="nowhere")
        def handler(event: Event[Missing]) -> None:  # type: ignore[name-defined]  # noqa: F821
            return None


def test_a_type_pydantic_cannot_validate_is_a_configuration_error() -> None:
    class Opaque:
        pass

    app = App("orders")
    with pytest.raises(ConfigurationError, match="cannot be a payload model"):
        app.add(
            lambda event: None,
            filters=(),
            data=None,
            name="opaque",
            policy=app.policy,
            idempotent=True,
            model=Opaque,
        )


def test_emits_declares_types_and_models() -> None:
    app = App("orders")

    @app.on(type=ORDER, emits={"hv": HighValue, "raw": None})
    def handler(order: Order) -> None:
        return None

    @app.on(type=ORDER, emits=["audit"])
    def other(event: Event) -> None:
        return None

    assert [(e.type, e.model) for e in app.subscription("handler").emits] == [
        ("hv", HighValue),
        ("raw", None),
    ]
    assert [(e.type, e.model) for e in app.subscription("other").emits] == [("audit", None)]
    with pytest.raises(ConfigurationError, match="emits="):
        app.on(type=ORDER, emits="hv", name="x")(lambda event: None)
