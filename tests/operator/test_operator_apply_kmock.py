"""The real operator against the emulator with server-side apply: dropped fields go.

The emulator tracks field ownership per manager as the API server does (``applying``), so a
child field the operator stops sending stays only if some manager still owns it. A resumed
DLQArchive must lose its ScaledObject's paused-replicas annotation (else KEDA keeps the drainer
at zero for good); a BackupPolicy moved to server-side encryption must lose the key volume.
"""

from __future__ import annotations

from typing import Any

import pytest
from operator_harness import Cluster, eventually

from tidal_operator.dlqs import PAUSED_REPLICAS

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
