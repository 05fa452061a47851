"""tidal's own lines about a failing event: filterable fields, the traceback where it helps.

Issue 18 items 1 and 8: a crashing handler showed one ``retrying ... NameError(...)`` line with no
traceback, and the event id, subscription and attempt were only inside the message text.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tidal import App, DeliveryPolicy, Event
from tidal.observability import _logs as logs
from tidal.testing import ManualClock, MemoryBroker, make_event

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``tidal.dispatch`` logger."""
    caught: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    handler, logger = Keep(), logging.getLogger("tidal.dispatch")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # setLevel, not .level: it clears the enabled-for cache
    yield caught
    logger.removeHandler(handler)
    logger.setLevel(level)


def crashing_app(attempts: int) -> App:
    app = App("vip", policy=DeliveryPolicy.of(max_attempts=attempts, delay="PT1S"))

    @app.on(type="order.v1", name="vip")
    async def vip(event: Event) -> None:
        return downstream_busy()  # type: ignore[name-defined] # noqa: F821 (the bug)

    return app


async def deliver(attempts: int) -> MemoryBroker:
    broker = MemoryBroker(crashing_app(attempts), clock=ManualClock())
    await broker.publish(make_event("order.v1", id="o-1", source="/pos", traceparent=TRACEPARENT))
    await broker.drain()
    return broker


async def test_the_first_failure_and_the_dead_letter_carry_the_traceback(
    records: list[logging.LogRecord],
) -> None:
    await deliver(attempts=3)
    first, second, last = records
    assert first.levelno == logging.INFO
    assert second.levelno == logging.INFO
    assert last.levelno == logging.WARNING
    assert first.exc_info is not None
    assert isinstance(first.exc_info[1], NameError)
    assert second.exc_info is None  # the same crash again: once is enough
    assert last.exc_info is not None
    assert isinstance(last.exc_info[1], NameError)


async def test_every_line_about_the_event_carries_its_fields(
    records: list[logging.LogRecord],
) -> None:
    await deliver(attempts=2)
    for attempt, record in enumerate(records, start=1):
        assert record.__dict__["event_id"] == "o-1"
        assert record.__dict__["event_type"] == "order.v1"
        assert record.__dict__["event_source"] == "/pos"
        assert record.__dict__["subscription"] == "vip"
        assert record.__dict__["attempt"] == attempt
        assert record.__dict__["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_json_lines_are_filterable_by_event_id_and_hold_the_traceback(
    records: list[logging.LogRecord],
) -> None:
    await deliver(attempts=2)
    formatter = logs.JsonFormatter(service="vip")
    entries = [json.loads(formatter.format(record)) for record in records]
    failing = [entry for entry in entries if entry.get("event_id") == "o-1"]
    assert len(failing) == 2
    assert all(entry["subscription"] == "vip" for entry in failing)
    assert [entry["attempt"] for entry in failing] == [1, 2]
    assert "NameError: name 'downstream_busy' is not defined" in failing[0]["error"]
    assert "Traceback (most recent call last)" in failing[1]["error"]


async def test_text_lines_show_the_fields_and_the_traceback(
    records: list[logging.LogRecord],
) -> None:
    await deliver(attempts=2)
    text = logs.TextFormatter().format(records[0])
    head, _, rest = text.partition("\n")
    assert "retrying o-1 on vip" in head
    assert "event_id=o-1" in head
    assert "subscription=vip" in head
    assert "attempt=1" in head
    assert rest.startswith("Traceback (most recent call last)")
    assert "NameError" in rest


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert logs.resolve("auto", Terminal()) == "text"
    assert logs.resolve("auto", io.StringIO()) == "json"
    assert logs.resolve("json", Terminal()) == "json"
    assert logs.resolve("text", io.StringIO()) == "text"


def test_uvicorn_colour_codes_stay_out_of_json() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Uvicorn running", None, None)
    record.color_message = "Uvicorn running on \x1b[1mhttp://0.0.0.0:8080\x1b[0m"
    line = logs.JsonFormatter(service="vip").format(record)
    assert "\x1b" not in line
    assert "\\u001b" not in line
