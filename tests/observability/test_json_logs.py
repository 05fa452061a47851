"""Logs: one JSON object per line with the event, the attempt and the trace."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tidal import App, Context, Event
from tidal._dispatching import Dispatcher
from tidal.observability import _hooks as hooks
from tidal.observability import _logs as logs
from tidal.observability._tracing import OtelTracer
from tidal.testing import ManualClock, make_event


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Records of the ``tidal`` loggers, formatted as JSON lines into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter(service="fallback"))
    logger = logging.getLogger("tidal")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.DEBUG
    yield buffer
    logger.removeHandler(handler)
    logger.setLevel(level)


def logging_app() -> App:
    app = App("shop")

    @app.on(type="order.v1")
    def order(event: Event, ctx: Context) -> None:
        ctx.logger.info("order %s", event.id)
        try:
            raise KeyError("sku")
        except KeyError:
            ctx.logger.exception("lookup failed")

    return app


async def run_once(clock: ManualClock) -> None:
    dispatcher = Dispatcher(logging_app(), clock=clock)
    (sub,) = dispatcher.app.subscriptions
    event = make_event("order.v1", id="o-7", source="/pos")
    await dispatcher.attempt(sub, event, attempt=2)


async def test_a_handler_log_line_names_service_event_and_attempt(
    lines: io.StringIO, clock: ManualClock
) -> None:
    await run_once(clock)
    info, error = (json.loads(line) for line in lines.getvalue().splitlines())
    assert info["message"] == "order o-7"
    assert info["level"] == "INFO"
    assert info["logger"] == "tidal.app.shop"
    assert info["timestamp"].endswith("+00:00")
    assert info["service"] == "shop"
    assert info["subscription"] == "order"
    assert (info["event_id"], info["event_type"], info["event_source"]) == (
        "o-7",
        "order.v1",
        "/pos",
    )
    assert info["attempt"] == 2
    assert "trace_id" not in info
    assert "KeyError: 'sku'" in error["error"]


async def test_log_lines_inside_a_span_carry_its_trace_id(
    lines: io.StringIO, clock: ManualClock
) -> None:
    provider = TracerProvider()
    tracer = OtelTracer(provider.get_tracer("tests"))
    hooks.install(tracer)
    try:
        await run_once(clock)
    finally:
        hooks.install(None)
    info = json.loads(lines.getvalue().splitlines()[0])
    assert len(info["trace_id"]) == 32
    assert len(info["span_id"]) == 16


def test_records_without_a_service_get_the_process_one_and_keep_their_extra() -> None:
    record = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "hi %s", ("x",), None)
    record.total = 12.5  # what ``extra={"total": 12.5}`` does
    line = json.loads(logs.JsonFormatter(service="orders").format(record))
    assert line["service"] == "orders"
    assert line["message"] == "hi x"
    assert line["total"] == 12.5


def test_configure_installs_one_root_handler_at_the_level() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        logs.configure(level="warning", style="json", service="orders")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert root.level == logging.WARNING
        logs.configure(level="DEBUG", style="text", service="orders")
        assert not isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
