"""Knative EventTypes from an App's typed payloads: the event types it emits and consumes, with
their JSON Schemas, registered on the Broker (`tidal manifests --event-types`).

``eventing.knative.dev/v1beta2`` is the version written: the pinned EventType CRD
(../shared/crds/eventing.knative.dev_eventtypes.yaml) stores v1beta2 and only v1beta2 has
``spec.schemaData`` ("allows the CloudEvents schema to be stored directly in the EventType";
v1beta3 dropped it for ``spec.attributes``). One EventType per type: every type a subscription
``emits=``, then every type a typed subscription consumes by an exact ``type`` filter; the
schema is the model's (pydantic's JSON Schema, draft 2020-12), compact JSON in ``schemaData``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from tidal._app import App, Subscription
from tidal._manifests.naming import object_name
from tidal._manifests.triggers import Manifest, trigger_filters
from tidal._payloads import json_schema, model_name

API_VERSION: Final = "eventing.knative.dev/v1beta2"
_UNSAFE: Final = re.compile(r"[^a-z0-9.-]+")


def _exact(sub: Subscription, name: str) -> str | None:
    attributes = trigger_filters(sub.filters).get("filter", {}).get("attributes", {})
    return attributes.get(name)  # type: ignore[no-any-return]


def described_types(app: App) -> dict[str, tuple[Any, str | None, str]]:
    """type -> (model or None, source or None, description), emitted types first."""
    types: dict[str, tuple[Any, str | None, str]] = {}
    for sub in app.subscriptions:
        for item in sub.emits:
            types.setdefault(item.type, (item.model, app.name, f"Emitted by {app.name}/{sub.name}"))
    for sub in app.subscriptions:
        event_type = _exact(sub, "type")
        if event_type is not None and sub.payload is not None:
            consumed = f"Consumed by {app.name}/{sub.name}"
            types.setdefault(event_type, (sub.payload.model, _exact(sub, "source"), consumed))
    return types


def event_type(
    app: App, type: str, model: Any, source: str | None, description: str, *, broker: str
) -> Manifest:
    """One EventType on ``broker``; ``schemaData`` when the type has a model."""
    spec: dict[str, Any] = {
        "type": type,
        "reference": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": broker},
        "description": description if model is None else f"{description} ({model_name(model)})",
    }
    if source is not None:
        spec["source"] = source
    if model is not None:
        spec["schemaData"] = json.dumps(json_schema(model), separators=(",", ":"))
    name = _UNSAFE.sub("-", type.lower()).strip("-.")
    return {
        "apiVersion": API_VERSION,
        "kind": "EventType",
        "metadata": {
            "name": object_name(app.name, name),
            "labels": {"app.kubernetes.io/name": app.name},
        },
        "spec": spec,
    }


def event_types(app: App, *, broker: str) -> list[Manifest]:
    """The EventTypes of ``app``'s emitted and typed consumed event types."""
    return [
        event_type(app, t, model, source, text, broker=broker)
        for t, (model, source, text) in described_types(app).items()
    ]
