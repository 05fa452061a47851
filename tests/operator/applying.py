"""Server-side apply for kmock's emulator: field ownership per manager, as the API server keeps it.

kmock merges every PATCH into the stored object, so a field an operator stops sending stays
there whatever the request was. ``ApplyingEmulator`` answers ``application/apply-patch+yaml``
PATCHes the way the API server does (Kubernetes docs, "Server-Side Apply": "Field management",
"Merge strategy"; sigs.k8s.io/structured-merge-diff): each manager owns the fields it last set;
an apply sets the fields of its configuration, takes over (``force``) those another manager set
differently, and removes the fields the same manager applied before and no longer sends, unless
another manager still owns them. A POST or a plain PATCH makes its manager (``fieldManager``, else
the User-Agent's product, as the API server defaults it) the owner of every field it sent, with
operation Update: a manager that creates with POST and updates with apply is two managers, and a
field dropped later is kept. Lists of objects that all carry ``name`` merge by name (containers,
env, volumes, volumeMounts); other lists are atomic. Ownership lives where the API server keeps
it, in ``metadata.managedFields`` (FieldsV1: ``f:<field>``, ``k:{"name":...}`` for a named list
item), so a client can read it and hand fields over by patching it. Used by
tests/operator/conftest.py.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp.web
import kmock
from operator_harness import VersioningEmulator

Path = tuple[Any, ...]
Key = tuple[Any, str | None, str]
Owners = dict[tuple[str, str], set[Path]]
APPLY = "application/apply-patch+yaml"
IDENTITY = frozenset({("metadata", "name"), ("metadata", "namespace"), ("apiVersion",), ("kind",)})
SERVER_SET = frozenset({"resourceVersion", "managedFields", "uid", "creationTimestamp"})


def keyed(items: Any) -> bool:
    """A list merged by ``name`` (an associative list), not replaced whole."""
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(i, dict) and "name" in i for i in items)
    )


def leaves(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Paths of the fields a configuration sets: scalars, atomic lists, empty maps."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*prefix, key))
    elif keyed(value):
        for item in value:
            yield from leaves(item, (*prefix, ("name", item["name"])))
    else:
        yield prefix


def lookup(obj: Any, path: Path) -> Any:
    """The value at ``path``, or KeyError."""
    for step in path:
        if isinstance(step, tuple):
            obj = next(i for i in obj if isinstance(i, dict) and i.get("name") == step[1])
        else:
            obj = obj[step]
    return obj


def remove(obj: dict[str, Any], path: Path) -> None:
    """Delete the field at ``path`` and the maps and list items left empty by it."""
    parents = [obj]
    try:
        for step in path[:-1]:
            parents.append(lookup(parents[-1], (step,)))
    except (KeyError, StopIteration):
        return
    for depth in range(len(path) - 1, -1, -1):
        holder, step = parents[depth], path[depth]
        if isinstance(step, tuple):
            holder[:] = [i for i in holder if i and i != {"name": step[1]}]
        else:
            holder.pop(step, None)
        if depth and not holder:
            continue
        break


def merge(into: Any, config: Any) -> Any:
    """``config`` laid over ``into``: maps by key, named lists by name, the rest replaced."""
    if isinstance(into, dict) and isinstance(config, dict):
        merged = dict(into)
        for key, value in config.items():
            merged[key] = merge(into.get(key), value)
        return merged
    if keyed(config) and isinstance(into, list):
        by_name = {i.get("name"): i for i in into if isinstance(i, dict)}
        named = [merge(by_name.get(item["name"]), item) for item in config]
        sent = {item["name"] for item in config}
        return named + [i for i in into if not (isinstance(i, dict) and i.get("name") in sent)]
    return copy.deepcopy(config)


def manager_of(request: kmock.Request) -> str:
    """The request's field manager: ``fieldManager``, else the User-Agent's first product."""
    agent = request.headers.get("User-Agent", "")
    return request.params.get("fieldManager") or agent.split("/", 1)[0] or "unknown"


class ApplyingEmulator(VersioningEmulator):
    """The emulator with server-side apply and per-manager field ownership (see the module)."""

    _applied_versions = itertools.count(10_000)

    async def _handle(self, request: kmock.Request) -> Any:
        content = request.headers.get("Content-Type", "")
        k8s = request.resource is not None
        if k8s and request.method == kmock.method.PATCH and content.startswith(APPLY):
            return await self._apply(request)
        response = await super()._handle(request)
        writes = (kmock.action.CREATE, kmock.action.UPDATE)
        if k8s and isinstance(request.data, dict) and request.action in writes:
            self._own_update(request)
        return response

    def _key(self, request: kmock.Request) -> Key:
        data = request.data if isinstance(request.data, dict) else {}
        name = request.name or data.get("metadata", {}).get("name")
        namespace = request.namespace or data.get("metadata", {}).get("namespace")
        return (request.resource, namespace, name)

    def _own_update(self, request: kmock.Request) -> None:
        """A POST or plain PATCH: its manager owns what it sent (operation Update)."""
        key = self._key(request)
        if request.params.get("dryRun") or key not in self._objects or self._objects[key].deleted:
            return
        fields = set(leaves(configuration(request.data))) - IDENTITY
        owners = owners_of(self._objects[key].raw)
        for paths in owners.values():
            paths -= fields
        owners.setdefault((manager_of(request), "Update"), set()).update(fields)
        self._objects[key].patch({"metadata": {"managedFields": rendered(owners)}})

    async def _apply(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        config = configuration(request.data)
        manager, key = manager_of(request), self._key(request)
        async with self._lock:
            exists = key in self._objects and not self._objects[key].deleted
            current: dict[str, Any] = copy.deepcopy(self._objects[key].raw) if exists else {}
            owners = owners_of(current)
            fields = set(leaves(config)) - IDENTITY
            mine = owners.setdefault((manager, "Apply"), set())
            for other, paths in owners.items():
                if other != (manager, "Apply"):
                    paths -= {p for p in fields if _differs(current, config, p)}
            kept = set().union(*(p for o, p in owners.items() if o != (manager, "Apply")))
            for path in sorted(mine - fields - kept, key=len, reverse=True):
                remove(current, path)
            result = merge(current, config)
            owners[(manager, "Apply")] = fields
            version = str(next(self._applied_versions))
            result.setdefault("metadata", {})["resourceVersion"] = version
            result["metadata"]["managedFields"] = rendered(owners)
            if exists:
                self._objects[key].delete()
                self._objects[key].create(result)
                event = "MODIFIED"
            else:
                self._objects[key] = result
                event = "ADDED"
            await self._buses[request.resource].put({"type": event, "object": result})
        return aiohttp.web.json_response(result, status=200 if exists else 201)


def _step(key: str) -> Any:
    return ("name", json.loads(key[2:])["name"]) if key.startswith("k:") else key[2:]


def _paths(trie: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    if not trie:
        yield prefix
    for key, sub in trie.items():
        if key != ".":
            yield from _paths(sub, (*prefix, _step(key)))


def owners_of(obj: Mapping[str, Any]) -> Owners:
    """Each (manager, operation)'s fields, read from ``metadata.managedFields``."""
    owners: Owners = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        fields = set(_paths(entry.get("fieldsV1") or {})) - {()}
        owners.setdefault((entry["manager"], entry["operation"]), set()).update(fields)
    return owners


def rendered(owners: Owners) -> list[dict[str, Any]]:
    """``metadata.managedFields`` of ``owners`` (entries that own nothing are dropped)."""
    entries = []
    for (manager, operation), paths in sorted(owners.items()):
        trie: dict[str, Any] = {}
        for path in sorted(paths, key=str):
            node = trie
            for step in path:
                name = (
                    f"k:{json.dumps({'name': step[1]})}" if isinstance(step, tuple) else f"f:{step}"
                )
                node = node.setdefault(name, {})
        if trie:
            entries.append(
                {
                    "manager": manager,
                    "operation": operation,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": trie,
                }
            )
    return entries


def configuration(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a client sent, less the fields the server sets itself."""
    config = copy.deepcopy(dict(data))
    meta = config.get("metadata")
    if isinstance(meta, dict):
        for field in SERVER_SET:
            meta.pop(field, None)
    config.pop("status", None)
    return config


def _differs(current: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> bool:
    try:
        return bool(lookup(current, path) != lookup(config, path))
    except (KeyError, StopIteration, TypeError):
        return True
