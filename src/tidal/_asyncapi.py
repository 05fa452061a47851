"""An App as an AsyncAPI 3.0 document: what it receives, what it emits, with payload schemas.

`tidal asyncapi module:app` (`tidal.cli._asyncapi`) prints `document`. One channel per
subscription (address ``/<subscription>``, the route `tidal run` serves a Trigger, or the Kafka
topic it consumes), its filters in the description and in ``x-knative-trigger`` (the Trigger's
``filter`` / ``filters``, as `tidal manifests` writes them) and ``x-tidal-data-pattern`` (the
EventBridge content pattern the runtime applies); a ``receive`` operation per subscription and a
``send`` operation per emitted type (``emits=``) on one ``emitted.events`` channel. Messages
carry the CloudEvents binary-mode headers (``ce-*`` over HTTP, ``ce_*`` on Kafka) and the JSON
Schema pydantic makes of the model (`tidal._payloads`), under ``components.schemas``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final, Literal

from tidal._app import App, Subscription
from tidal._manifests.triggers import trigger_filters
from tidal._payloads import model_name
from tidal._settings import KafkaSettings

Transport = Literal["http", "kafka"]
EMITTED: Final = "emitted.events"  # a channel key no subscription (a DNS label) can take
HTTP_BINDING: Final = "0.3.0"
KAFKA_BINDING: Final = "0.5.0"
REF: Final = "#/components/schemas/{model}"


def ce_headers(transport: Transport, *, type: str | None, source: str | None) -> dict[str, Any]:
    """The schema of a binary-mode CloudEvent's headers (HTTP ``ce-``, Kafka ``ce_``)."""
    p = "ce-" if transport == "http" else "ce_"
    properties: dict[str, Any] = {
        f"{p}specversion": {"type": "string", "const": "1.0"},
        f"{p}id": {"type": "string", "minLength": 1, "description": "unique per source"},
        f"{p}source": {"type": "string", "minLength": 1, **_const(source)},
        f"{p}type": {"type": "string", "minLength": 1, **_const(type)},
        f"{p}time": {"type": "string", "format": "date-time"},
        f"{p}subject": {"type": "string"},
        "content-type": {"type": "string", "examples": ["application/json"]},
    }
    if transport == "http":  # on Kafka the partition key is the record's key
        properties[f"{p}partitionkey"] = {"type": "string"}
    required = [f"{p}specversion", f"{p}id", f"{p}source", f"{p}type"]
    return {"type": "object", "required": required, "properties": properties}


def _const(value: str | None) -> dict[str, str]:
    return {} if value is None else {"const": value}


def exact_attribute(sub: Subscription, name: str) -> str | None:
    """The value ``sub``'s filters require of attribute ``name`` exactly, if they do."""
    spec = trigger_filters(sub.filters)
    return spec.get("filter", {}).get("attributes", {}).get(name)  # type: ignore[no-any-return]


