"""The pieces of `tidal dev`'s local loop: the memory broker's watch hook, the ingress, the
reload watcher's scan and arguments, and the one-line form of an event."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tidal import App, DeliveryPolicy, Event, RetryableError
from tidal._dispatching import Outcome
from tidal._transports.memory import MemoryBroker
from tidal.cli._devingress import MAX_BODY, Ingress
from tidal.cli._devreload import changed, child_args, scan
from tidal.cli._devwatch import Activity, event_line
from tidal.testing import ManualClock, make_event


async def test_the_watch_hook_sees_every_attempt_and_the_activity_names_them() -> None:
    app = App("shop", policy=DeliveryPolicy.of(max_attempts=2, delay="PT1S", jitter=False))

    @app.on(type="t")
    def flaky(event: Event) -> None:
        raise RetryableError("busy")

    seen: list[tuple[str, int]] = []
    lines: list[str] = []
    activity = Activity(lines.append)

    def watch(sub: object, event: Event, outcome: Outcome, attempt: int) -> None:
        seen.append((type(outcome).__name__, attempt))
        activity.watch(sub, event, outcome, attempt)  # type: ignore[arg-type]

    clock = ManualClock()
    broker = MemoryBroker(app, clock=clock, watch=watch)
    await broker.publish(make_event(type="t", id="e-1"))
    await broker.drain()  # the clock advances by itself: the retry waits no real time
    assert seen == [("Retry", 1), ("Failed", 2)]
    assert lines[0].startswith("retry        flaky: t e-1 attempt 1 failed (RetryableError: busy)")
    assert lines[1].startswith("dead-letter  ")
    assert "failed in shop/flaky after 2 attempt(s): tidalerrorclass=RetryableError" in lines[1]


def test_an_event_line_names_subject_key_and_a_letters_reason() -> None:
    event = Event.create(
        type="t", source="/s", id="i", subject="sub", time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ).with_extensions({"partitionkey": "k", "tidalerrorclass": "E", "tidalerrormessage": "m"})
    assert event_line(event) == (
        "2026-01-02T03:04:05Z t /s i subject=sub key=k failed in ? after ? attempt(s): "
        "tidalerrorclass=E tidalerrormessage='m'"
    )


async def test_the_ingress_publishes_cloudevents_and_refuses_the_rest() -> None:
    published: list[Event] = []

    async def publish(events: object) -> None:
        published.extend(events)  # type: ignore[call-overload]

    transport = httpx.ASGITransport(app=Ingress(publish))
    async with httpx.AsyncClient(transport=transport, base_url="http://dev") as client:
        binary = {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s", "ce-id": "1"}
        accepted = await client.post("/", headers=binary, content=b"")
        assert (accepted.status_code, accepted.json()) == (202, {"ids": ["1"]})
        batch = b'[{"specversion":"1.0","type":"t","source":"/s","id":"2"}]'
        kind = {"content-type": "application/cloudevents-batch+json"}
        assert (await client.post("/", headers=kind, content=batch)).status_code == 202
        assert [e.id for e in published] == ["1", "2"]
        assert (await client.post("/", content=b"{}")).json()["error"] == "invalid_event"
        odd = {"content-type": "application/cloudevents+xml"}
        assert (await client.post("/", headers=odd, content=b"<x/>")).status_code == 415
        big = await client.post("/", headers=binary, content=b"x" * (MAX_BODY + 1))
        assert big.status_code == 413
        assert (await client.get("/")).status_code == 405
        assert (await client.post("/elsewhere", headers=binary)).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    assert len(published) == 2


def test_reload_watches_py_files_outside_hidden_folders_and_virtualenvs(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "handlers.py").write_text("x = 1\n")
    for skipped in (".venv", "venv", "__pycache__", ".git"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "ignored.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    before = scan(tmp_path)
    assert list(before) == [str(tmp_path / "pkg" / "handlers.py")]
    stat = os.stat(tmp_path / "pkg" / "handlers.py")
    os.utime(tmp_path / "pkg" / "handlers.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (tmp_path / "new.py").write_text("")
    assert changed(before, scan(tmp_path)) == sorted(
        [str(tmp_path / "new.py"), str(tmp_path / "pkg" / "handlers.py")]
    )


def test_each_reloaded_run_gets_the_arguments_without_reload_on_one_port() -> None:
    args = ["dev", "pkg:app", "--reload", "--port", "0", "--kafka", "--port=9"]
    assert child_args(args, 8123) == ["dev", "pkg:app", "--kafka", "--port", "8123"]
