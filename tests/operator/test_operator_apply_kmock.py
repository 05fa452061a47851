"""The real operator against the emulator with server-side apply: dropped fields go.

The emulator tracks field ownership per manager as the API server does (``applying``), so a
child field the operator stops sending stays only if some manager still owns it. A resumed
DLQArchive must lose its ScaledObject's paused-replicas annotation (else KEDA keeps the drainer
at zero for good); a BackupPolicy moved to server-side encryption must lose the key volume.
"""

from __future__ import annotations

from typing import Any

import kmock
import pytest
from operator_harness import Cluster, eventually

from tidal_operator.dlqs import PAUSED_REPLICAS
from tidal_operator.rbac import cluster_rules

pytestmark = pytest.mark.usefixtures("operator")

ARCHIVE: dict[str, Any] = {
    "source": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders.dlq"]},
    "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
}
POLICY: dict[str, Any] = {
    "sources": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders"]},
    "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
}


async def test_resuming_an_archive_created_suspended_unpauses_its_scaler(
    cluster: Cluster,
) -> None:
    await cluster.create("DLQArchive", "orders", ARCHIVE | {"suspend": True})

    async def annotations() -> dict[str, str]:
        scaled = await cluster.get("ScaledObject", "orders-drain") or {}
        return dict(scaled.get("metadata", {}).get("annotations") or {})

    async def paused() -> bool:
        return (await annotations()).get(PAUSED_REPLICAS) == "0"

    await eventually(paused, what="the ScaledObject paused at zero")
    await cluster.patch("DLQArchive", "orders", {"spec": {"suspend": False}})

    async def resumed() -> bool:
        return PAUSED_REPLICAS not in await annotations()

    await eventually(resumed, what="the paused-replicas annotation removed")
    await cluster.delete_custom()


async def test_moving_a_policy_to_server_side_encryption_drops_the_key_volume(
    cluster: Cluster,
) -> None:
    client_side = {"mode": "ClientSide", "clientSide": {"keySecretRef": {"name": "backup-key"}}}
    await cluster.create("BackupPolicy", "orders", POLICY | {"encryption": client_side})

    async def volumes() -> list[str]:
        cron = await cluster.get("CronJob", "orders-backup") or {}
        pod = cron.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {})
        return [v["name"] for v in pod.get("spec", {}).get("volumes", [])]

    async def keyed() -> bool:
        return "encryption-key" in await volumes()

    await eventually(keyed, what="the key volume mounted")
    server_side = {"mode": "ServerSide", "clientSide": None}
    await cluster.patch("BackupPolicy", "orders", {"spec": {"encryption": server_side}})

    async def unkeyed() -> bool:
        return "encryption-key" not in await volumes()

    await eventually(unkeyed, what="the key volume removed")
    await cluster.delete_custom()


def verbs_of(request: Any) -> set[str]:
    """The verbs the API server authorizes a request with: a server-side apply is a patch,
    and a create too when it creates."""
    if request.method == "PATCH":
        return (
            {"patch", "create"}
            if "apply-patch" in request.headers.get("Content-Type", "")
            else {"patch"}
        )
    if request.method == "GET":
        return {"watch"} if request.params.get("watch") else {"get" if request.name else "list"}
    return {"POST": {"create"}, "DELETE": {"delete"}}.get(str(request.method), {"?"})


async def test_every_request_of_the_operator_is_granted_by_its_rules(
    cluster: Cluster, emulator: kmock.KubernetesEmulator
) -> None:
    """kmock checks no RBAC: compare what the operator asked with what its ClusterRole grants
    (a Job created by server-side apply needs patch, which create-only Jobs lacked)."""
    await cluster.create("DLQArchive", "orders", ARCHIVE | {"redrive": {"runId": "r1"}})
    await cluster.create("BackupPolicy", "orders", POLICY)

    async def redrive_job() -> list[str]:
        return [name for name in await cluster.names("Job") if "-redrive-" in name]

    await eventually(redrive_job, what="the re-drive Job")
    await eventually(lambda: cluster.get("CronJob", "orders-backup"), what="the backup CronJob")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in cluster_rules():
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    children = {"cronjobs", "jobs", "deployments", "scaledobjects", "pods"}
    asked = [r for r in list(emulator) if r.resource is not None and r.resource.plural in children]
    assert any(r.resource.plural == "jobs" and r.method == "PATCH" for r in asked)
    for request in asked:
        key = (request.resource.group or "", request.resource.plural)
        assert verbs_of(request) <= granted.get(key, set()), (request.method, key)
    await cluster.delete_custom()
