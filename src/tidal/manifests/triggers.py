"""Knative Triggers from subscriptions: attribute filters and the delivery policy.

One Trigger per subscription, subscribed to ``POST /<subscription>`` of the App's Knative Service
(the route `tidal run` serves). Exact attribute filters go in ``spec.filter.attributes``; any
other dialect (prefix, suffix, all, any, not, cesql) makes the whole list go in ``spec.filters``,
which Knative evaluates instead of ``filter`` when both are set. Content patterns on ``data``
(EventBridge) have no Trigger equivalent: the runtime applies them and answers 202.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidal.app import App, Subscription
from tidal.delivery import DeliveryPolicy
from tidal.manifests.naming import object_name

Manifest = dict[str, Any]


def _exact_attributes(flt: Mapping[str, Any]) -> dict[str, str] | None:
    """The attributes of an ``exact`` filter (or ``all`` of them), else None."""
    if set(flt) == {"exact"}:
        return {str(k): str(v) for k, v in flt["exact"].items()}
    if set(flt) == {"all"}:
        merged: dict[str, str] = {}
        for nested in flt["all"]:
            attributes = _exact_attributes(nested)
            if attributes is None or not _merge(merged, attributes):
                return None
        return merged
    return None


def _merge(into: dict[str, str], attributes: Mapping[str, str]) -> bool:
    """Add ``attributes``; False when one names an attribute already required differently."""
    return all(into.setdefault(name, value) == value for name, value in attributes.items())


def trigger_filters(filters: Sequence[Mapping[str, Any]]) -> Manifest:
    """The part of a Trigger ``spec`` that filters: ``filter``, ``filters`` or nothing."""
    exact: dict[str, str] = {}
    for flt in filters:
        attributes = _exact_attributes(flt)
        if attributes is None or not _merge(exact, attributes):
            return {"filters": [dict(f) for f in filters]}
    return {"filter": {"attributes": exact}} if exact else {}


def trigger_delivery(policy: DeliveryPolicy) -> Manifest:
    """``spec.delivery``: retries after the first attempt, backoff, and a URL dead-letter sink.

    Knative waits ``backoffDelay * 2**n`` (exponential) or ``backoffDelay * n`` (linear) before
    retry n and has no cap, so ``max_delay`` and jitter stay the runtime's concern. A dead-letter
    target that is not a URL is a Kafka topic, meaningful to the Kafka worker only.
    """
    delivery: Manifest = {
        "retry": policy.max_attempts - 1,
        "backoffPolicy": policy.backoff,
        "backoffDelay": policy.iso_delay(),
    }
    if policy.dead_letter and "://" in policy.dead_letter:
        delivery["deadLetterSink"] = {"uri": policy.dead_letter}
    return delivery


def trigger_spec(app: App, sub: Subscription, *, broker: str) -> Manifest:
    """The ``spec`` of the Trigger of ``sub`` on ``broker``."""
    return {
        "broker": broker,
        **trigger_filters(sub.filters),
        "delivery": trigger_delivery(sub.policy),
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": app.name},
            "uri": f"/{sub.name}",
        },
    }


def trigger_name(app: App, sub: Subscription) -> str:
    return object_name(app.name, sub.name)


def trigger(app: App, sub: Subscription, *, broker: str) -> Manifest:
    """The Trigger delivering ``sub``'s events from ``broker`` to the App's Knative Service."""
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {
            "name": trigger_name(app, sub),
            "labels": {"app.kubernetes.io/name": app.name, "tidal.dev/subscription": sub.name},
        },
        "spec": trigger_spec(app, sub, broker=broker),
    }
