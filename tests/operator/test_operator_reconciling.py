"""The pure reconcile: body -> plan (children or a refusal), obsolete children, whole status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tidal_operator.config import OperatorConfig
from tidal_operator.reconciling import BACKUP_POLICY, DLQ_ARCHIVE, obsolete, plan, summarize
from tidal_operator.summarizing import Observed

CONFIG = OperatorConfig()
NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def body(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    metadata = {"name": "orders", "namespace": "shop", "uid": "u-1", "generation": 2} | meta
    return {"metadata": metadata, "spec": spec}


POLICY = {
    "sources": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders"]},
    "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
}


def existing(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}}


def test_a_valid_policy_plans_its_children() -> None:
    desired = plan(BACKUP_POLICY, body(POLICY), CONFIG)
    assert desired.valid
    assert [(c["kind"], c["metadata"]["name"]) for c in desired.children] == [
        ("CronJob", "orders-backup")
    ]
    assert desired.owner.generation == 2


def test_switching_a_policy_to_continuous_makes_its_cronjob_obsolete() -> None:
    desired = plan(BACKUP_POLICY, body(POLICY | {"mode": "Continuous"}), CONFIG)
    found = [existing("CronJob", "orders-backup"), existing("Deployment", "orders-backup")]
    assert obsolete(desired, found) == [existing("CronJob", "orders-backup")]


def test_an_invalid_spec_plans_nothing_and_deletes_nothing() -> None:
    desired = plan(BACKUP_POLICY, body(POLICY | {"schedule": "99 * * * *"}), CONFIG)
    assert not desired.valid
    assert desired.children == ()
    assert obsolete(desired, [existing("CronJob", "orders-backup")]) == []


def test_a_missing_spec_is_refused_not_crashed_on() -> None:
    desired = plan(DLQ_ARCHIVE, {"metadata": {"name": "x", "namespace": "shop"}}, CONFIG)
    assert not desired.valid
    status = summarize(desired, Observed(children={}), {}, now=NOW)
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "False"
    assert ready[0]["reason"] == "SchemaViolation"


def test_a_new_redrive_run_makes_the_previous_redrive_job_obsolete_but_not_cronjob_runs() -> None:
    spec = {
        "source": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders.dlq"]},
        "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
        "redrive": {"runId": "second"},
    }
    desired = plan(DLQ_ARCHIVE, body(spec), CONFIG)
    names = {c["kind"]: c["metadata"]["name"] for c in desired.children}
    found = [
        existing("Job", "orders-redrive-00000000"),
        existing("Job", names["Job"]),
        existing("Deployment", "orders-drain"),
        existing("Pod", "not-managed"),
    ]
    assert obsolete(desired, found) == [existing("Job", "orders-redrive-00000000")]


def test_summarize_stamps_conditions_with_time_and_generation() -> None:
    desired = plan(BACKUP_POLICY, body(POLICY), CONFIG)
    status = summarize(desired, Observed(children={}), {}, now=NOW)
    assert status["observedGeneration"] == 2
    assert {c["type"] for c in status["conditions"]} == {
        "SpecValid",
        "Ready",
        "Degraded",
        "Progressing",
        "BackupSucceeded",
    }
    for condition in status["conditions"]:
        assert condition["lastTransitionTime"] == "2025-05-01T12:00:00Z"
        assert condition["observedGeneration"] == 2
