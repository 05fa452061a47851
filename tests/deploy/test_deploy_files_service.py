"""The files service in the chart scenarios: its image, its S3 settings, and its AWS keys as a
read-only shared-credentials file from a Secret (never in env), in both modes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.deploy.rendering import rendered, scenario_values

CREDENTIALS = "/var/run/secrets/tidal/aws"


def files_pod(scenario: str) -> dict[str, Any]:
    kinds = {"knative": ("Service", "files"), "kafka-keda": ("Deployment", "files")}
    kind, name = kinds[scenario]
    [doc] = [d for d in rendered(scenario) if d["kind"] == kind and d["metadata"]["name"] == name]
    return dict(doc["spec"]["template"]["spec"])


@pytest.mark.parametrize("scenario", ["knative", "kafka-keda"])
def test_the_scenarios_deploy_the_files_service_on_s3(scenario: str) -> None:
    pod = files_pod(scenario)
    [app] = pod["containers"]
    assert app["image"].rsplit(":", 1)[0] == "ghcr.io/tidal-dev/tidal-files"
    assert app["args"][-1] == "services.files.app:app"
    env = {e["name"]: e for e in app["env"]}
    assert env["FILES_USE_S3"]["value"] == "true"
    assert env["FILES_S3_REGION"]["value"] == "eu-west-1"
    assert env["FILES_THUMBNAILS_BUCKET"]["value"] == "acme-thumbnails"
    assert env["AWS_SHARED_CREDENTIALS_FILE"]["value"] == f"{CREDENTIALS}/credentials"
    assert not any("valueFrom" in e for e in app["env"])  # no secret in env
    assert {"name": "aws-credentials", "mountPath": CREDENTIALS, "readOnly": True} in app[
        "volumeMounts"
    ]
    [volume] = [v for v in pod["volumes"] if v["name"] == "aws-credentials"]
    secret = scenario_values(scenario)["services"]["files"]["awsCredentials"]["secretName"]
    assert volume["secret"]["secretName"] == secret
    assert volume["secret"]["items"] == [{"key": "credentials", "path": "credentials"}]


def test_a_service_without_credentials_mounts_only_tmp() -> None:
    [fleet] = [
        d
        for d in rendered("kafka-keda")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "fleet"
    ]
    [app] = fleet["spec"]["template"]["spec"]["containers"]
    assert [m["mountPath"] for m in app["volumeMounts"]] == ["/tmp"]
    assert "AWS_SHARED_CREDENTIALS_FILE" not in {e["name"] for e in app["env"]}
