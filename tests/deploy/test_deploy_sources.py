"""The chart's generated files match their generators (apps values from `tidal manifests`, CRDs
and operator RBAC from tidal_operator) and every value is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.rendering import CHART, ROOT

from tidal._loading import load_app
from tidal._manifests.values import render_values
from tidal._settings import KafkaSettings
from tidal_operator.crds.__main__ import drifted
from tidal_operator.rbac import FILE_NAME, cluster_rules, to_yaml

APPS = {
    "fleet": "services.fleet.app:app",
    "orders": "services.orders.app:app",
    "files": "services.files.app:app",
    "cdc": "services.cdc.app:app",
    "saga": "services.saga.app:app",
}
KEY = re.compile(r"^(\s*)([A-Za-z0-9_]+):\s*(.*)$")


def stale_apps(directory: Path) -> list[str]:
    """The reference apps whose committed values differ from `tidal manifests --values`."""
    return [
        name
        for name, reference in APPS.items()
        if not (path := directory / f"{name}-values.yaml").is_file()
        or path.read_text(encoding="utf-8")
        != render_values(load_app(reference), reference, KafkaSettings())
    ]


def test_the_reference_apps_values_are_what_tidal_manifests_generates() -> None:
    assert stale_apps(CHART / "apps") == [], (
        "regenerate: tidal manifests services.<app>.app:app --values"
        " > charts/tidal/apps/<app>-values.yaml"
    )


def test_a_drifted_apps_file_is_caught(tmp_path: Path) -> None:
    for name in APPS:
        text = (CHART / "apps" / f"{name}-values.yaml").read_text(encoding="utf-8")
        (tmp_path / f"{name}-values.yaml").write_text(text, encoding="utf-8")
    assert stale_apps(tmp_path) == []
    drifted_text = text.replace("backoffDelay: PT0.5S", "backoffDelay: PT1S", 1)
    (tmp_path / "orders-values.yaml").write_text(drifted_text, encoding="utf-8")
    assert stale_apps(tmp_path) == ["orders"]


def test_the_charts_crds_are_what_the_operator_generates() -> None:
    assert drifted(CHART / "files" / "crds") == [], (
        "regenerate: python -m tidal_operator.crds --out charts/tidal/files/crds"
    )


def test_the_charts_operator_rules_are_what_the_operator_generates() -> None:
    committed = (CHART / "files" / "operator" / FILE_NAME).read_text(encoding="utf-8")
    assert committed == to_yaml(cluster_rules()), (
        "regenerate: python -m tidal_operator.rbac --out charts/tidal/files/operator"
    )


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_the_generated_rules_grant_what_k8s_operator_rbac_grants() -> None:
    docs = yaml.safe_load_all((ROOT / "k8s" / "operator" / "rbac.yaml").read_text(encoding="utf-8"))
    [role] = [doc for doc in docs if doc["kind"] == "ClusterRole"]
    assert grants(cluster_rules()) == grants(role["rules"])


def documented_leaves(text: str) -> tuple[list[str], list[str]]:
    """(every leaf value's dotted path, the leaves with no ``# --`` comment block above)."""
    stack: list[str] = []
    leaves, undocumented = [], []
    described = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            described = False
            continue
        if stripped.startswith("#"):
            described = described or stripped.startswith("# --")
            continue
        match = KEY.match(line)
        assert match, f"unexpected line in values.yaml: {line!r}"
        stack = [*stack[: len(match.group(1)) // 2], match.group(2)]
        if match.group(3):
            leaves.append(".".join(stack))
            if not described:
                undocumented.append(".".join(stack))
        described = False
    return leaves, undocumented


def test_every_value_is_documented_in_values_yaml_and_in_the_readme() -> None:
    leaves, undocumented = documented_leaves((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert undocumented == []
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert [leaf for leaf in leaves if f"| `{leaf}` |" not in readme] == []
    assert len(leaves) > 50


def test_an_undocumented_value_is_caught() -> None:
    _, undocumented = documented_leaves("a:\n  # -- said\n  b: 1\n  c: 2\n")
    assert undocumented == ["a.c"]


@pytest.mark.parametrize("name", sorted(APPS))
def test_the_apps_values_leave_nothing_for_the_chart_to_guess(name: str) -> None:
    service = yaml.safe_load((CHART / "apps" / f"{name}-values.yaml").read_text())["services"][name]
    assert service["app"] == APPS[name]
    for sub in service["subscriptions"]:
        assert {"name", "trigger", "consumerGroup", "topics"} <= set(sub)
        assert ("filter" in sub["trigger"]) != ("filters" in sub["trigger"])


GENERATED = ("app", "kafka", "subscriptions")


def stale_scenarios(ci: Path, apps: Path) -> list[str]:
    """Scenario services whose generated values differ from apps/<app>-values.yaml's."""
    stale = []
    for path in sorted(ci.glob("*-values.yaml")):
        services = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("services", {})
        for name, service in services.items():
            reference = yaml.safe_load((apps / f"{name}-values.yaml").read_text(encoding="utf-8"))
            expected = {k: reference["services"][name][k] for k in GENERATED}
            if {k: service.get(k) for k in GENERATED} != expected:
                stale.append(f"{path.name}: {name}")
    return stale


def test_the_scenarios_carry_the_apps_generated_values() -> None:
    """ci/<scenario>-values.yaml render alone (`ct lint` / `ct install` use each file alone),
    so they carry copies of apps/*-values.yaml's generated part: kept equal here."""
    assert stale_scenarios(CHART / "ci", CHART / "apps") == [], (
        "copy the services' app, kafka and subscriptions from charts/tidal/apps/<app>-values.yaml"
    )


def test_a_drifted_scenario_is_caught(tmp_path: Path) -> None:
    text = (CHART / "ci" / "knative-values.yaml").read_text(encoding="utf-8")
    (tmp_path / "knative-values.yaml").write_text(
        text.replace("backoffDelay: PT0.5S", "backoffDelay: PT1S", 1), encoding="utf-8"
    )
    assert stale_scenarios(tmp_path, CHART / "apps") == ["knative-values.yaml: fleet"]
