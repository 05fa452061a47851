"""KEDA's rules for an ``aws-sqs-queue`` trigger, restated from kedacore/keda at the pin.

The scaler's metadata keys (`awsSqsQueueMetadata`, pkg/scalers/aws_sqs_queue_scaler.go:31-45;
a key it does not read is ignored silently), the queue URL it derives the queue name from
(lines 104-117: a URL's path must be ``/<account>/<queue>``), the required region (line 36: no
default, not optional), and the credentials `GetAwsAuthorization` insists on without a
TriggerAuthentication (pkg/scalers/aws/aws_common.go:107-143): an access key id, inline or
``...FromEnv`` (resolved from the scale target's container env), and a secret key from env.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlparse

from tests.fidelity.rules import Cluster, Doc, Rule, is_kind
from tests.fidelity.upstream import KEDA, Cite

SCALER: Final = "pkg/scalers/aws_sqs_queue_scaler.go"
COMMON: Final = "pkg/scalers/aws/aws_common.go"
KEYS: Final = frozenset(
    {"queueLength", "activationQueueLength", "queueURL", "queueURLFromEnv", "awsRegion"}
    | {"awsEndpoint", "scaleOnInFlight", "scaleOnDelayed", "identityOwner"}
    | {"awsAccessKeyID", "awsAccessKeyIDFromEnv", "awsSecretAccessKeyFromEnv"}  # aws_common
)
GO_INT: Final = re.compile(r"^[+-]?[0-9]+$")


def check_sqs_metadata(doc: Doc, cluster: Cluster) -> Iterator[str]:
    for trigger in doc.get("spec", {}).get("triggers", []):
        if trigger.get("type") != "aws-sqs-queue":
            continue
        meta = {k: str(v) for k, v in (trigger.get("metadata") or {}).items()}
        for key in sorted(set(meta) - KEYS):
            yield f"aws-sqs-queue metadata {key!r} is not read by KEDA's scaler (ignored silently)"
        yield from _queue(meta)
        for key in ("queueLength", "activationQueueLength"):
            if key in meta and not GO_INT.match(meta[key]):
                yield f"{key} {meta[key]!r} is not an integer"
        has_auth = "authenticationRef" in trigger
        if not meta.get("awsRegion") and not has_auth:
            yield "awsRegion is required"
        if not has_auth and meta.get("identityOwner", "pod") != "operator":
            yield from _credentials(meta, _target_env(doc, cluster))


def _queue(meta: dict[str, str]) -> Iterator[str]:
    url = meta.get("queueURL", "")
    if not url and not meta.get("queueURLFromEnv"):
        yield "queueURL is required"
        return
    parsed = urlparse(url)
    if parsed.scheme and parsed.path.startswith("/"):
        parts = parsed.path.split("/")
        if len(parts) != 3 or not parts[2]:
            yield f"queueURL {url!r}: cannot get queueName (the path is not /<account>/<queue>)"


def _credentials(meta: dict[str, str], env: set[str] | None) -> Iterator[str]:
    if not meta.get("awsAccessKeyID") and not meta.get("awsAccessKeyIDFromEnv"):
        yield "no credentials: awsAccessKeyID(FromEnv) or an authenticationRef is required"
    if not meta.get("awsSecretAccessKeyFromEnv"):
        yield "no credentials: awsSecretAccessKeyFromEnv or an authenticationRef is required"
    for key in ("awsAccessKeyIDFromEnv", "awsSecretAccessKeyFromEnv"):
        name = meta.get(key)
        if name and env is not None and name not in env:
            yield f"{key} {name!r} is not in the scale target's container env"


def _target_env(doc: Doc, cluster: Cluster) -> set[str] | None:
    """Env var names of the scale target's containers; None when it is not in the release."""
    target = doc.get("spec", {}).get("scaleTargetRef", {})
    for obj in cluster.objects:
        if obj["kind"] == target.get("kind", "Deployment") and obj["metadata"][
            "name"
        ] == target.get("name"):
            containers = obj["spec"]["template"]["spec"]["containers"]
            return {e["name"] for c in containers for e in c.get("env", [])}
    return None


RULES: Final = (
    Rule(
        "keda-aws-sqs-queue-metadata",
        (Cite(KEDA, SCALER, "31-45,104-117"), Cite(KEDA, COMMON, "107-143")),
        is_kind("keda.sh/v1alpha1", "ScaledObject"),
        check_sqs_metadata,
    ),
)
