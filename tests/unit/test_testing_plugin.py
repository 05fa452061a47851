"""`tidal.testing` as a user meets it: the pytest plugin in a fresh project, and the assertions.

Issue 18 item 6: tests needed an undocumented ``asyncio_mode = auto``, `MemoryBroker` had no
idempotency unless built from private modules, and there was no `Context` builder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tidal import App, Context, DeliveryPolicy, Event, InvalidEventError, RetryableError
from tidal.testing import ManualClock, MemoryBroker, make_context, make_event

HANDLERS = """\
from tidal import App, Context, DeliveryPolicy, Event, RetryableError

app = App("orders", policy=DeliveryPolicy.of(max_attempts=3, delay="PT1S"))


@app.on(type="com.acme.order.v1")
async def vip(event: Event, ctx: Context) -> Event:
    if ctx.attempt < 2:
        raise RetryableError("crm busy", delay=2)
    return ctx.derive(type="com.acme.vip.v1", data=event.data)
"""

TESTS = """\
from tidal.testing import make_event

from handlers import app, vip


async def test_through_the_broker(tidal_broker, tidal_clock):
    broker = tidal_broker(app)
    await broker.send(make_event("com.acme.order.v1", data={"customer": "c-1"}))
    broker.assert_published("com.acme.vip.v1", data={"customer": "c-1"})
    broker.assert_retried("vip", times=1)
    assert tidal_clock.sleeps == [2]


async def test_the_handler_alone(tidal_context):
    event = make_event("com.acme.order.v1", data={"customer": "c-1"})
    reply = await vip(event, tidal_context(event, attempt=2))
    assert reply.type == "com.acme.vip.v1"


async def test_a_failing_assertion_fails(tidal_broker):
    broker = tidal_broker(app)
    await broker.send(make_event("com.acme.order.v1", data={}))
    broker.assert_published("com.acme.nothing.v1")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (tmp_path / "test_handlers.py").write_text(TESTS)
    return tmp_path


@pytest.mark.parametrize(
    "plugins", [[], ["-p", "no:asyncio"]], ids=["pytest-asyncio-strict", "no-asyncio-plugin"]
)
def test_async_tests_run_with_no_asyncio_configuration(project: Path, plugins: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *plugins, str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "no published event like type='com.acme.nothing.v1'" in result.stdout
    assert "com.acme.vip.v1" in result.stdout  # what was published instead


def retrying_app() -> App:
    app = App("shop", policy=DeliveryPolicy.of(max_attempts=2, delay="PT1S"))

    @app.on(type="order.v1")
    def count(event: Event) -> None:
        if event.data.get("bad"):
            raise InvalidEventError("no total")
        if event.data.get("flaky"):
            raise RetryableError("later")

    return app


async def test_idempotency_is_on_by_default() -> None:
    broker = MemoryBroker(retrying_app(), clock=ManualClock())
    event = make_event("order.v1", data={})
    await broker.send(event)
    await broker.send(event)
    assert len(broker.assert_handled("count", times=1)) == 1
    assert [d.outcome for d in broker.attempts] == ["handled", "duplicate"]
    off = MemoryBroker(retrying_app(), clock=ManualClock(), idempotency=False)
    await off.send(event)
    await off.send(event)
    off.assert_handled("count", times=2)


async def test_dead_letters_and_retries_are_asserted() -> None:
    broker = MemoryBroker(retrying_app(), clock=ManualClock())
    await broker.send(make_event("order.v1", id="b", data={"bad": True}))
    await broker.send(make_event("order.v1", id="f", data={"flaky": True}))
    letter = broker.assert_dead_lettered(id="b", error="InvalidEventError")
    assert letter.get_extension("tidalattempts") == 1
    (retry,) = broker.assert_retried("count")
    assert (retry.event.id, retry.attempt, type(retry.error)) == ("f", 1, RetryableError)
    with pytest.raises(AssertionError, match=r"2 dead-lettered events like type='order\.v1'"):
        broker.assert_dead_lettered("order.v1")
    with pytest.raises(AssertionError, match="expected 3 retries on count, got 1"):
        broker.assert_retried("count", times=3)
    broker.assert_not_published("order.v2")


async def test_a_context_builder_runs_a_handler_directly() -> None:
    def handler(event: Event, ctx: Context) -> None:
        ctx.emit(ctx.derive(type="order.seen.v1"))
        ctx.logger.info("seen")

    event = make_event("order.v1", id="o-1")
    ctx = make_context(event, attempt=3, subscription="seen")
    handler(event, ctx)
    (emitted,) = ctx.emitted
    assert emitted.type == "order.seen.v1"
    assert ctx.attempt == 3
    assert ctx.deadline is None
    again = make_context(event, attempt=1, subscription="seen")
    assert again.derive(type="order.seen.v1").id == emitted.id  # stable across retries
