"""The operator's children, from the sample resources, meet the same upstream rules.

The DLQArchive's ScaledObject goes through KEDA's kafka scaler rules like the chart's; the
CronJobs' schedules through the CronJob controller's parser (robfig/cron v3.0.1, whose own test
cases tests/operator/test_operator_cron.py runs against ``check_cron``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fidelity.catalog import RULES
from tests.fidelity.rules import ROOT, Cluster, violations
from tests.fidelity.serving import FEATURE_DEFAULTS

from tidal_operator.checks import check_cron
from tidal_operator.config import OperatorConfig
from tidal_operator.reconciling import KINDS, plan

DEMO = ROOT / "k8s" / "dev" / "backup-demo" / "backuppolicy.yaml"
SAMPLES = [*sorted((ROOT / "k8s" / "samples").glob("*.yaml")), DEMO]


def children(path: Path) -> list[dict[str, Any]]:
    body = yaml.safe_load(path.read_text(encoding="utf-8"))
    body["metadata"].setdefault("uid", "00000000-0000-4000-8000-000000000001")
    body["metadata"].setdefault("namespace", "tidal")
    kind = next(kind for kind in KINDS if kind.kind == body["kind"])
    desired = plan(kind, body, OperatorConfig(image="kind.local/tidal:t1"))
    assert desired.valid, desired.spec
    return [dict(child) for child in desired.children]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_children_of_every_sample_meet_the_upstream_rules(path: Path) -> None:
    docs = children(path)
    assert violations(RULES, docs, Cluster(dict(FEATURE_DEFAULTS), tuple(docs))) == []
    for cron in (doc for doc in docs if doc["kind"] == "CronJob"):
        check_cron(cron["spec"]["schedule"], field=cron["metadata"]["name"])
        assert cron["spec"]["timeZone"] == "Etc/UTC"


def test_the_samples_include_a_scaled_object_for_the_keda_rules() -> None:
    kinds = {doc["kind"] for path in SAMPLES for doc in children(path)}
    assert {"ScaledObject", "CronJob", "Deployment"} <= kinds
