"""Helpers for running the real operator against kmock's Kubernetes emulator.

``declare`` makes the emulator serve every resource the operator touches (with verbs and the
status subresource), the two CRDs and a namespace, as kopf's discovery needs. ``Cluster`` is what
a test uses to act as ``kubectl`` and as the controllers that are not there (Job controller,
kubelet, KEDA); ``eventually`` is the bounded wait.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kmock
import pytest

from tidal_operator.crds import all_crds

VERBS = ("list", "watch", "get", "create", "patch", "update", "delete")
NAMESPACE = "tenants"
RESOURCES: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    # path: (kind, namespaced, subresources)
    "tidal.dev/v1alpha1/backuppolicies": ("BackupPolicy", True, ("status",)),
    "tidal.dev/v1alpha1/dlqarchives": ("DLQArchive", True, ("status",)),
    "tidal.dev/v1alpha1/restores": ("Restore", True, ("status",)),
    "tidal.dev/v1alpha1/backuplocations": ("BackupLocation", True, ("status",)),
    "batch/v1/cronjobs": ("CronJob", True, ("status",)),
    "batch/v1/jobs": ("Job", True, ("status",)),
    "apps/v1/deployments": ("Deployment", True, ("status",)),
    "keda.sh/v1alpha1/scaledobjects": ("ScaledObject", True, ("status",)),
    "v1/pods": ("Pod", True, ("status",)),
    "v1/events": ("Event", True, ()),
    "v1/namespaces": ("Namespace", False, ("status",)),
    "apiextensions.k8s.io/v1/customresourcedefinitions": (
        "CustomResourceDefinition",
        False,
        ("status",),
    ),
}
PATHS = {
    "BackupPolicy": "/apis/tidal.dev/v1alpha1",
    "DLQArchive": "/apis/tidal.dev/v1alpha1",
    "Restore": "/apis/tidal.dev/v1alpha1",
    "BackupLocation": "/apis/tidal.dev/v1alpha1",
    "CronJob": "/apis/batch/v1",
    "Job": "/apis/batch/v1",
    "Deployment": "/apis/apps/v1",
    "ScaledObject": "/apis/keda.sh/v1alpha1",
    "Pod": "/api/v1",
}
API_VERSIONS = {kind: path.split("/", 2)[-1] for kind, path in PATHS.items()}
CUSTOM_KINDS = frozenset({"BackupPolicy", "DLQArchive", "Restore", "BackupLocation"})
PLURALS = {
    "BackupPolicy": "backuppolicies",
    "DLQArchive": "dlqarchives",
    "Restore": "restores",
    "BackupLocation": "backuplocations",
    "CronJob": "cronjobs",
    "Job": "jobs",
    "Deployment": "deployments",
    "ScaledObject": "scaledobjects",
    "Pod": "pods",
}


class VersioningEmulator(kmock.KubernetesEmulator):
    """The emulator, plus a new ``metadata.resourceVersion`` on every write, as the API server does.

    kopf tells fresh watch events from stale ones by their resource version, and guards its
    JSON patches with a ``test`` of it (a mismatch is answered 422, as the API server does).
    """

    _versions = itertools.count(100)

    async def _handle(self, request: kmock.Request) -> Any:
        if request.resource is not None and request.action in (
            kmock.action.CREATE,
            kmock.action.UPDATE,
        ):
            await self._check_version(request)
            version = str(next(self._versions))
            if isinstance(request.data, dict):
                request.data.setdefault("metadata", {})["resourceVersion"] = version
            elif isinstance(request.data, list):
                op = {"op": "add", "path": "/metadata/resourceVersion", "value": version}
                request.data.append(op)
        return await super()._handle(request)

    async def _check_version(self, request: kmock.Request) -> None:
        if not isinstance(request.data, list) or request.name is None:
            return
        path = "/metadata/resourceVersion"
        tests = [
            op["value"] for op in request.data if (op.get("op"), op.get("path")) == ("test", path)
        ]
        stored = self.objects[request.resource, request.namespace, request.name]
        if tests and stored.get("metadata", {}).get("resourceVersion") != tests[0]:
            raise kmock.KubernetesError(
                status=422, reason="Invalid", message="resourceVersion changed"
            )


class Cluster:
    """kubectl for the tests: create / patch / delete / get over the emulator's HTTP API."""

    def __init__(self, emulator: kmock.KubernetesEmulator) -> None:
        self.emulator = emulator
        self._uids = 0
        self.custom: set[tuple[str, str]] = set()

    def _url(self, kind: str, name: str | None = None, sub: str | None = None) -> str:
        url = f"{PATHS[kind]}/namespaces/{NAMESPACE}/{PLURALS[kind]}"
        return url + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def _send(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        async with self.emulator.request(method, url, json=body) as response:
            assert response.status < 400, await response.text()
            return dict(await response.json())

    async def create(
        self,
        kind: str,
        name: str,
        spec: dict[str, Any] | None = None,
        *,
        status: dict[str, Any] | None = None,
        **meta: Any,
    ) -> None:
        """Create an object as the API server would store it (uid, generation, version)."""
        self._uids += 1
        metadata = {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"00000000-0000-4000-8000-{self._uids:012d}",
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            **meta,
        }
        body: dict[str, Any] = {
            "apiVersion": API_VERSIONS[kind],
            "kind": kind,
            "metadata": metadata,
        }
        body |= {"spec": spec} if spec is not None else {}
        body |= {"status": status} if status is not None else {}
        await self._send("POST", self._url(kind), body)
        if kind in CUSTOM_KINDS:
            self.custom.add((kind, name))

    async def patch(
        self, kind: str, name: str, body: dict[str, Any], *, sub: str | None = None
    ) -> None:
        await self._send("PATCH", self._url(kind, name, sub), body)

    async def delete(self, kind: str, name: str) -> None:
        await self._send("DELETE", self._url(kind, name))

    async def delete_custom(self) -> None:
        """Delete every custom resource still there and wait for the finalizers to let go."""
        for kind, name in sorted(self.custom):
            if await self.get(kind, name) is not None:
                await self.delete(kind, name)
        for kind, name in sorted(self.custom):

            async def gone(kind: str = kind, name: str = name) -> bool:
                return await self.get(kind, name) is None

            await eventually(gone, what=f"{kind} {name} released by its finalizer")

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        async with self.emulator.get(self._url(kind, name)) as response:
            return dict(await response.json()) if response.status == 200 else None

    async def names(self, kind: str) -> list[str]:
        async with self.emulator.get(self._url(kind)) as response:
            data = await response.json()
        return sorted(item["metadata"]["name"] for item in data.get("items", []))

    async def condition(self, kind: str, name: str, type: str) -> dict[str, Any]:
        body = await self.get(kind, name) or {}
        found = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == type]
        return dict(found[0]) if found else {}


async def eventually(
    check: Callable[[], Awaitable[Any]],
    *,
    within: float = 30.0,  # generous: kopf on a loaded 2-core CI machine
    what: str = "condition",
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {within} s (last: {result!r})")
        await asyncio.sleep(0.05)


def declare(emulator: kmock.KubernetesEmulator) -> None:
    """Every resource the operator and kopf touch, the CRDs and the namespace."""
    for path, (kind, namespaced, subresources) in RESOURCES.items():
        emulator.resources[path] = kmock.ResourceInfo(
            kind=kind,
            namespaced=namespaced,
            verbs=VERBS,
            subresources=subresources,
        )
    crds = "apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in all_crds():
        emulator.objects[crds, None, crd["metadata"]["name"]] = crd
    emulator.objects["v1/namespaces", None, NAMESPACE] = {"metadata": {"name": NAMESPACE}}
