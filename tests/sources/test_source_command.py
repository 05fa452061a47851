"""``tidal source s3-sqs`` as a process: uploads to a moto bucket reach an HTTP sink as
binary-mode CloudEvents, the queue empties, the liveness port answers, SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from tests.support.objectstore import CREDENTIALS, S3Server
from tests.support.s3notify import NotifiedBucket
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


class Sink(BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Sink.received.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_command_posts_each_upload_to_the_sink_and_empties_the_queue(
    aws: S3Server, uploads: NotifiedBucket, sink: str
) -> None:
    for key in ("upload_one.csv", "photos/two words.jpg"):
        uploads.s3.put_object(Bucket=uploads.bucket, Key=key, Body=b"data")
    health = free_port()
    command = [
        sys.executable, "-m", "tidal.cli", "source", "s3-sqs",
        "--queue-url", uploads.queue_url, "--endpoint-url", aws.endpoint,
        "--region", aws.region, "--wait-seconds", "1", "--health-port", str(health),
    ]  # fmt: skip
    env = {**os.environ, **CREDENTIALS, "K_SINK": sink}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(health)
        deadline = time.monotonic() + 30
        while (len(Sink.received) < 2 or uploads.depth()) and time.monotonic() < deadline:
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    # binary mode percent-encodes header values (the HTTP binding, 3.1.3.2)
    assert sorted(unquote(h["ce-subject"]) for h in Sink.received) == [
        "photos/two words.jpg",
        "upload_one.csv",
    ]
    assert {h["ce-type"] for h in Sink.received} == {"com.amazonaws.s3.ObjectCreated:Put"}
    assert uploads.depth() == 0


def test_the_command_wants_one_destination() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tidal.cli", "source", "s3-sqs", "--queue-url", "q"],
        env={k: v for k, v in os.environ.items() if k != "K_SINK"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "give exactly one of --sink URL and --kafka-topic TOPIC" in out.stderr
