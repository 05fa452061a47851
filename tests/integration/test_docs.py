"""Every Python snippet of README.md and docs/*.md runs as written.

Issue 18 item 7: the README's own example did not run (``downstream_busy`` was undefined). Blocks
marked ``<!-- file: NAME -->`` are saved under that name in a fresh folder (``test_*.py`` files
are then run by pytest there, with no configuration, as a reader would); the others are
executed, top-level ``await`` allowed, with those files importable; ``<!-- snippet: kafka -->``
blocks get a Kafka broker (tansu on a free port) through ``TIDAL_KAFKA__*``.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.docs import Block, blocks
from tests.support.kafka import idempotence_supported

from tidal.testing import MemoryBroker, make_event

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[Block]:
    return [block for block in blocks(path) if block.language == "python"]


WITH_PYTHON = [path for path in DOCUMENTS if python_blocks(path)]


def test_the_documents_with_python_are_found() -> None:
    names = {path.name for path in WITH_PYTHON}
    assert {"README.md", "getting-started.md", "kafka.md", "testing.md"} <= names


@pytest.fixture
def kafka_env(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDAL_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("TIDAL_KAFKA__EMIT_TOPIC", "docs-emitted")
    if not idempotence_supported(kafka_bootstrap):
        monkeypatch.setenv("TIDAL_KAFKA__IDEMPOTENT_PRODUCER", "false")


@pytest.mark.parametrize("path", WITH_PYTHON, ids=lambda path: path.name)
def test_every_python_snippet_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    snippets = python_blocks(path)
    files = [block for block in snippets if "file" in block.marks]
    for block in files:
        (tmp_path / block.marks["file"]).write_text(block.text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for block in files:
        name = block.marks["file"]
        if name.startswith("test_"):
            run_tests(tmp_path, name)
        else:
            compile(block.text, f"{path.name}:{block.line}", "exec")
            __import__(Path(name).stem)
    for block in snippets:
        if "file" in block.marks:
            continue
        if block.marks.get("snippet") == "kafka":
            request.getfixturevalue("kafka_env")
        execute(block, f"{path.name}:{block.line}")


def run_tests(folder: Path, name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def execute(block: Block, where: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"snippet_{block.line}"}
    code = compile(block.text, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return namespace


async def test_the_readme_example_delivers_filters_and_dead_letters() -> None:
    (block,) = python_blocks(ROOT / "README.md")
    namespace = execute(block, "README.md")
    broker = MemoryBroker(namespace["app"])
    order = "com.acme.pos.order.confirmed.v1"
    await broker.send(make_event(order, data={"total": 250, "customer": "c-1"}))
    await broker.send(make_event(order, data={"total": 50, "customer": "c-2"}))
    await broker.send(make_event(order, data={"total": 500}))
    await broker.send(make_event("com.acme.fleet.reading.v1", data={}))
    broker.assert_published("com.acme.crm.vip.v1", data={"customer": "c-1"})
    broker.assert_dead_lettered(order, error="InvalidEventError", data={"total": 500})
    broker.assert_handled("fleet-audit", times=1)
    assert namespace["crm_queue"] == ["c-1"]
