"""Each fidelity rule catches what upstream refuses or ignores: one violating object per rule.

Each case takes an object of a rendered scenario, breaks it the way the cited upstream code
would notice (the findings of issue 15 among them: a startup probe without a port, a dead-letter
URI to nothing, an activation threshold at zero replicas, a flag Knative does not read...), and
expects that rule to object, while the untouched object passes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from tests.deploy.rendering import rendered
from tests.fidelity.catalog import RULES
from tests.fidelity.rules import Cluster, Doc, bootstrap_configs, violations
from tests.fidelity.serving import FEATURE_DEFAULTS, features

Mutation = Callable[[Doc], None]


def container(doc: Doc) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"]["containers"][0])


def on_container(change: Callable[[dict[str, Any]], None]) -> Mutation:
    return lambda doc: change(doc["spec"]["template"]["spec"]["containers"][0])


def annotate(key: str, value: str) -> Mutation:
    def mutate(doc: Doc) -> None:
        doc["spec"]["template"]["metadata"]["annotations"][f"autoscaling.knative.dev/{key}"] = value

    return mutate


def pod(key: str, value: Any) -> Mutation:
    return lambda doc: doc["spec"]["template"]["spec"].__setitem__(key, value)


def delivery(key: str, value: Any) -> Mutation:
    return lambda doc: doc["spec"]["delivery"].__setitem__(key, value)


def trigger_meta(key: str, value: str) -> Mutation:
    return lambda doc: doc["spec"]["triggers"][0]["metadata"].__setitem__(key, value)


def spec(key: str, value: Any) -> Mutation:
    return lambda doc: doc["spec"].__setitem__(key, value)


SQS = "ScaledObject/tidal-object-source"
KSVC, TRIGGER, SCALED, SINK = (
    "Service/fleet",
    "Trigger/fleet-telemetry",
    "ScaledObject/fleet",
    ("KafkaSink/tidal-dead-letters"),
)
STARTUP_WITHOUT_PORT = {"httpGet": {"path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 30}
CASES: list[tuple[str, str, str, Mutation, str]] = [
    # rule, scenario, object, mutation, fragment of the message
    ("serving-podspec-fields", "knative", KSVC, pod("nodeSelector", {"a": "b"}), "nodeSelector"),
    ("serving-podspec-fields", "knative", KSVC, pod("restartPolicy", "Always"), "not allowed"),
    ("serving-podspec-fields", "knative", KSVC, pod("automountServiceAccountToken", True), "false"),
    (
        "serving-security-context",
        "knative",
        KSVC,
        lambda d: d["spec"]["template"]["spec"]["securityContext"].__setitem__("sysctls", []),
        "sysctls",
    ),
    (
        "serving-security-context",
        "knative",
        KSVC,
        on_container(
            lambda c: c["securityContext"]["capabilities"].__setitem__("add", ["NET_ADMIN"])
        ),
        "capabilities.add",
    ),
    (
        "serving-containers",
        "knative",
        KSVC,
        on_container(lambda c: c.__setitem__("stdin", True)),
        "stdin",
    ),
    (
        "serving-containers",
        "knative",
        KSVC,
        on_container(lambda c: c.__setitem__("ports", [{"name": "http", "containerPort": 8080}])),
        "h2c or http1",
    ),
    (
        "serving-containers",
        "knative",
        KSVC,
        on_container(lambda c: c.__setitem__("ports", [{"name": "http1", "containerPort": 8012}])),
        "reserved",
    ),
    (
        "serving-containers",
        "knative",
        KSVC,
        lambda d: d["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {}}),
        "hostPath",
    ),
    (
        "serving-probes",
        "knative",
        KSVC,
        on_container(lambda c: c.__setitem__("startupProbe", copy.deepcopy(STARTUP_WITHOUT_PORT))),
        "startupProbe has no port",
    ),
    (
        "serving-probes",
        "knative",
        KSVC,
        on_container(lambda c: c["readinessProbe"].__setitem__("failureThreshold", 3)),
        "needs periodSeconds",
    ),
    (
        "serving-probes",
        "knative",
        KSVC,
        on_container(lambda c: c["livenessProbe"]["httpGet"].__setitem__("port", "http")),
        "must match",
    ),
    (
        "serving-cold-start",
        "knative",
        KSVC,
        on_container(lambda c: c["readinessProbe"].__setitem__("periodSeconds", 5)),
        "aggressive probing",
    ),
    (
        "serving-autoscaling-annotations",
        "knative",
        KSVC,
        annotate("minscale", "1"),
        "no autoscaling",
    ),
    ("serving-autoscaling-annotations", "knative", KSVC, annotate("max-scale", "-1"), ">= 0"),
    ("serving-autoscaling-annotations", "knative", KSVC, annotate("target", "0"), "below 0.01"),
    ("serving-autoscaling-annotations", "knative", KSVC, annotate("metric", "cpu"), "KPA"),
    ("eventing-trigger", "knative", TRIGGER, spec("broker", ""), "broker is required"),
    (
        "eventing-trigger",
        "knative",
        TRIGGER,
        spec("filter", {"attributes": {"Type": "x"}}),
        "attribute name",
    ),
    (
        "eventing-trigger",
        "knative",
        TRIGGER,
        spec("filters", [{"exact": {"type": "a"}, "prefix": {"type": "b"}}]),
        "multiple dialects",
    ),
    (
        "eventing-trigger",
        "knative",
        TRIGGER,
        lambda d: d["spec"]["subscriber"]["ref"].__setitem__("name", "billing"),
        "not in the release",
    ),
    ("eventing-delivery", "knative", TRIGGER, delivery("backoffDelay", "PT0.05S"), "one decimal"),
    ("eventing-delivery", "knative", TRIGGER, delivery("backoffDelay", "0.5s"), "ISO-8601"),
    ("eventing-delivery", "knative", TRIGGER, delivery("backoffDelay", "PT0S"), "zero"),
    ("eventing-delivery", "knative", TRIGGER, delivery("retry", -1), ">= 0"),
    ("eventing-delivery", "knative", TRIGGER, delivery("backoffPolicy", "fibonacci"), "not"),
    ("eventing-delivery", "knative", TRIGGER, delivery("retryAfterMax", "PT1S"), "not allowed"),
    (
        "eventing-dead-letter-sink",
        "knative",
        TRIGGER,
        delivery("deadLetterSink", {"uri": "http://dead-letters.tidal.svc.cluster.local"}),
        "does not create",
    ),
    (
        "eventing-dead-letter-sink",
        "knative",
        TRIGGER,
        delivery("deadLetterSink", {"ref": {"kind": "KafkaSink", "name": "elsewhere"}}),
        "not created by the release",
    ),
    ("eventing-kafka-sink", "knative", SINK, spec("topic", ""), "topic is required"),
    ("eventing-kafka-sink", "knative", SINK, spec("contentMode", "avro"), "contentMode"),
    ("keda-kafka-metadata", "kafka-keda", SCALED, trigger_meta("lagThresold", "5"), "not read"),
    ("keda-kafka-metadata", "kafka-keda", SCALED, trigger_meta("lagThreshold", "0"), "positive"),
    ("keda-kafka-metadata", "kafka-keda", SCALED, trigger_meta("lagThreshold", "5.5"), "integer"),
    (
        "keda-kafka-metadata",
        "kafka-keda",
        SCALED,
        trigger_meta("offsetResetPolicy", "newest"),
        "not latest or earliest",
    ),
    (
        "keda-scale-from-zero",
        "kafka-keda",
        SCALED,
        trigger_meta("activationLagThreshold", "5"),
        "waiting at zero replicas",
    ),
    (
        "keda-scale-from-zero",
        "kafka-keda",
        SCALED,
        trigger_meta("offsetResetPolicy", "latest"),
        "cannot scale from zero",
    ),
    ("keda-scaled-object", "kafka-keda", SCALED, spec("minReplicaCount", 9), "exceeds"),
    (
        "keda-scaled-object",
        "kafka-keda",
        SCALED,
        spec("scaleTargetRef", {"name": "billing"}),
        "not in the release",
    ),
    ("keda-aws-sqs-queue-metadata", "knative", SQS, trigger_meta("queueUrl", "q"), "not read"),
    ("keda-aws-sqs-queue-metadata", "knative", SQS, trigger_meta("queueLength", "1.5"), "integer"),
    (
        "keda-aws-sqs-queue-metadata",
        "kafka-keda",
        SQS,
        trigger_meta("queueURL", "https://sqs.eu-west-1.amazonaws.com/acme-uploads"),
        "cannot get queueName",
    ),
    ("keda-aws-sqs-queue-metadata", "knative", SQS, trigger_meta("awsRegion", ""), "required"),
    (
        "keda-aws-sqs-queue-metadata",
        "knative",
        SQS,
        trigger_meta("awsSecretAccessKeyFromEnv", ""),
        "no credentials",
    ),
    (
        "keda-aws-sqs-queue-metadata",
        "kafka-keda",
        SQS,
        trigger_meta("awsAccessKeyIDFromEnv", "AWS_KEY"),
        "not in the scale target's container env",
    ),
]


def rendered_doc(scenario: str, name: str) -> Doc:
    [doc] = [d for d in rendered(scenario) if f"{d['kind']}/{d['metadata']['name']}" == name]
    return copy.deepcopy(doc)


def broken(scenario: str, name: str, mutate: Mutation) -> tuple[Doc, Cluster]:
    docs = [copy.deepcopy(doc) for doc in rendered(scenario)]
    [doc] = [d for d in docs if f"{d['kind']}/{d['metadata']['name']}" == name]
    mutate(doc)
    return doc, Cluster(features(bootstrap_configs()), tuple(docs))


@pytest.mark.parametrize(
    ("rule", "scenario", "name", "mutate", "fragment"),
    CASES,
    ids=[f"{c[0]}:{c[4]}" for c in CASES],
)
def test_the_rule_catches_its_violation(
    rule: str, scenario: str, name: str, mutate: Mutation, fragment: str
) -> None:
    doc, cluster = broken(scenario, name, mutate)
    found = violations(RULES, [doc], cluster)
    assert any(v.rule == rule and fragment in v.message for v in found), found
    assert violations(RULES, [dict(rendered_doc(scenario, name))], cluster) == []


def test_every_rule_has_a_violation_case() -> None:
    """serving-image-resolution applies to the dev loop only: its case is the test below."""
    assert {rule.id for rule in RULES} == {case[0] for case in CASES} | {"serving-image-resolution"}


def test_the_pod_security_context_needs_the_flag_bootstrap_sets() -> None:
    """A default Knative refuses the chart's pod securityContext."""
    docs = list(rendered("knative"))
    default = Cluster(dict(FEATURE_DEFAULTS), tuple(docs))
    found = violations(RULES, docs, default)
    assert {v.message for v in found if v.rule == "serving-podspec-fields"} == {
        "spec.template.spec.securityContext needs config-features "
        "kubernetes.podspec-securitycontext enabled"
    }


