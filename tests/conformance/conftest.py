"""The peers of the conformance tests: the CloudEvents SDK 1.x in its own virtualenv."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK1_PYTHON = Path(
    os.environ.get("CLOUDEVENTS1_PYTHON", ROOT / ".venv-cloudevents1" / "bin" / "python")
)
PEER = Path(__file__).parent / "peer_sdk1.py"


def b64(value: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(value).decode()}


def unb64(value: dict[str, Any]) -> Any:
    """A peer's value: bytes when it came as base64, else the JSON value."""
    return base64.b64decode(value["b64"]) if "b64" in value else value["value"]


class Sdk1Peer:
    """`peer_sdk1.py` under the 1.x SDK, one JSON request and answer per line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def ask(self, op: str, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer


@pytest.fixture(scope="session")
def sdk1() -> Iterator[Sdk1Peer]:
    if not SDK1_PYTHON.exists():
        pytest.fail(f"the CloudEvents SDK 1.x is not at {SDK1_PYTHON}: run `make cloudevents1`")
    version = subprocess.run(
        [str(SDK1_PYTHON), "-c", "import cloudevents; print(cloudevents.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("1."), f"{SDK1_PYTHON} has cloudevents {version}, not 1.x"
    process = subprocess.Popen(
        [str(SDK1_PYTHON), str(PEER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        yield Sdk1Peer(process)
    finally:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        process.wait(timeout=10)
        process.stdout.close()
