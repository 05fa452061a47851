"""The chart's transactional outbox relay (`outboxRelay`): `tidal outbox relay` as one
Deployment per table, its DSN from a Secret, probed and scraped on its /metrics, hardened like
every tidal container."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
from tests.deploy.rendering import of_kind, render, rendered, scenario_values

NAME = "tidal-outbox-relay"


def deployment(docs: Any) -> dict[str, Any]:
    [doc] = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == NAME]
    return dict(doc)


def test_the_relay_runs_one_table_with_its_dsn_from_the_secret() -> None:
    docs = rendered("kafka-keda")
    spec = deployment(docs)["spec"]
    assert spec["replicas"] == 1  # one relays; a second would wait on the advisory lock
    [relay] = spec["template"]["spec"]["containers"]
    assert relay["args"][:2] == ["outbox", "relay"]
    assert "--table=outboxevent" in relay["args"]
    assert "--topic-prefix=outbox.event." in relay["args"]
    env = {e["name"]: e for e in relay["env"]}
    assert env["TIDAL_OUTBOX_DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": "tidal-outbox-dsn",
        "key": "dsn",
    }
    assert (
        env["TIDAL_KAFKA__BOOTSTRAP_SERVERS"]["value"]
        == scenario_values("kafka-keda")["kafka"]["bootstrapServers"]
    )
    assert not any("password" in str(e).lower() for e in relay["env"])


def test_the_relay_is_probed_and_scraped_on_its_metrics() -> None:
    docs = rendered("kafka-keda")
    template = deployment(docs)["spec"]["template"]
    [relay] = template["spec"]["containers"]
    assert relay["ports"] == [{"name": "metrics", "containerPort": 9464}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert relay[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    security = relay["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["automountServiceAccountToken"] is False
    [monitor] = of_kind(docs, "PodMonitor")[:1]
    components = monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "relay"
    assert "relay" in components
    assert {"port": "metrics", "path": "/metrics"}.items() <= next(
        e for e in monitor["spec"]["podMetricsEndpoints"] if e["port"] == "metrics"
    ).items()


def test_a_relay_without_its_dsn_secret_is_refused() -> None:
    values = scenario_values("kafka-keda")
    values["outboxRelay"]["dsn"]["secretName"] = ""
    with pytest.raises(helm.HelmError, match=r"outboxRelay\.dsn\.secretName"):
        render(values)


def test_the_relay_is_off_by_default() -> None:
    values = scenario_values("knative")
    assert not [d for d in render(values) if d["metadata"]["name"] == NAME]
