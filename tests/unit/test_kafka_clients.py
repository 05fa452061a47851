"""Every aiokafka client is built by `tidal.kafka` (`consumer`, `producer`, `admin` and the
worker's `make_*`), so the ``TIDAL_KAFKA__*`` connection and security options reach each one.
The outbox relay's producer and ``tidal dev``'s letter reader used to build their own from the
bootstrap address alone (in plaintext, without SASL or TLS)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
BUILDER = ROOT / "src/tidal/kafka/_connecting.py"


def constructions(path: Path) -> list[str]:
    """``path:line`` of each call of an aiokafka client class in the module at ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in CLIENTS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_tidal_kafka_builds_aiokafka_clients() -> None:
    modules = [*(ROOT / "src").rglob("*.py"), *(ROOT / "operator").rglob("*.py")]
    assert len(modules) > 100
    outside = [hit for path in modules if path != BUILDER for hit in constructions(path)]
    assert outside == []
    assert len(constructions(BUILDER)) == 3  # the check sees a construction where there is one
