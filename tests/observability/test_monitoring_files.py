"""Dashboards and rules as code: the committed chart files are what `python -m monitoring`
generates, and the chart renders them into valid Kubernetes objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml
from monitoring.__main__ import CHART, generated, stale
from monitoring.alerts import rule_groups
from tests.support.crds import shared_crd


def test_committed_dashboards_and_rules_match_the_generator() -> None:
    files = generated()
    assert stale(files) == [], "run `python -m monitoring` and commit the result"
    assert {p.name for p in files} == {
        "tidal-pipeline.json",
        "tidal-service.json",
        "tidal-operator.json",
        "tidal.rules.yaml",
    }


def test_a_changed_generator_makes_the_check_fail(tmp_path: Path) -> None:
    files = generated()
    path, text = next(iter(files.items()))
    copy = tmp_path / path.name
    copy.write_text(text.replace("tidal", "tidel", 1))
    assert stale({copy: text}) == [copy]


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name="obs", namespace="monitoring")
    texts = [text for path, text in manifests.items() if path.endswith(".yaml")]  # not NOTES.txt
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]


def test_the_chart_renders_a_dashboard_configmap_per_dashboard_for_the_grafana_sidecar() -> None:
    maps = [d for d in render() if d["kind"] == "ConfigMap"]
    assert sorted(m["metadata"]["name"] for m in maps) == [
        "obs-tidal-dashboard-operator",
        "obs-tidal-dashboard-pipeline",
        "obs-tidal-dashboard-service",
    ]
    for configmap in maps:
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, body),) = configmap["data"].items()
        assert json.loads(body) == json.loads((CHART / "dashboards" / name).read_text())
        kubernetes_validate.validate(configmap, "1.33", strict=True)


def test_the_prometheus_rule_carries_the_generated_groups_and_validates() -> None:
    (rule,) = [
        d
        for d in render({"prometheusRule": {"labels": {"release": "kps"}}})
        if d["kind"] == "PrometheusRule"
    ]
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == rule_groups()
    crd_path = shared_crd("monitoring.coreos.com_prometheusrules.yaml")
    crd = yaml.safe_load(crd_path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    # no check of the schema itself: it holds Go regexes (``^(?i)...``) Python cannot compile
    jsonschema.Draft202012Validator(version["schema"]["openAPIV3Schema"]).validate(rule)


def test_both_pieces_can_be_turned_off() -> None:
    values = {"dashboards": {"enabled": False}, "prometheusRule": {"enabled": False}}
    kinds = {doc["kind"] for doc in render(values)}
    assert kinds.isdisjoint({"ConfigMap", "PrometheusRule"})
