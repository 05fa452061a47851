"""A Restore that names a BackupLocation but no backup id: the operator picks one from the
location's synced listing, so the restore Job only reads the store (Velero's restores name a
Backup the location synced; a restore left to choose would write verification results into
manifests, which the location's read-only credentials refuse)."""

from __future__ import annotations

from typing import Any

import pytest

from tidal_operator.checks import SpecError
from tidal_operator.locations import resolve

POLICY = "shop/events"


def entry(identifier: str, *, policy: str = POLICY, **flags: bool) -> dict[str, Any]:
    state = {"complete": True, "verified": True, "partiallyFailed": False} | flags
    return {"policy": policy, "id": identifier, **state, "events": 10, "bytes": 100}


def location(backups: list[dict[str, Any]] | None) -> dict[str, Any]:
    status = {} if backups is None else {"backups": backups}
    store = {"bucket": "b", "prefix": "p", "credentials": {"secretName": "read-only"}}
    return {"metadata": {"name": "shared"}, "spec": {"store": store}, "status": status}


def restore(**source: Any) -> dict[str, Any]:
    return {"source": {"location": "shared", "policy": POLICY, **source}}


def test_no_backup_id_takes_the_newest_complete_verified_backup_of_the_policy() -> None:
    listed = [  # newest first, as the sync lists them
        entry("t5", policy="shop/other"),
        entry("t4", verified=False),
        entry("t3", partiallyFailed=True),
        entry("t2", complete=False),
        entry("t1"),
        entry("t0"),
    ]
    spec = resolve(restore(), location(listed))
    assert spec["source"]["backupId"] == "t1"
    assert spec["source"]["store"]["credentials"]["secretName"] == "read-only"


def test_a_named_backup_id_is_kept() -> None:
    spec = resolve(restore(backupId="t0"), location([entry("t1"), entry("t0")]))
    assert spec["source"]["backupId"] == "t0"


@pytest.mark.parametrize(
    ("backups", "reason"),
    [(None, "BackupNotSynced"), ([entry("t1", verified=False)], "NoVerifiedBackup")],
)
def test_nothing_to_pick_is_refused_with_a_reason(
    backups: list[dict[str, Any]] | None, reason: str
) -> None:
    with pytest.raises(SpecError) as refused:
        resolve(restore(), location(backups))
    assert refused.value.reason == reason