def schemas(app: App) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Each model's payload schema by (``receive``, subscription) / (``send``, type), and the
    shared definitions for ``components.schemas`` (refs point there)."""
    inputs: list[tuple[tuple[str, str], Any, Any]] = []
    for sub in app.subscriptions:
        if sub.payload is not None:
            inputs.append((("receive", sub.name), "validation", sub.payload.adapter))
    sent = {e.type: e.model for sub in app.subscriptions for e in sub.emits if e.model}
    if not inputs and not sent:
        return {}, {}
    from pydantic import TypeAdapter

    inputs += [(("send", t), "serialization", TypeAdapter(m)) for t, m in sent.items()]
    by_key, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {key: schema for (key, _), schema in by_key.items()}, definitions.get("$defs", {})


def _message(
    transport: Transport,
    *,
    title: str,
    summary: str,
    type: str | None,
    source: str | None,
    payload: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": title,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "headers": ce_headers(transport, type=type, source=source),
    }
    if payload is not None:
        message["payload"] = payload
    if transport == "kafka":
        key = {"type": "string", "description": "the event's partitionkey (absent: no key)"}
        message["bindings"] = {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING}}
    return message


def _filters_text(sub: Subscription) -> str:
    spec = trigger_filters(sub.filters)
    parts = []
    if "filter" in spec:
        exact = ", ".join(f"{k} = {v!r}" for k, v in spec["filter"]["attributes"].items())
        parts.append(f"Trigger filter: {exact}.")
    elif "filters" in spec:
        parts.append(f"Trigger filters (Knative dialects): {json.dumps(spec['filters'])}.")
    else:
        parts.append("Every event (no attribute filter).")
    if sub.data_pattern is not None:
        pattern = json.dumps(dict(sub.data_pattern))
        parts.append(f"Content pattern on data (applied by tidal): {pattern}.")
    return " ".join(parts)


def _address(sub: Subscription, transport: Transport, topics: list[str]) -> str | None:
    """``/<subscription>`` over HTTP; on Kafka the topic, or None (several: in the text)."""
    if transport == "http":
        return f"/{sub.name}"
    return topics[0] if len(topics) == 1 else None


def _channel(
    app: App, sub: Subscription, transport: Transport, kafka: KafkaSettings
) -> dict[str, Any]:
    topics = list(kafka.topics)
    channel: dict[str, Any] = {
        "address": _address(sub, transport, topics),
        "messages": {sub.name: {"$ref": f"#/components/messages/{sub.name}"}},
        "description": f"Subscription {sub.name!r} of {app.name!r}. {_filters_text(sub)}",
        "x-knative-trigger": trigger_filters(sub.filters),
    }
    if sub.data_pattern is not None:
        channel["x-tidal-data-pattern"] = dict(sub.data_pattern)
    if transport == "http":
        return channel
    if len(topics) == 1:
        channel["bindings"] = {"kafka": {"topic": topics[0], "bindingVersion": KAFKA_BINDING}}
    else:
        channel["description"] += f" Topics: {', '.join(topics)}."
    return channel


def _receive(
    app: App, sub: Subscription, transport: Transport, kafka: KafkaSettings
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{sub.name}"},
        "messages": [{"$ref": f"#/channels/{sub.name}/messages/{sub.name}"}],
        "summary": f"{app.name}/{sub.name} handles these events",
    }
    if transport == "http":
        operation["bindings"] = {"http": {"method": "POST", "bindingVersion": HTTP_BINDING}}
    else:
        from tidal._transports.kafka.names import topics_for  # the worker's naming (aiokafka)

        ids = {
            "groupId": {"type": "string", "const": topics_for(app.name, sub, kafka).group},
            "clientId": {"type": "string", "const": kafka.client_id},
        }
        operation["bindings"] = {"kafka": {**ids, "bindingVersion": KAFKA_BINDING}}
    return operation


def _emitted_channel(types: Iterable[str], transport: Transport, kafka: KafkaSettings) -> Any:
    messages = {t: {"$ref": f"#/components/messages/{t}"} for t in types}
    if transport == "http":
        where = "the reply in the HTTP response, or K_SINK when set (to the Broker)"
        return {"address": None, "messages": messages, "description": f"Emitted: {where}."}
    channel = {"address": kafka.emit_topic, "messages": messages}
    channel["description"] = f"Emitted to {kafka.emit_topic or 'TIDAL_KAFKA__EMIT_TOPIC'}."
    if kafka.emit_topic:
        channel["bindings"] = {
            "kafka": {"topic": kafka.emit_topic, "bindingVersion": KAFKA_BINDING}
        }
    return channel


def document(
    app: App,
    *,
    transport: Transport = "http",
    kafka: KafkaSettings | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``app`` on ``transport``."""
    kafka = kafka or KafkaSettings()
    payloads, definitions = schemas(app)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for sub in app.subscriptions:
        event_type, source = exact_attribute(sub, "type"), exact_attribute(sub, "source")
        title = sub.payload.name if sub.payload is not None else (event_type or "CloudEvent")
        messages[sub.name] = _message(
            transport,
            title=title,
            summary=f"What {sub.name!r} receives ({event_type or 'any type its filters pass'})",
            type=event_type,
            source=source,
            payload=payloads.get(("receive", sub.name)),
        )
        channels[sub.name] = _channel(app, sub, transport, kafka)
        operations[f"receive-{sub.name}"] = _receive(app, sub, transport, kafka)
    emitters: dict[str, list[str]] = {}
    for sub in app.subscriptions:
        for item in sub.emits:
            emitters.setdefault(item.type, []).append(sub.name)
            messages[item.type] = _message(
                transport,
                title=model_name(item.model) if item.model is not None else item.type,
                summary=f"Emitted by {app.name}",
                type=item.type,
                source=None,
                payload=payloads.get(("send", item.type)),
            )
    if emitters:
        channels[EMITTED] = _emitted_channel(emitters, transport, kafka)
    for event_type, subs in emitters.items():
        operations[f"send-{event_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{EMITTED}"},
            "messages": [{"$ref": f"#/channels/{EMITTED}/messages/{event_type}"}],
            "summary": f"{event_type}, emitted by {', '.join(subs)}",
        }
    components: dict[str, Any] = {"messages": messages}
    if definitions:
        components["schemas"] = definitions
    info = {
        "title": app.name,
        "version": version,
        "description": f"CloudEvents the tidal App {app.name!r} receives and emits ({transport}).",
    }
    return {
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }
