"""Reading specs: defaults from the CRD schema, and every refusal with its reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tidal_operator.checks import SpecError, check_cron, seconds
from tidal_operator.specs import backup_policy, dlq_archive

META = {"name": "orders", "namespace": "shop", "uid": "u-1", "generation": 3}
POLICY: dict[str, Any] = {
    "sources": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders"]},
    "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
}
ARCHIVE: dict[str, Any] = {
    "source": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders.dlq"]},
    "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``base`` with the dotted ``path`` set (None deletes it)."""
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def test_a_minimal_policy_gets_the_documented_defaults() -> None:
    spec = backup_policy(META, POLICY)
    assert (spec.continuous, spec.schedule, spec.max_age, spec.max_count) == (
        False,
        "0 2 * * *",
        "35d",
        None,
    )
    assert (spec.encryption.mode, spec.encryption.algorithm) == ("ServerSide", "AES256")
    assert spec.destination.access_key_id_key == "AWS_ACCESS_KEY_ID"
    assert (spec.backoff_limit, spec.history_limit, spec.suspend) == (2, 3, False)


def test_a_minimal_archive_gets_the_documented_defaults() -> None:
    spec = dlq_archive(META, ARCHIVE)
    assert spec.consumer_group == "tidal-dlq-archive.shop.orders"
    assert (spec.max_age, spec.prune_schedule, spec.time_partition) == ("14d", "30 3 * * *", "Hour")
    assert (spec.compression, spec.max_replicas, spec.redrive.run_id) == ("zstd", 2, None)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("sources.topics", None, "NoTopicsSelected"),
        ("sources.include", ["(unclosed"], "InvalidPattern"),
        ("sources.exclude", ["[z-a]"], "InvalidPattern"),
        ("schedule", "61 * * * *", "InvalidSchedule"),
        ("schedule", "0 2 * * 8", "InvalidSchedule"),
        ("schedule", "CRON_TZ=UTC 2 * * *", "InvalidSchedule"),
        ("schedule", "0 2 * *", "SchemaViolation"),
        ("retention.maxAge", "0d", "InvalidDuration"),
        ("retention.maxAge", "35 days", "SchemaViolation"),
        ("retention.maxCount", 0, "SchemaViolation"),
        ("mode", "Hourly", "SchemaViolation"),
        ("destination.bucket", "Not_A_Bucket", "SchemaViolation"),
        ("destination.credentials", None, "SchemaViolation"),
        ("encryption", {"mode": "ClientSide"}, "MissingEncryptionKey"),
        ("encryption", {"serverSide": {"algorithm": "aws:kms"}}, "MissingKmsKey"),
        ("sources.kafka.bootstrapServers", "kafka", "SchemaViolation"),
    ],
)
def test_an_invalid_policy_is_refused_with_a_reason(path: str, value: Any, reason: str) -> None:
    with pytest.raises(SpecError) as refused:
        backup_policy(META, with_(POLICY, path, value))
    assert refused.value.reason == reason
    assert refused.value.message


def test_a_schema_violation_names_the_field() -> None:
    with pytest.raises(SpecError, match=r"spec\.destination\.bucket"):
        backup_policy(META, with_(POLICY, "destination.bucket", "x"))


def test_a_policy_name_too_long_for_its_children_is_refused() -> None:
    with pytest.raises(SpecError) as refused:
        backup_policy({**META, "name": "n" * 46}, POLICY)
    assert refused.value.reason == "NameTooLong"


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("source.topics", [], "SchemaViolation"),
        ("redrive.target", {"topic": "orders.dlq"}, "RedriveLoop"),
        (
            "redrive.filter",
            {"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
            "InvalidRedriveWindow",
        ),
        ("redrive.runId", "Not Valid", "SchemaViolation"),
        ("retention.schedule", "* * * * * *", "SchemaViolation"),
        ("retention.schedule", "0 25 * * *", "InvalidSchedule"),
        ("segments.maxAge", "0s", "InvalidDuration"),
        ("compression", "lz4", "SchemaViolation"),
    ],
)
def test_an_invalid_archive_is_refused_with_a_reason(path: str, value: Any, reason: str) -> None:
    with pytest.raises(SpecError) as refused:
        dlq_archive(META, with_(ARCHIVE, path, value))
    assert refused.value.reason == reason


def test_redriving_into_another_cluster_topic_of_the_same_name_is_no_loop() -> None:
    target = {"topic": "orders.dlq", "kafka": {"bootstrapServers": "other:9092"}}
    spec = dlq_archive(META, with_(ARCHIVE, "redrive.target", target))
    assert spec.redrive.topic == "orders.dlq"
    assert spec.redrive.kafka is not None


@pytest.mark.parametrize(
    "expression",
    [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0 1,15 * MON-FRI",
        "30 3 * JAN-MAR 0",
        "@daily",
        "0-59/5 * * * 6",
    ],
)
def test_valid_cron_expressions_pass(expression: str) -> None:
    check_cron(expression, field="spec.schedule")


@pytest.mark.parametrize("expression", ["0 2 * * * *", "5-1 * * * *", "*/0 * * * *", "x * * * *"])
def test_invalid_cron_expressions_fail(expression: str) -> None:
    with pytest.raises(SpecError, match=r"spec\.schedule"):
        check_cron(expression, field="spec.schedule")


def test_durations_add_up_their_units() -> None:
    assert seconds("35d", field="f") == 35 * 86_400
    assert seconds("1h30m", field="f") == 5400
    assert seconds("2w", field="f") == 14 * 86_400
    with pytest.raises(SpecError):
        seconds("1y", field="f")
