"""The operator's children, from the sample resources, meet the same upstream rules.

The DLQArchive's ScaledObject goes through KEDA's kafka scaler rules like the chart's; the
CronJobs' schedules through the CronJob controller's parser (robfig/cron v3.0.1, whose own test
cases tests/operator/test_operator_cron.py runs against ``check_cron``). The cross-cluster
demo's Restore (k8s/dev/backup-demo/restore.sh) is planned with its BackupLocation as the
operator reads it after a sync.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fidelity.catalog import RULES
from tests.fidelity.rules import ROOT, Cluster, violations
from tests.fidelity.serving import FEATURE_DEFAULTS

from tidal_operator.checks import check_cron
from tidal_operator.config import OperatorConfig
from tidal_operator.locations import backups_of
from tidal_operator.reconciling import KINDS, plan

DEMO_DIR = ROOT / "k8s" / "dev" / "backup-demo"
DEMO = [DEMO_DIR / "backuppolicy.yaml", DEMO_DIR / "backuplocation.yaml"]
SAMPLES = [*sorted((ROOT / "k8s" / "samples").glob("*.yaml")), *DEMO]


def children(path: Path) -> list[dict[str, Any]]:
    return planned(yaml.safe_load(path.read_text(encoding="utf-8")))


def planned(body: dict[str, Any], referenced: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    body["metadata"].setdefault("uid", "00000000-0000-4000-8000-000000000001")
    body["metadata"].setdefault("namespace", "tidal")
    kind = next(kind for kind in KINDS if kind.kind == body["kind"])
    desired = plan(kind, body, OperatorConfig(image="kind.local/tidal:t1"), referenced)
    assert desired.valid, desired.spec
    return [dict(child) for child in desired.children]


def demo_restore(location: dict[str, Any], backup_id: str) -> list[dict[str, Any]]:
    """The children of the demo's Restore of ``backup_id`` (``restore.sh --print``), with the
    demo's BackupLocation synced: its status lists that backup of the demo policy."""
    printed = subprocess.run(
        ["bash", str(DEMO_DIR / "restore.sh"), "--print", backup_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = yaml.safe_load(printed)
    listing = {"policies": {body["spec"]["source"]["policy"]: [[backup_id, "cv", 10, 100]]}}
    return planned(body, location | {"status": {"backups": backups_of(listing)}})


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_children_of_every_sample_meet_the_upstream_rules(path: Path) -> None:
    docs = children(path)
    assert violations(RULES, docs, Cluster(dict(FEATURE_DEFAULTS), tuple(docs))) == []
    for cron in (doc for doc in docs if doc["kind"] == "CronJob"):
        check_cron(cron["spec"]["schedule"], field=cron["metadata"]["name"])
        assert cron["spec"]["timeZone"] == "Etc/UTC"


def test_the_demo_restore_runs_as_a_job_on_its_locations_store() -> None:
    """Issue 16: the cross-cluster demo's Restore names its BackupLocation; the operator's plan
    is one Job that reads the location's bucket with the location's read-only credentials."""
    location = yaml.safe_load((DEMO_DIR / "backuplocation.yaml").read_text(encoding="utf-8"))
    docs = demo_restore(location, "2026-12-06T09-30-00Z")
    assert violations(RULES, docs, Cluster(dict(FEATURE_DEFAULTS), tuple(docs))) == []
    [job] = docs
    assert job["kind"] == "Job"
    [main] = job["spec"]["template"]["spec"]["containers"]
    args, store = main["args"], location["spec"]["store"]
    assert args[args.index("--bucket") + 1] == store["bucket"]
    assert args[args.index("--endpoint") + 1] == store["endpoint"]
    assert args[args.index("--backup-id") + 1] == "2026-12-06T09-30-00Z"
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in main["env"] if "valueFrom" in e}
    assert secrets == {store["credentials"]["secretName"]}


def test_the_samples_include_a_scaled_object_for_the_keda_rules() -> None:
    kinds = {doc["kind"] for path in SAMPLES for doc in children(path)}
    assert {"ScaledObject", "CronJob", "Deployment"} <= kinds
