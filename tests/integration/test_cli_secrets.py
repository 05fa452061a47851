"""``tidal dev --kafka --redis-url redis://default:PASSWORD@...`` never prints the password
(issue 17, finding 7: the banner used to show the URL as given)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "S3cret-dev-pw"


def test_the_dev_banner_shows_the_redis_url_without_its_password(
    kafka_bootstrap: str, redis_url: str
) -> None:
    # Redis 6+ accepts any password for a user without one (the suite's redis-server)
    with_password = redis_url.replace("redis://", f"redis://default:{PASSWORD}@", 1)
    command = [sys.executable, "-m", "tidal.cli", "dev", "--kafka", "--rate", "50"]
    options = ["--bootstrap-servers", kafka_bootstrap, "--redis-url", with_password]
    proc = subprocess.Popen(
        [*command, *options], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        banner = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a run Ctrl-C did not stop must not outlive the test
            proc.kill()
            proc.communicate()
    assert "Redis at redis://default:***@127.0.0.1:" in banner, banner + err
    assert PASSWORD not in banner + out + err
