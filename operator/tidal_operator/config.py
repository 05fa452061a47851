"""Operator-wide settings, read once from ``TIDAL_OPERATOR_*`` variables at start-up.

``tidal_operator.main`` builds one from the environment of the operator's Deployment; tests build
one with keyword arguments. Every field is documented in ``docs/operator.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

PREFIX: Final = "TIDAL_OPERATOR_"


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """What the generated children run and how often the operator re-reads their results."""

    image: str = "ghcr.io/tidal-dev/tidal:0.1.0"
    """The tidal image every child runs (``tidal backup run``, ``tidal dlq drain``, ...)."""
    image_pull_policy: str = "IfNotPresent"
    service_account: str = ""
    """Service account of the children's pods; empty: none, and no API token is mounted."""
    resync_interval: float = 60.0
    """Seconds between re-reads of children's results into each resource's status."""
    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    memory_limit: str = "1Gi"
    metrics_port: int = 9090
    """Port of the operator's own ``/metrics`` (backup and DLQ-archive results); 0: none."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OperatorConfig:
        """Fields from ``TIDAL_OPERATOR_<FIELD>`` variables; absent ones keep their defaults."""
        values: dict[str, str | float | int] = {}
        for field in fields(cls):
            raw = environ.get(PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = _parse(str(field.type), raw)
        return cls(**values)  # type: ignore[arg-type]


def _parse(kind: str, raw: str) -> str | float | int:
    """A variable's value as its field's type (annotations are strings here)."""
    if kind == "float":
        return float(raw)
    return int(raw) if kind == "int" else raw
