"""The chart's object-storage source (`objectSource`): `tidal source s3-sqs` as a Deployment
posting to the Broker through a SinkBinding (mode knative) or producing to a topic (mode
kafka-keda), scaled from zero by KEDA's aws-sqs-queue scaler on the queue's depth."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
from tests.deploy.rendering import of_kind, render, rendered, scenario_values

NAME = "tidal-object-source"


def named(docs: Any, kind: str) -> dict[str, Any]:
    [doc] = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == NAME]
    return dict(doc)


def container(docs: Any) -> dict[str, Any]:
    [source] = named(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(source)


@pytest.mark.parametrize("scenario", ["knative", "kafka-keda"])
def test_the_object_source_scales_on_its_queue(scenario: str) -> None:
    docs = rendered(scenario)
    values = scenario_values(scenario)["objectSource"]
    spec = named(docs, "ScaledObject")["spec"]
    assert spec["scaleTargetRef"] == {"name": NAME}
    assert spec["minReplicaCount"] == 0
    [trigger] = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"] == {
        "queueURL": values["queueUrl"],
        "awsRegion": values["region"],
        "queueLength": "10",
        "activationQueueLength": "0",
        "awsAccessKeyIDFromEnv": "AWS_ACCESS_KEY_ID",
        "awsSecretAccessKeyFromEnv": "AWS_SECRET_ACCESS_KEY",
    }
    env = {e["name"] for e in container(docs)["env"]}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env  # what FromEnv resolves
    assert "replicas" not in named(docs, "Deployment")["spec"]  # KEDA owns the count


def test_in_knative_mode_the_source_posts_to_the_broker() -> None:
    docs = rendered("knative")
    binding = named(docs, "SinkBinding")["spec"]
    assert binding["subject"]["name"] == NAME
    assert binding["sink"]["ref"]["kind"] == "Broker"
    args = container(docs)["args"]
    assert args[:2] == ["source", "s3-sqs"]
    assert not any(a.startswith("--kafka-topic") for a in args)


def test_in_kafka_mode_the_source_produces_to_the_topic() -> None:
    docs = rendered("kafka-keda")
    assert [d for d in of_kind(docs, "SinkBinding") if d["metadata"]["name"] == NAME] == []
    source = container(docs)
    assert "--kafka-topic=events" in source["args"]
    env = {e["name"]: e.get("value") for e in source["env"]}
    assert (
        env["TIDAL_KAFKA__BOOTSTRAP_SERVERS"]
        == scenario_values("kafka-keda")["kafka"]["bootstrapServers"]
    )


def test_keda_without_credentials_is_refused() -> None:
    values = scenario_values("knative")
    values["objectSource"]["aws"]["secretName"] = ""
    with pytest.raises(helm.HelmError, match="needs credentials"):
        render(values)
    values["objectSource"]["keda"] = {"authenticationRef": "aws-pod-identity"}
    trigger = named(render(values), "ScaledObject")["spec"]["triggers"][0]
    assert trigger["authenticationRef"] == {"name": "aws-pod-identity"}
    assert "awsAccessKeyIDFromEnv" not in trigger["metadata"]


def test_a_source_without_a_queue_is_refused() -> None:
    values = scenario_values("kafka-keda")
    values["objectSource"]["queueUrl"] = ""
    with pytest.raises(helm.HelmError, match=r"objectSource\.queueUrl"):
        render(values)
