"""The import contracts catch what they forbid: each test copies the packages beside
`.importlinter` (the runtime, the services, the operator and its data plane) into a temporary
tree, injects one violation and runs `lint-imports` on it.

The clean copy must pass first, so a failure is the injected import's and nothing else's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("contracts")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src" / "tidal", tree / "src" / "tidal", ignore=ignore)
    shutil.copytree(ROOT / "services", tree / "services", ignore=ignore)
    for package in ("tidal_operator", "tidal_data"):  # the operator's distribution
        shutil.copytree(ROOT / "operator" / package, tree / "operator" / package, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree / 'operator'}"}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def tree(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(pristine, copy)
    return copy


def test_the_project_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert all(verdict(result.stdout, c) == "KEPT" for _, _, c in VIOLATIONS.values())


VIOLATIONS = {
    "a new core module importing redis": (
        "src/tidal/caching.py",
        "import redis\n",
        "Network, cloud and operator clients are imported only by the named adapter",
    ),
    # the data plane's are written over a module it has (a new one would also be unplaced)
    "a data-plane module besides its Kafka adapter importing aiokafka (admin: tidal.kafka)": (
        "operator/tidal_data/ratelimit.py",
        "from aiokafka.admin import AIOKafkaAdminClient\n",
        "Network, cloud and operator clients are imported only by the named adapter",
    ),
    "the data plane importing the runtime's settings module": (
        "operator/tidal_data/ratelimit.py",
        "from tidal._settings import KafkaSettings\n",
        "The data plane uses tidal's public API only",
    ),
    "the data plane importing a private module of the public tidal.kafka": (
        "operator/tidal_data/ratelimit.py",
        "from tidal.kafka._connecting import make_admin\n",
        "The data plane uses tidal's public API only",
    ),
    "the data plane's library importing its commands": (
        "operator/tidal_data/ratelimit.py",
        "from tidal_data.cli import shared\n",
        "The data plane's commands sit on its library",
    ),
    "a new data-plane module not placed in its layers": (
        "operator/tidal_data/sampling.py",
        "import json\n",
        "The data plane's commands sit on its library",
    ),
    "the runtime importing the data plane": (
        "src/tidal/cli/backups.py",
        "from tidal_data import runs\n",
        "The runtime imports neither the operator nor its data plane",
    ),
    "the operator importing the data plane": (
        "operator/tidal_operator/inline_backup.py",
        "from tidal_data import runs\n",
        "The operator uses tidal's public API only",
    ),
    "a new Kafka transport module importing aiokafka": (
        "src/tidal/_transports/kafka/admin.py",
        "import aiokafka\n",
        "Network, cloud and operator clients are imported only by the named adapter",
    ),
    "an outbox module besides its adapter importing psycopg": (
        "src/tidal/_outbox/polling.py",
        "import psycopg\n",
        "Network, cloud and operator clients are imported only by the named adapter",
    ),
    "the HTTP transport importing the Kafka worker": (
        "src/tidal/_transports/http/bridge.py",
        "from tidal._transports.kafka import running\n",
        "The transports are independent of each other",
    ),
    "a service importing the Kafka consumer": (
        "services/fleet/pull.py",
        "from tidal._transports.kafka import consuming\n",
        "Services use tidal's public API only",
    ),
    "the operator importing the dispatcher": (
        "operator/tidal_operator/inline.py",
        "from tidal import _dispatching\n",
        "The operator uses tidal's public API only",
    ),
    "the memory store importing the idempotency guard": (
        "src/tidal/_idempotency/memory.py",
        "from tidal._idempotency import guard\n",
        "The idempotency guard sits over the memory store",
    ),
    "the Redis store's batcher importing the memory store": (
        "src/tidal/_stores/coalescing.py",
        "from tidal._idempotency.memory import MemoryIdempotencyStore\n",
        "The server stores implement the record port only",
    ),
    "a transport importing the tracing SDK": (
        "src/tidal/_transports/memory_traced.py",
        "import opentelemetry\n",
        "Only tidal.observability imports the telemetry SDKs",
    ),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
def test_each_injected_violation_breaks_its_contract(tree: Path, violation: str) -> None:
    path, source, contract = VIOLATIONS[violation]
    (tree / path).write_text(f'"""An injected violation."""\n\n{source}')
    result = lint(tree)
    assert result.returncode != 0
    assert verdict(result.stdout, contract) == "BROKEN"
    assert "1 broken" in result.stdout


def verdict(output: str, contract: str) -> str:
    """KEPT or BROKEN: the word that follows the contract's name in the summary."""
    summary = " ".join(output.split())  # lint-imports wraps long names
    match = re.search(re.escape(contract) + r".*? (KEPT|BROKEN)\b", summary)
    assert match is not None, output
    return match.group(1)
