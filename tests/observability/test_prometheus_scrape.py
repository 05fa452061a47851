"""Against a real Prometheus scraping real tidal processes under load: every PromQL expression
of the dashboards and the alert rules parses and returns data, and every alert goes pending."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.observability.prometheus_stack import RULES, Stack

pytestmark = pytest.mark.integration
DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "tidal" / "dashboards"
# What Grafana would substitute: "All" of every variable, and a rate window.
VARIABLES = {
    "$__rate_interval": "1m",
    "$service": ".*",
    "$subscription": ".*",
    "$resource_namespace": ".*",
}


def _substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr.replace("$labels", ""), f"unknown variable in {expr}"
    return expr


def dashboard_queries() -> list[Any]:
    params = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                name = f"{path.stem}: {panel['title']} [{target['refId']}]"
                params.append(pytest.param(target["expr"], id=name))
    return params


def dashboard_variables() -> list[Any]:
    params = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] == "query":
                params.append(
                    pytest.param(variable["query"], id=f"{path.stem}: ${variable['name']}")
                )
    return params


def alert_rules() -> list[Any]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [pytest.param(rule["expr"], id=rule["alert"]) for g in groups for rule in g["rules"]]


def result(stack: Stack, expr: str) -> list[dict[str, Any]]:
    answer = stack.query(_substitute(expr))
    assert answer["status"] == "success", answer
    data: list[dict[str, Any]] = answer["data"]["result"]  # type: ignore[index]
    return data


# Metrics only a cluster has (KEDA's own), and the outbox relay's (it needs PostgreSQL, which
# this stack does not run: tests/integration/test_outbox_relay.py scrapes those families from a
# real relay): their queries must parse, but no data is expected here
CLUSTER_ONLY = ("keda_", "tidal_outbox_")


@pytest.mark.parametrize("expr", dashboard_queries())
def test_every_dashboard_query_returns_data(stack: Stack, expr: str) -> None:
    answer = result(stack, expr)
    assert answer or any(metric in expr for metric in CLUSTER_ONLY), f"no data for {expr}"


@pytest.mark.parametrize("query", dashboard_variables())
def test_every_dashboard_variable_has_values(stack: Stack, query: str) -> None:
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert match is not None, query
    selector, label = _substitute(match.group(1)), match.group(2)
    assert result(stack, f"group by ({label}) ({selector})")


@pytest.mark.parametrize("expr", alert_rules())
def test_every_alert_expression_returns_data_under_the_incident_load(
    stack: Stack, expr: str
) -> None:
    assert result(stack, expr), f"no data for {expr}"


def test_prometheus_loaded_every_rule_and_each_alert_is_pending(stack: Stack) -> None:
    import httpx

    rules = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert len(health) == 8
    assert set(health.values()) == {"ok"}
    alerts = httpx.get(f"{stack.prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    assert {a["labels"]["alertname"] for a in alerts} == set(health)


def test_every_process_reports_its_cold_start_and_identity(stack: Stack) -> None:
    cold = result(stack, "tidal_cold_start_seconds")
    services = {"obs-orders", "obs-sink", "obs-exporter", "gateway"}
    assert {r["metric"]["service"] for r in cold} >= services
    assert all(0 < float(r["value"][1]) < 60 for r in cold)
    info = result(stack, "tidal_info")
    assert {(r["metric"]["service"], r["metric"]["transport"]) for r in info} >= {
        ("obs-orders", "http"),
        ("obs-sink", "http"),
        ("gateway", "ingress"),
        ("obs-ledger", "kafka"),
        ("tidal-operator", "operator"),
    }


def test_the_gateway_reports_its_answers_and_what_it_published(stack: Stack) -> None:
    answers = result(stack, 'tidal_http_requests_total{service="gateway"}')
    by_status = {r["metric"]["status"]: float(r["value"][1]) for r in answers}
    assert by_status == {"202": 9.0, "401": 3.0}
    published = result(
        stack, 'tidal_events_total{service="gateway", subscription="telemetry", outcome="handled"}'
    )
    assert [float(r["value"][1]) for r in published] == [9.0]