def test_images_knative_would_resolve_at_a_registry_are_caught_in_the_dev_loop() -> None:
    docs = [copy.deepcopy(doc) for doc in rendered("knative")]
    local = Cluster(features(bootstrap_configs()), tuple(docs), local_images=True)
    found = violations(RULES, docs, local)
    assert {v.rule for v in found} == {"serving-image-resolution"}
    assert all("ghcr.io" in v.message for v in found)
    for doc in docs:
        if doc["kind"] == "Service" and doc["apiVersion"] == "serving.knative.dev/v1":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = "kind.local/tidal-fleet:t1"
    assert violations(RULES, docs, local) == []
    by_digest = f"tidal-fleet:t1@sha256:{'0' * 64}"  # skaffold's old tag@digest template
    for doc in docs:
        if doc["kind"] == "Service" and doc["apiVersion"] == "serving.knative.dev/v1":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = by_digest
    assert {v.message.split(": ", 1)[1] for v in violations(RULES, docs, local)} == {
        "a local build has no registry digest to be pulled by"
    }


def test_every_rule_cites_upstream_file_and_lines() -> None:
    for rule in RULES:
        assert rule.cites, rule.id
        for cite in rule.cites:
            assert cite.path, rule.id
            assert re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", cite.lines), rule.id
            assert re.fullmatch(r"[0-9a-f]{40}", cite.source.commit), rule.id
