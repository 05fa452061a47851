"""``tidal run`` refuses at start-up an App that would answer a Broker with several events.

Issue 14: a Broker reads one reply event per delivery (knative/eventing
pkg/broker/filter/filter_handler.go @ 532b01f0cb2ce7bed271204697081e4264385531 (knative-v1.22.2)
lines 552-583, `writeResponse` calls `binding.ToEvent` once; eventing-kafka-broker
data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/impl/
BaseResponseHandler.java @ 20190b07b33aa1bb96d3b2106304cbc0d511a61c (knative-v1.22.3)
lines 69-73). A handler
annotated to return several events needs ``K_SINK``; without it the first event would fail, so
start-up does. Several declared ``emits=`` types alone are alternatives (one reply each).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tidal import App, Event
from tidal._settings import Settings
from tidal.cli._run import check_replies
from tidal.cli.main import cli

FANOUT = """\
from tidal import App, Event

app = App("fanout")


@app.on(type="com.acme.order.v1", emits=["com.acme.invoice.v1", "com.acme.shipment.v1"])
async def handle(event: Event) -> list[Event]:
    return []
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "fanout.py").write_text(FANOUT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.delenv("TIDAL_SINK", raising=False)
    sys.modules.pop("fanout", None)
    yield tmp_path
    sys.modules.pop("fanout", None)


def test_several_emitted_types_without_k_sink_is_one_error_line(project: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "fanout:app"])
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: subscription 'handle' returns several events")
    assert "com.acme.invoice.v1, com.acme.shipment.v1" in lines[0]
    assert "set K_SINK" in lines[0]


def app_returning(several: bool, *types: str) -> App:
    app = App("replies")
    if several:

        @app.on(type="in", emits=list(types), name="handle")
        def many(event: Event) -> list[Event]:
            return []
    else:

        @app.on(type="in", emits=list(types), name="handle")
        def one(event: Event) -> Event | None:
            return None

    return app


def test_k_sink_takes_several_emitted_events() -> None:
    app = app_returning(True, "a", "b")
    check_replies(app, Settings(sink="http://broker-ingress.test/ns/default"))


@pytest.mark.parametrize("types", [(), ("a",), ("a", "b")])
def test_one_reply_event_needs_no_sink(types: tuple[str, ...]) -> None:
    """Several declared types are alternatives: ``-> Event | None`` replies once."""
    check_replies(app_returning(False, *types), Settings(sink=None))


def test_a_handler_returning_several_events_without_sink_is_refused() -> None:
    with pytest.raises(click.ClickException, match="subscription 'handle' returns several"):
        check_replies(app_returning(True, "a", "b"), Settings(sink=None))
