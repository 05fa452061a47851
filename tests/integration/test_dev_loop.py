"""The local loop for a user's own service, as users run it (real subprocesses, real sockets):
`tidal dev module:app` fed through its ingress by `tidal send`, showing retries and dead letters
live; `--reload`; and the demo summary explaining the gateway's refusals (issue 18, items 3, 9).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TIDAL = [sys.executable, "-m", "tidal.cli"]
ORDER = "com.acme.order.created.v1"
INGRESS = re.compile(r"ingress: POST CloudEvents to (http://127\.0\.0\.1:\d+/)")


class Lines:
    """A running command whose output lines (stdout and stderr merged) a test waits for."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first line from here on that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen))

    def finish(self, timeout: float = 90.0) -> str:
        """Ctrl-C, then everything printed until the exit; the exit status must be 0."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        rest = []
        while (line := self._lines.get(timeout=10)) is not None:
            rest.append(line)
        self.seen.extend(rest)
        assert self.proc.returncode == 0, "\n".join(self.seen)
        return "\n".join(rest)


@contextmanager
def running(*args: str, cwd: Path = ROOT) -> Iterator[Lines]:
    proc = subprocess.Popen(
        [*TIDAL, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = Lines(proc)
    try:
        yield lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lines.reader.join(timeout=10)


def send(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [*TIDAL, "send", url, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def event_id(sent: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"event id ([-0-9a-f]+)", sent.stdout)
    assert found is not None, sent.stdout
    return found.group(1)


def test_dev_runs_your_own_app_fed_by_tidal_send_showing_retries_and_dead_letters() -> None:
    with running("dev", "tests.integration.apps.shop:app") as dev:
        dev.expect(r"tidal dev: shop on the memory transport")
        url = dev.expect(INGRESS.pattern).group(1)
        once = event_id(
            send(url, "--type", ORDER, "--source", "/shop", "--data", '{"fail":"once"}')
        )
        dev.expect(rf"retry +orders: {ORDER} {once} attempt 1 failed \(RetryableError: ")
        dev.expect(rf"handled +orders: {ORDER} {once} on attempt 2")
        bad = event_id(
            send(url, "--type", ORDER, "--source", "/shop", "--data", '{"fail":"always"}')
        )
        dev.expect(rf"retry +orders: {ORDER} {bad} attempt 2 failed \(ValueError: ")
        letter = dev.expect(rf"dead-letter .* {bad} failed in shop/orders after 3 attempt\(s\)")
        assert "tidalerrorclass=ValueError" in letter.string
        assert f"tidalerrormessage='order {bad} has a negative total'" in letter.string
        refused = httpx.post(url, content=b"{}", headers={"content-type": "application/json"})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_event"
        summary = dev.finish()
    assert "1 event(s) dead-lettered" in summary
    assert re.search(r"│ orders +│ +2 │ +1 │ +0 │ +3 │ +1 │ +0 │", summary), summary


def test_dev_with_a_reference_that_is_no_app_says_so() -> None:
    out = subprocess.run(
        [*TIDAL, "dev", "json:dumps"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert "is not a tidal App" in out.stderr


APP = """
from tidal import App

app = App("reloading")


@app.on(type="ping")
def ping(event):
    {body}
