"""The chart lets Prometheus scrape the gateway: the services' PodMonitor selects the gateway's
pod on the port it serves ``/metrics`` on (``http``), and the NetworkPolicy over that pod admits
the monitoring namespace; without a gateway the PodMonitor asks for no such port."""

from __future__ import annotations

import pytest
from tests.deploy.rendering import Doc, of_kind, rendered, selects

SERVICES = "tidal-services"


def gateway(scenario: str) -> Doc:
    [deployment] = [
        d
        for d in of_kind(rendered(scenario), "Deployment")
        if d["metadata"]["name"].endswith("-gateway")
    ]
    return deployment


@pytest.mark.parametrize("scenario", ["kafka-keda", "knative"])
def test_the_services_pod_monitor_scrapes_the_gateway_on_its_http_port(scenario: str) -> None:
    monitors = {m["metadata"]["name"]: m for m in of_kind(rendered(scenario), "PodMonitor")}
    monitor = monitors[SERVICES]
    pod = gateway(scenario)["spec"]["template"]
    assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    [container] = pod["spec"]["containers"]
    declared = {p["name"] for p in container["ports"]}
    endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
    assert "http" in declared
    assert endpoints["http"]["path"] == "/metrics"
    policies = [
        p
        for p in of_kind(rendered(scenario), "NetworkPolicy")
        if selects(p["spec"]["podSelector"], pod["metadata"]["labels"])
    ]
    assert policies, "the gateway pod is under a NetworkPolicy"
    for policy in policies:
        sources = [s for rule in policy["spec"].get("ingress", []) for s in rule.get("from", [])]
        namespaces = {
            s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            for s in sources
        }
        assert "monitoring" in namespaces or not sources, policy["metadata"]["name"]


def test_without_a_gateway_no_http_endpoint_is_scraped() -> None:
    assert not [
        d
        for d in of_kind(rendered("monitoring"), "Deployment")
        if d["metadata"]["name"].endswith("-gateway")
    ]
    [monitor] = [
        m
        for m in of_kind(rendered("monitoring"), "PodMonitor")
        if m["metadata"]["name"] == SERVICES
    ]
    [components] = monitor["spec"]["selector"]["matchExpressions"]
    assert "gateway" not in components["values"]
    assert "http" not in {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
