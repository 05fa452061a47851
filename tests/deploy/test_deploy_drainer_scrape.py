"""The chart lets Prometheus scrape the operator's DLQ drainers: its drainer PodMonitor selects
the pods the operator builds (in any namespace) on the container port they serve ``/metrics``
on, and no NetworkPolicy of the chart that selects such a pod keeps the scrape out. The pods come
from `tidal_operator.dlqs` for the DLQArchive sample, so chart and operator cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.rendering import ROOT, SCENARIOS, Doc, of_kind, rendered, selects

from tidal_operator.config import OperatorConfig
from tidal_operator.dlqs import METRICS_PORT
from tidal_operator.reconciling import DLQ_ARCHIVE, plan

SAMPLE: Path = ROOT / "k8s" / "samples" / "dlqarchive.yaml"
DRAINERS = "tidal-dlq-drainers"


def drainer_pod() -> dict[str, Any]:
    """The pod template of the drainer Deployment the operator makes for the sample."""
    planned = plan(DLQ_ARCHIVE, yaml.safe_load(SAMPLE.read_text()), OperatorConfig())
    [deployment] = [c for c in planned.children if c["kind"] == "Deployment"]
    return dict(deployment["spec"]["template"])


def test_the_drainer_pod_monitor_selects_the_operators_drainer_pods_everywhere() -> None:
    monitors = {m["metadata"]["name"]: m for m in of_kind(rendered("monitoring"), "PodMonitor")}
    monitor = monitors[DRAINERS]
    assert monitor["metadata"]["labels"]["release"] == "kps", "found by Prometheus like the other"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    pod = drainer_pod()
    assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    [container] = pod["spec"]["containers"]
    assert {"name": endpoint["port"], "containerPort": METRICS_PORT} in container["ports"]
    assert container["args"][container["args"].index("--metrics-port") + 1] == str(METRICS_PORT)
    # the services' PodMonitor does not select them too (no series scraped twice)
    assert not selects(monitors["tidal-services"]["spec"]["selector"], pod["metadata"]["labels"])


def test_no_pod_monitor_for_drainers_without_the_pod_monitor_or_the_operator() -> None:
    assert of_kind(rendered("operator-only"), "PodMonitor") == []
    for scenario in SCENARIOS:
        names = [m["metadata"]["name"] for m in of_kind(rendered(scenario), "PodMonitor")]
        operator = any(
            "operator" in d["metadata"]["name"] for d in of_kind(rendered(scenario), "Deployment")
        )
        assert (DRAINERS in names) == (operator and bool(names)), scenario


def _admits_scrapes(policy: Doc) -> bool:
    """The policy lets the monitoring namespace reach the metrics port."""
    spec = policy["spec"]
    if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
        return True
    for rule in spec.get("ingress", []):
        ports = [p.get("port") for p in rule.get("ports", [])]
        port_ok = not ports or "metrics" in ports or METRICS_PORT in ports
        sources = rule.get("from")
        source_ok = sources is None or any(
            s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == "monitoring"
            for s in sources
        )
        if port_ok and source_ok:
            return True
    return False


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_network_policy_keeps_prometheus_from_a_drainer(scenario: str) -> None:
    """A drainer pod in the release namespace (the only one the chart's policies reach)."""
    labels = drainer_pod()["metadata"]["labels"]
    for policy in of_kind(rendered(scenario), "NetworkPolicy"):
        if selects(policy["spec"]["podSelector"], labels):
            assert _admits_scrapes(policy), policy["metadata"]["name"]