"""


def test_dev_reload_restarts_in_a_fresh_process_when_a_module_changes(tmp_path: Path) -> None:
    module = tmp_path / "handlers.py"
    module.write_text(APP.format(body="return None"))
    with running("dev", "handlers:app", "--reload", cwd=tmp_path) as dev:
        url = dev.expect(INGRESS.pattern).group(1)
        first = event_id(send(url, "--type", "ping", "--source", "/t"))
        dev.expect(rf"handled +ping: ping {first} on attempt 1")
        module.write_text(APP.format(body='raise ValueError("edited: now failing")'))
        dev.expect(r"tidal dev --reload: handlers\.py changed: restarting")
        assert dev.expect(INGRESS.pattern).group(1) == url  # the same address after a restart
        second = event_id(send(url, "--type", "ping", "--source", "/t"))
        dev.expect(rf"retry +ping: ping {second} attempt 1 failed \(ValueError: edited")
        dev.finish()


def test_dev_demo_summary_explains_the_gateways_refusals() -> None:
    out = subprocess.run(
        [*TIDAL, "dev", "--events", "300", "--rate", "0", "--seed", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    answered = re.search(r"gateway answered 75 request\(s\): (.*)", out.stdout)  # 4 streams
    assert answered is not None, out.stdout
    refusals = dict(re.findall(r"x (\d+), e\.g\. '([^']+)'", out.stdout))
    statuses = re.findall(r"(\d+) x (4\d\d)", answered.group(1))
    assert statuses, out.stdout
    for count, status in statuses:
        lines = re.findall(rf"  gateway {status} (\w+) x (\d+), e\.g\. '(.+)'", out.stdout)
        assert lines, (status, out.stdout)
        assert sum(int(n) for _, n, _ in lines) == int(count)
        assert all(message for _, _, message in lines)
    assert refusals


# -- Kafka: tidal send --kafka, tidal tail, tidal dev --kafka ---------------------------------
# What a record must look like: the CloudEvents Kafka protocol binding
# (cloudevents/spec, cloudevents/bindings/kafka-protocol-binding.md, sections 3.2 binary mode:
# attributes as ``ce_`` headers, data as the value; 3.3 structured mode: content-type
# ``application/cloudevents+json``; 3.1 / partitioning extension: the key is ``partitionkey``).
# confluent-kafka, an independent client, writes and reads the records on the other side.


def confluent_read(bootstrap: str, topic: str, count: int) -> list[object]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"peer-{topic}", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])  # offset 0: beginning
        records: list[object] = []
        deadline = time.monotonic() + 30
        while len(records) < count and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None and record.error() is None:
                records.append(record)
        return records
    finally:
        consumer.close()


def test_send_to_kafka_writes_binding_conformant_records(kafka_bootstrap: str) -> None:
    topic = f"send-{os.getpid()}-{time.monotonic_ns()}"
    base = ["--kafka", kafka_bootstrap, "--topic", topic, "--source", "/pos/12"]
    binary = subprocess.run(
        [*TIDAL, "send", *base, "--type", "t.binary", "--subject", "s-1",
         "--ext", "partitionkey=cust-7", "--data", '{"total": 3}'],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert binary.returncode == 0, binary.stderr
    assert f"produced to {topic} at {kafka_bootstrap} in binary mode" in binary.stdout
    structured = subprocess.run(
        [*TIDAL, "send", *base, "--type", "t.structured", "--mode", "structured"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert structured.returncode == 0, structured.stderr
    records = {
        dict(r.headers() or []).get("ce_type", b"structured"): r  # type: ignore[attr-defined]
        for r in confluent_read(kafka_bootstrap, topic, 2)
    }
    first = records[b"t.binary"]
    headers = dict(first.headers())  # type: ignore[attr-defined]
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"] == b"/pos/12"
    assert headers["ce_subject"] == b"s-1"
    assert headers["ce_id"].decode() == event_id(binary)
    assert first.key() == b"cust-7"  # type: ignore[attr-defined]
    assert first.value() == b'{"total":3}' or first.value() == b'{"total": 3}'  # type: ignore[attr-defined]
    second = records[b"structured"]
    assert dict(second.headers())["content-type"].startswith(b"application/cloudevents+json")  # type: ignore[attr-defined]
    body = json.loads(second.value())  # type: ignore[attr-defined]
    assert body["type"] == "t.structured"
    assert body["id"] == event_id(structured)


def test_tail_prints_events_and_dead_letters_as_they_arrive(kafka_bootstrap: str) -> None:
    from confluent_kafka import Producer

    topic = f"tail-{os.getpid()}-{time.monotonic_ns()}.dlq"
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(
        topic,
        value=b'{"n":0}',
        headers=[("ce_specversion", b"1.0"), ("ce_type", b"old"), ("ce_source", b"/x"),
                 ("ce_id", b"before-the-tail"), ("content-type", b"application/json")],
    )  # fmt: skip
    producer.flush(10)
    with running("tail", topic, "--bootstrap-servers", kafka_bootstrap) as tail:
        tail.expect(rf"tailing {re.escape(topic)} \(\d+ partition\(s\)\) from the end")
        producer.produce(
            topic,
            key=b"VH-1",
            value=b'{"n":1}',
            headers=[("ce_specversion", b"1.0"), ("ce_type", b"com.acme.fleet.telemetry.v1"),
                     ("ce_source", b"/fleet"), ("ce_id", b"letter-1"),
                     ("ce_time", b"2026-01-02T03:04:05Z"), ("ce_partitionkey", b"VH-1"),
                     ("ce_tidalerrorclass", b"InvalidEventError"),
                     ("ce_tidalerrormessage", b"unknown vehicle 'VH-1'"),
                     ("ce_tidalsubscriber", b"fleet/telemetry"), ("ce_tidalattempts", b"1")],
        )  # fmt: skip
        producer.produce(topic, value=b"not an event")
        producer.flush(10)
        line = tail.expect(r"letter-1").string
        assert line.startswith("2026-01-02T03:04:05Z com.acme.fleet.telemetry.v1 /fleet letter-1")
        assert "key=VH-1" in line
        assert "tidalerrorclass=InvalidEventError" in line
        assert "tidalerrormessage=\"unknown vehicle 'VH-1'\"" in line
        skipped = r"not a CloudEvent \(record is not a CloudEvent: no ce_specversion"
        if not any(re.search(skipped, seen) for seen in tail.seen):  # partitions interleave
            tail.expect(skipped)
        rest = tail.finish()
    assert "before-the-tail" not in "\n".join(tail.seen)  # from the end by default
    assert "1 event(s) shown" in rest
    everything = subprocess.run(
        [*TIDAL, "tail", topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning",
         "--json", "--max-events", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert everything.returncode == 0, everything.stderr
    events = [json.loads(text) for text in everything.stdout.splitlines()]
    assert sorted(e["id"] for e in events) == ["before-the-tail", "letter-1"]
    letter = next(e for e in events if e["id"] == "letter-1")
    assert letter["tidalerrorclass"] == "InvalidEventError"
    assert letter["data"] == {"n": 1}


def test_dev_on_kafka_says_what_it_waits_for_shows_letters_live_and_counts_add_up() -> None:
    with running("dev", "--kafka", "--events", "300", "--rate", "0", "--seed", "5") as dev:
        dev.expect(r"joining 5 consumer group\(s\), one per App", timeout=60)
        dev.expect(r"all 5 consumer group\(s\) joined after \d+s", timeout=180)
        dev.expect(r"dead-letter .* tidalerrorclass=InvalidEventError tidalerrormessage=")
        dev.proc.wait(timeout=180)
        dev.reader.join(timeout=10)
        while (line := dev._lines.get(timeout=10)) is not None:
            dev.seen.append(line)
    output = "\n".join(dev.seen)
    assert dev.proc.returncode == 0, output
    published = re.search(r"tidal dev: (\d+) events published", output)
    assert published is not None, output
    rows = {
        cells[0]: [int(c) for c in cells[1:]]
        for text in output.splitlines()
        if len(cells := [c.strip() for c in text.strip("│ ").split("│")]) == 7
        and cells[1].isdigit()
    }
    assert rows, output
    for subscription, (received, *_, filtered) in rows.items():
        assert received + filtered == int(published.group(1)), (subscription, output)


def pane(server: str) -> str:
    out = subprocess.run(
        ["tmux", "-L", server, "capture-pane", "-p", "-J", "-S", "-200"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout


def wait_for_pane(server: str, pattern: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, text := pane(server)):
            return text
        time.sleep(0.3)
    raise AssertionError(f"no {pattern!r} on the terminal:\n{pane(server)}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="the terminal test drives tmux")
def test_dev_live_view_in_a_terminal_shows_letters_above_the_table() -> None:
    """In a real terminal (tmux): the lines scroll above a live table, Ctrl-C ends it."""
    server, port = f"tidal-dev-{os.getpid()}", free_port()
    command = f"{sys.executable} -m tidal.cli dev tests.integration.apps.shop:app --port {port}"
    subprocess.run(
        ["tmux", "-L", server, "new-session", "-d", "-x", "200", "-y", "50", "-c", str(ROOT),
         f"{command}; echo exited $?; sleep 60"],
        check=True, timeout=10,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_pane(server, re.escape(f"ingress: POST CloudEvents to {url}"))
        bad = event_id(send(url, "--type", ORDER, "--source", "/s", "--data", '{"fail":"always"}'))
        screen = wait_for_pane(server, r"│ orders +│ +1 │ +0 │ +0 │ +2 │ +1 │ +0 │")
        letter = screen.index("dead-letter  ")
        assert bad in screen[letter:]
        assert "tidalerrorclass=ValueError" in screen[letter:]
        assert letter < screen.index("┏"), screen  # above the live table
        subprocess.run(["tmux", "-L", server, "send-keys", "C-c"], check=True, timeout=10)
        screen = wait_for_pane(server, r"exited \d+")
        assert "exited 0" in screen
        assert "1 event(s) dead-lettered" in screen
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], timeout=10, check=False)


def test_dev_your_app_on_kafka_shows_retries_and_letters_as_they_happen(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """Issue 18, finding 9 on Kafka too: a retry, then its success on attempt 2, both live."""
    with running(
        "dev", "tests.integration.apps.shop:app", "--kafka",
        "--bootstrap-servers", kafka_bootstrap, "--redis-url", redis_url,
    ) as dev:  # fmt: skip
        url = dev.expect(INGRESS.pattern, timeout=120).group(1)
        once = event_id(
            send(url, "--type", ORDER, "--source", "/shop", "--data", '{"fail":"once"}')
        )
        retry = rf"retry +orders: {ORDER} {once} attempt 1 failed \(RetryableError: "
        # the success after the retry, as the memory demo shows it; the retry line comes from
        # a reader of the retry topic, so it may print just before or just after
        dev.expect(rf"handled +orders: {ORDER} {once} on attempt 2", 180)
        if not any(re.search(retry, line) for line in dev.seen):
            dev.expect(retry, 30)
        bad = event_id(
            send(url, "--type", ORDER, "--source", "/shop", "--data", '{"fail":"always"}')
        )
        letter = dev.expect(rf"dead-letter .* {bad} failed in shop/orders after 3 attempt", 180)
        assert "tidalerrorclass=ValueError" in letter.string
        summary = dev.finish()
    assert "1 event(s) dead-lettered" in summary
