"""Knative Triggers from subscriptions: attribute filters and the delivery policy.

One Trigger per subscription, subscribed to ``POST /<subscription>`` of the App's Knative Service
(the route `tidal run` serves). Exact attribute filters go in ``spec.filter.attributes``; any
other dialect (prefix, suffix, all, any, not, cesql) makes the whole list go in ``spec.filters``,
which Knative evaluates instead of ``filter`` when both are set. Content patterns on ``data``
(EventBridge) have no Trigger equivalent: the runtime applies them and answers 204 (filtered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidal._app import App, Subscription
from tidal._delivery import DeliveryPolicy
from tidal._errors import ConfigurationError
from tidal._manifests.naming import object_name

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


def check_expressible(policy: DeliveryPolicy) -> None:
    """Refuse a policy Knative would schedule otherwise than the Kafka worker.

    Knative's brokers wait ``backoffDelay * 2**n`` (exponential) or ``backoffDelay * n``
    (linear) before retry n, with no cap, the worker the same (``DeliveryPolicy.ceiling``); they
    read durations to one decimal (rickb777/date's period.Parse: PT0.05S is 0) and wait nothing
    at all for a zero delay. So the delay must be a positive multiple of 0.1 s and ``max_delay``
    must not cap any retry. Nor do they jitter: a policy with ``jitter`` (the worker's draw
    under the same ceiling) runs only on the Kafka worker.
    """
    if policy.jitter:
        raise ConfigurationError(
            "jitter: Knative's brokers wait exactly backoffDelay·2^n (or ·n) and cannot draw"
            " under it; use jitter=False for a subscription delivered through a Trigger"
        )
    tenths = policy.base_delay * 10
    if policy.base_delay <= 0 or abs(tenths - round(tenths)) > 1e-9:
        raise ConfigurationError(
            f"delay {policy.base_delay:g}s: Knative reads durations to 0.1 s and waits nothing"
            " for 0; use a positive multiple of 0.1 s"
        )
    retries = policy.max_attempts - 1
    longest = policy.base_delay * (retries if policy.backoff == "linear" else 2**retries)
    if longest > policy.max_delay:
        raise ConfigurationError(
            f"max_delay {policy.max_delay:g}s caps retry {retries} ({longest:g}s), which"
            " Knative's brokers cannot: raise max_delay or lower max_attempts"
        )


def trigger_delivery(policy: DeliveryPolicy) -> Manifest:
    """``spec.delivery``: retries after the first attempt, backoff, and a URL dead-letter sink.

    Only policies both modes schedule alike (``check_expressible``). A dead-letter target that
    is not a URL is a Kafka topic, meaningful to the Kafka worker only.
    """
    check_expressible(policy)
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
