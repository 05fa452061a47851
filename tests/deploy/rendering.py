"""Rendering charts/tidal with real Helm (helm-python-sdk) for the tests under tests/deploy.

Each scenario is ``ci/<scenario>-values.yaml`` alone, as chart-testing (`ct lint`, `ct
install`) renders it; the files carry the reference apps' generated values (``apps/*``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

import helm_python as helm
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
CHART: Final = ROOT / "charts" / "tidal"
SCENARIOS: Final = sorted(
    p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")
)
RELEASE: Final = "tidal"
# the Kubernetes version objects are validated against: the kind clusters' (kind-config*.yaml)
KUBERNETES: Final = "1.34"
NAMESPACE: Final = "tidal"

Doc = dict[str, Any]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values layering: maps merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def scenario_values(scenario: str) -> dict[str, Any]:
    """A scenario's values: its ci file alone, as chart-testing uses it."""
    return load_yaml(CHART / "ci" / f"{scenario}-values.yaml")


def render_texts(values: dict[str, Any]) -> dict[str, str]:
    """Template path to rendered text (manifests only; NOTES.txt left out)."""
    with helm.Chart.load(str(CHART)) as chart:
        texts = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return {path: text for path, text in texts.items() if path.endswith(".yaml")}


def render(values: dict[str, Any]) -> list[Doc]:
    return [
        doc for text in render_texts(values).values() for doc in yaml.safe_load_all(text) if doc
    ]


@cache
def rendered(scenario: str) -> tuple[Doc, ...]:
    """The objects of one scenario, rendered once per test session."""
    return tuple(render(scenario_values(scenario)))


def of_kind(docs: tuple[Doc, ...] | list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against pod labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
