"""Knative Eventing's rules for Triggers, Brokers and the KafkaSink, restated at the pins.

The Trigger webhook (broker, attribute names, one dialect per filter), the delivery spec
(retry, backoff policy, ISO-8601 durations, flags), how durations are read (rickb777/date keeps
one decimal), how the Kafka broker waits (delay * 2^n, no wait for a zero delay) and that it
commits an event's offset even when the dead-letter sink fails, so the sink must exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

from tests.fidelity.rules import Cluster, Doc, Rule, is_kind
from tests.fidelity.upstream import EVENTING, KAFKA_BROKER, PERIOD, Cite

ATTRIBUTE: Final = re.compile(r"^[a-z][a-z0-9]*$")  # trigger_validation.go:38
DIALECTS: Final = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
POLICIES: Final = frozenset({"exponential", "linear"})  # delivery_types.go:118-125
# delivery_types.go:107-152 with features.go:80-94: timeout allowed, retryAfterMax refused
DELIVERY_KEYS: Final = frozenset(
    {"deadLetterSink", "retry", "backoffPolicy", "backoffDelay", "timeout", "format"}
)
FORMATS: Final = frozenset({"binary", "json"})
CONTENT_MODES: Final = frozenset({"binary", "structured"})  # kafka_sink_types.go:32-37
NUMBER: Final = r"(\d+(?:[.,]\d*)?)"
PERIOD_RE: Final = re.compile(
    rf"^[-+]?P(?:{NUMBER}Y)?(?:{NUMBER}M)?(?:{NUMBER}W)?(?:{NUMBER}D)?"
    rf"(?:T(?:{NUMBER}H)?(?:{NUMBER}M)?(?:{NUMBER}S)?)?$"
)
UNIT_SECONDS: Final = (None, None, 604800, 86400, 3600, 60, 1)  # Y and M are not durations


def tenths(number: str) -> int:
    """rickb777/date period/parse.go:160-180: a number kept to one decimal, the rest dropped."""
    whole, _, fraction = number.replace(",", ".").partition(".")
    return int(whole or "0") * 10 + int((fraction or "0")[:1])


def period(text: str) -> tuple[Decimal, Decimal] | None:
    """(seconds as written, seconds as Knative reads them) of an ISO-8601 duration; None when
    period.Parse refuses it or it has years or months (no fixed length)."""
    match = PERIOD_RE.match(text)
    if not match or not any(match.groups()) or text.rstrip().endswith("T"):
        return None
    written, read = Decimal(0), Decimal(0)
    for number, unit in zip(match.groups(), UNIT_SECONDS, strict=True):
        if number is None:
            continue
        if unit is None:
            return None
        written += Decimal(number.replace(",", ".")) * unit
        read += Decimal(tenths(number)) / 10 * unit
    return written, read


def broker_schedule(delivery: Mapping[str, Any]) -> list[Decimal]:
    """The Kafka broker's waits before each retry: delay * 2^n or delay * n for retry n >= 1,
    none for a zero delay (WebClientCloudEventSender.java:329-338)."""
    parsed = period(str(delivery.get("backoffDelay", "")))
    delay = parsed[1] if parsed else Decimal(0)
    retries = range(1, int(delivery.get("retry", 0)) + 1)
    if delay == 0:
        return [Decimal(0) for _ in retries]
    if delivery.get("backoffPolicy", "exponential") == "linear":
        return [delay * n for n in retries]
    return [delay * 2**n for n in retries]


def _filters(filters: Any, path: str) -> Iterator[str]:
    for index, flt in enumerate(filters or []):
        where = f"{path}[{index}]"
        dialects = [d for d in DIALECTS if flt.get(d)]
        if len(dialects) > 1:
            yield f"{where}: multiple dialects {dialects}, filters can have only one"
        for dialect in ("exact", "prefix", "suffix"):
            for name in flt.get(dialect) or {}:
                if not ATTRIBUTE.match(name):
                    yield f"{where}.{dialect}: attribute name {name!r} is invalid"
        yield from _filters(flt.get("all"), f"{where}.all")
        yield from _filters(flt.get("any"), f"{where}.any")
        if flt.get("not"):
            yield from _filters([flt["not"]], f"{where}.not")


def check_trigger(doc: Doc, cluster: Cluster) -> Iterator[str]:
    spec = doc.get("spec", {})
    if not spec.get("broker") and not spec.get("brokerRef"):
        yield "spec.broker is required"
    for name in (spec.get("filter") or {}).get("attributes") or {}:
        if not ATTRIBUTE.match(name):
            yield f"filter attribute name {name!r} must match {ATTRIBUTE.pattern}"
    yield from _filters(spec.get("filters"), "filters")
    subscriber = spec.get("subscriber") or {}
    ref = subscriber.get("ref") or {}
    if not ref and not subscriber.get("uri"):
        yield "subscriber needs a ref or a uri"
    if ref and cluster.objects and not cluster.has(ref.get("kind", ""), ref.get("name", "")):
        yield f"subscriber {ref.get('kind')}/{ref.get('name')} is not in the release"


def check_delivery(doc: Doc, cluster: Cluster) -> Iterator[str]:
    delivery = doc.get("spec", {}).get("delivery") or {}
    for key in sorted(set(delivery) - DELIVERY_KEYS):
        yield f"delivery.{key} is not allowed (flag off by default, or unknown)"
    retry = delivery.get("retry")
    if retry is not None and (not isinstance(retry, int) or retry < 0):
        yield f"delivery.retry {retry!r} must be an integer >= 0"
    if "backoffPolicy" in delivery and delivery["backoffPolicy"] not in POLICIES:
        yield f"delivery.backoffPolicy {delivery['backoffPolicy']!r} is not exponential or linear"
    if "format" in delivery and delivery["format"] not in FORMATS:
        yield f"delivery.format {delivery['format']!r} is not binary or json"
    for key in ("backoffDelay", "timeout"):
        if key in delivery:
            parsed = period(str(delivery[key]))
            if parsed is None:
                yield f"delivery.{key} {delivery[key]!r} is not an ISO-8601 duration"
            elif parsed[0] != parsed[1]:
                yield f"delivery.{key} {delivery[key]} is read as {parsed[1]} s (one decimal)"
            elif parsed[1] == 0:
                yield f"delivery.{key} {delivery[key]} is zero: no wait at all"


def _in_cluster_service(uri: str) -> tuple[str, str] | None:
    match = re.match(
        r"^https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?(:\d+)?(/|$)", uri
    )
    return (match.group(1), match.group(2)) if match else None


def check_dead_letter_sink(doc: Doc, cluster: Cluster) -> Iterator[str]:
    sink = (doc.get("spec", {}).get("delivery") or {}).get("deadLetterSink")
    if not sink:
        return
    ref = sink.get("ref")
    if ref and not cluster.has(ref.get("kind", ""), ref.get("name", "")):
        yield f"deadLetterSink {ref.get('kind')}/{ref.get('name')} is not created by the release"
    target = _in_cluster_service(str(sink.get("uri", "")))
    namespace = doc["metadata"].get("namespace")
    if target and target[1] == namespace and not cluster.has("Service", target[0]):
        yield f"deadLetterSink {sink['uri']} names a Service the release does not create"


def check_kafka_sink(doc: Doc, cluster: Cluster) -> Iterator[str]:
    spec = doc.get("spec", {})
    if spec.get("contentMode", "binary") not in CONTENT_MODES:
        yield f"contentMode {spec.get('contentMode')!r} is not binary or structured"
    if not spec.get("bootstrapServers"):
        yield "bootstrapServers is required"
    if not spec.get("topic"):
        yield "topic is required"
    for key in ("numPartitions", "replicationFactor"):
        if key in spec and (not isinstance(spec[key], int) or spec[key] <= 0):
            yield f"{key} {spec[key]!r} must be positive"


def eventing(path: str, lines: str) -> Cite:
    return Cite(EVENTING, path, lines)


def kafka(path: str, lines: str) -> Cite:
    return Cite(KAFKA_BROKER, path, lines)


TRIGGER_GO: Final = "pkg/apis/eventing/v1/trigger_validation.go"
DELIVERY_GO: Final = "pkg/apis/duck/v1/delivery_types.go"
DISPATCHER: Final = (
    "data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher"
)
TRIGGER = is_kind("eventing.knative.dev/v1", "Trigger")
BROKER = is_kind("eventing.knative.dev/v1", "Broker")
RULES: Final = (
    Rule("eventing-trigger", (eventing(TRIGGER_GO, "38,60-85,172-290"),), TRIGGER, check_trigger),
    Rule(
        "eventing-delivery",
        (
            eventing(DELIVERY_GO, "94-154"),
            eventing("pkg/apis/feature/features.go", "80-94"),
            Cite(PERIOD, "period/parse.go", "160-180"),
            kafka(f"{DISPATCHER}/impl/http/WebClientCloudEventSender.java", "329-338"),
        ),
        lambda doc: TRIGGER(doc) or BROKER(doc),
        check_delivery,
    ),
    Rule(
        "eventing-dead-letter-sink",
        (
            kafka(f"{DISPATCHER}/impl/RecordDispatcherImpl.java", "343-351"),
            kafka(f"{DISPATCHER}/impl/consumer/OffsetManager.java", "163-166"),
        ),
        lambda doc: TRIGGER(doc) or BROKER(doc),
        check_dead_letter_sink,
    ),
    Rule(
        "eventing-kafka-sink",
        (kafka("control-plane/pkg/apis/eventing/v1alpha1/kafka_sink_validation.go", "41-70"),),
        is_kind("eventing.knative.dev/v1alpha1", "KafkaSink"),
        check_kafka_sink,
    ),
)
