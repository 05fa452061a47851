"""The operator's port to the Kubernetes API for children: apply, list, delete.

kopf watches and patches the custom resources itself; the children (CronJobs, Jobs,
Deployments, ScaledObjects), the pods whose results are read and the BackupLocation a Restore
names go through ``KubeApi``.
``HttpKubeApi`` speaks plain REST with aiohttp (kopf's own dependency), authenticated with the
same ``kopf.ConnectionInfo`` the login handler gives kopf. Used by ``tidal_operator.handlers``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import aiohttp
import kopf

Manifest = dict[str, Any]
Credentials = Callable[[], Awaitable[kopf.ConnectionInfo]]

FIELD_MANAGER: Final = "tidal-operator"
RESOURCES: Final = {
    "Pod": ("v1", "pods"),
    "Job": ("batch/v1", "jobs"),
    "CronJob": ("batch/v1", "cronjobs"),
    "Deployment": ("apps/v1", "deployments"),
    "ScaledObject": ("keda.sh/v1alpha1", "scaledobjects"),
    "BackupLocation": ("tidal.dev/v1alpha1", "backuplocations"),
}
LEGACY_MANAGERS: Final = frozenset({"Python"})
"""Managers of children an earlier operator created with a plain POST: it sent no fieldManager,
so the API server named the manager after the User-Agent's first product (aiohttp's
``Python/3.x aiohttp/y``; apiserver pkg/endpoints/handlers/create.go, managerOrUserAgent)."""
IMMUTABLE: Final = frozenset({"Job"})  # a Job's pod template cannot change: applied once


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status (404: the kind is not installed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class KubeApi(Protocol):
    """What the handlers need from the API server."""

    async def apply(self, manifest: Mapping[str, Any]) -> Manifest: ...

    async def get(self, kind: str, namespace: str, name: str) -> Manifest | None: ...

    async def list(
        self, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[Manifest]: ...

    async def delete(self, kind: str, namespace: str, name: str) -> None: ...


def collection_path(kind: str, namespace: str) -> str:
    """``/api/v1/namespaces/ns/pods`` or ``/apis/<group>/<version>/namespaces/ns/<plural>``."""
    api_version, plural = RESOURCES[kind]
    root = "/api" if "/" not in api_version else "/apis"
    return f"{root}/{api_version}/namespaces/{namespace}/{plural}"


def matches(item: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """The item carries every label (lists are filtered here too, not only by the server)."""
    have = item.get("metadata", {}).get("labels") or {}
    return all(have.get(key) == value for key, value in labels.items())


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two FieldsV1 sets as one."""
    merged = dict(a)
    for key, value in b.items():
        merged[key] = union(merged.get(key, {}), value)
    return merged


def adopted(managed: list[Manifest]) -> list[Manifest] | None:
    """managedFields with the fields of ``LEGACY_MANAGERS``' Update entries moved into this
    operator's Apply entry, so that the next apply removes those it no longer sends (as
    client-go's csaupgrade does for kubectl); None when there is nothing to hand over."""
    legacy = [
        entry
        for entry in managed
        if entry.get("manager") in LEGACY_MANAGERS
        and entry.get("operation") == "Update"
        and not entry.get("subresource")
    ]
    ours = [
        e for e in managed if (e.get("manager"), e.get("operation")) == (FIELD_MANAGER, "Apply")
    ]
    if not legacy or len(ours) != 1:
        return None
    fields = dict(ours[0].get("fieldsV1") or {})
    for entry in legacy:
        fields = union(fields, entry.get("fieldsV1") or {})
    kept = [entry for entry in managed if entry not in legacy]
    return [{**entry, "fieldsV1": fields} if entry is ours[0] else entry for entry in kept]


class HttpKubeApi:
    """``KubeApi`` over aiohttp; re-asks for credentials once when the server answers 401."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    async def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            info = await self._credentials()
            secure = info.server.startswith("https:")
            connector = aiohttp.TCPConnector(ssl=info.as_ssl_context() if secure else False)
            self._session = aiohttp.ClientSession(
                base_url=info.server.rstrip("/") + "/",
                headers=info.as_http_headers(),
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (the operator's cleanup handler calls it)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            session = await self._open()
            async with session.request(method, path.lstrip("/"), **kwargs) as response:
                if response.status == 401 and attempt == 1:
                    await self.close()
                    continue
                text = await response.text()
                if response.status >= 400:
                    raise KubeError(response.status, text[:500])
                return json.loads(text) if text else {}
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """One object, or None when it does not exist."""
        try:
            return dict(await self._call("GET", f"{collection_path(kind, namespace)}/{name}"))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def apply(self, manifest: Mapping[str, Any]) -> Manifest:
        """Server-side apply the object as ``FIELD_MANAGER``, creating it when absent.

        Every write of a child is an apply by this one field manager, so a field dropped from
        the manifest is removed from the object; a POST would make its creator a second owner
        that keeps every field it set. An existing Job (immutable) is left as it is.
        """
        kind, meta = manifest["kind"], manifest["metadata"]
        if kind in IMMUTABLE:
            existing = await self.get(kind, meta["namespace"], meta["name"])
            if existing is not None:
                return existing
        applied = await self._apply(manifest)
        managed = adopted(applied.get("metadata", {}).get("managedFields") or [])
        if managed is None:
            return applied
        await self._hand_over(applied, managed)
        return await self._apply(manifest)

    async def _apply(self, manifest: Mapping[str, Any]) -> Manifest:
        meta = manifest["metadata"]
        return dict(
            await self._call(
                "PATCH",
                f"{collection_path(manifest['kind'], meta['namespace'])}/{meta['name']}",
                params={"fieldManager": FIELD_MANAGER, "force": "true"},
                data=json.dumps(manifest),
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
        )

    async def _hand_over(self, obj: Mapping[str, Any], managed: list[Manifest]) -> None:
        """Write ``managed`` as the object's managedFields, unless it changed meanwhile."""
        meta = obj["metadata"]
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "replace", "path": "/metadata/managedFields", "value": managed},
        ]
        await self._call(
            "PATCH",
            f"{collection_path(obj['kind'], meta['namespace'])}/{meta['name']}",
            params={"fieldManager": FIELD_MANAGER},
            data=json.dumps(patch),
            headers={"Content-Type": "application/json-patch+json"},
        )

    async def list(self, kind: str, namespace: str, labels: Mapping[str, str]) -> list[Manifest]:
        """Objects of a kind in a namespace carrying every label; kind set on each item."""
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        data = await self._call(
            "GET", collection_path(kind, namespace), params={"labelSelector": selector}
        )
        items = [dict(item) for item in data.get("items", []) if matches(item, labels)]
        return [{**item, "kind": kind} for item in items]

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete one object and, in the background, what it owns; absent is fine."""
        try:
            body = {"propagationPolicy": "Background"}
            await self._call("DELETE", f"{collection_path(kind, namespace)}/{name}", json=body)
        except KubeError as error:
            if error.status != 404:
                raise
