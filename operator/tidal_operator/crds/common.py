"""Schema parts both custom resources share, and the CustomResourceDefinition envelope.

Used by ``crds/backuppolicies.py`` and ``crds/dlqarchives.py``; the values here (group, version,
the finalizer, condition shape) are the operator's contract with the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from tidal_operator.crds.openapi import (
    BOOTSTRAP,
    BUCKET,
    CRON,
    DNS_SUBDOMAIN,
    DURATION,
    ENDPOINT,
    PREFIX,
    REGION,
    SECRET_KEY,
    TOPIC,
    Schema,
    array,
    boolean,
    integer,
    obj,
    string,
)

GROUP: Final = "tidal.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORIES: Final = ("tidal",)


def kafka_name(description: str) -> Schema:
    """A topic (or consumer-group) name: Kafka's characters, at most 249 of them."""
    return string(description, pattern=TOPIC, max_length=249)


def duration(description: str, *, default: str) -> Schema:
    """A duration in s, m, h, d, w units, e.g. 5m or 35d."""
    return string(description, pattern=DURATION, max_length=32, default=default)


def cron_schedule(description: str, *, default: str) -> Schema:
    """A five-field cron expression or an @-macro such as @daily."""
    return string(description, pattern=CRON, max_length=128, default=default)


def secret_key_ref(description: str, *, default_key: str | None = None) -> Schema:
    """``{name, key}`` naming one key of a Secret in the resource's namespace."""
    return obj(
        description,
        {
            "name": string("Name of the Secret.", pattern=DNS_SUBDOMAIN, max_length=253),
            "key": string(
                "Key inside the Secret.", pattern=SECRET_KEY, max_length=253, default=default_key
            ),
        },
        required=("name", "key") if default_key is None else ("name",),
    )


def kafka_cluster(description: str) -> Schema:
    """Where a Kafka cluster is and how to authenticate to it."""
    return obj(
        description,
        {
            "bootstrapServers": string(
                "Comma-separated host:port list.", pattern=BOOTSTRAP, max_length=1024
            ),
            "credentialsSecretName": string(
                "Secret whose keys become the container's environment (e.g. "
                "TIDAL_KAFKA__SASL_USERNAME); omit for a cluster without authentication.",
                pattern=DNS_SUBDOMAIN,
                max_length=253,
            ),
        },
        required=("bootstrapServers",),
    )


def object_store(description: str) -> Schema:
    """An S3-compatible location: bucket, prefix, region, endpoint and credentials."""
    credentials = obj(
        "Secret holding the access key pair, read as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
        {
            "secretName": string("Name of the Secret.", pattern=DNS_SUBDOMAIN, max_length=253),
            "accessKeyIdKey": string(
                "Key of the access key id.", pattern=SECRET_KEY, default="AWS_ACCESS_KEY_ID"
            ),
            "secretAccessKeyKey": string(
                "Key of the secret access key.", pattern=SECRET_KEY, default="AWS_SECRET_ACCESS_KEY"
            ),
        },
        required=("secretName",),
    )
    return obj(
        description,
        {
            "bucket": string("Bucket name.", pattern=BUCKET, max_length=63),
            "prefix": string(
                "Key prefix inside the bucket; empty or ending in '/'.",
                pattern=PREFIX,
                max_length=512,
                default="",
            ),
            "region": string(
                "Region of the bucket, e.g. eu-west-1.", pattern=REGION, max_length=64
            ),
            "endpoint": string(
                "Endpoint URL of an S3-compatible store (MinIO, GCS); omit for AWS S3.",
                pattern=ENDPOINT,
                max_length=2048,
            ),
            "forcePathStyle": boolean(
                "Address the bucket in the path, not the host name (MinIO).", default=False
            ),
            "credentials": credentials,
        },
        required=("bucket", "credentials"),
    )


def retention(description: str, *, max_age: str, max_count: bool) -> Schema:
    """How long archived data is kept; ``max_age`` is the default."""
    properties: dict[str, Schema] = {
        "maxAge": duration(
            "Delete data older than this (s, m, h, d, w units, e.g. 35d).", default=max_age
        )
    }
    if max_count:
        properties["maxCount"] = integer(
            "Keep at most this many backups; the newest verified backup is always kept.",
            minimum=1,
            maximum=100_000,
        )
    return obj(description, properties, default={})


CONDITION_TYPE: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)
REASON: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


def conditions() -> Schema:
    """The standard ``metav1.Condition`` list, keyed by type."""
    condition = obj(
        "One aspect of the resource's state.",
        {
            "type": string("Condition type, e.g. Ready.", pattern=CONDITION_TYPE, max_length=316),
            "status": string("True, False or Unknown.", enum=("True", "False", "Unknown")),
            "reason": string(
                "CamelCase reason code.", pattern=REASON, max_length=1024, min_length=1
            ),
            "message": string("Human-readable detail.", max_length=32768),
            "lastTransitionTime": string("When the status last changed.", format="date-time"),
            "observedGeneration": integer("Generation the condition was set for.", minimum=0),
        },
        required=("type", "status", "reason", "message", "lastTransitionTime"),
    )
    return array(
        condition,
        "Ready, Progressing, Degraded and kind-specific conditions.",
        max_items=16,
        list_type="map",
        map_keys=("type",),
    )


def common_status() -> dict[str, Schema]:
    """Status fields both kinds carry."""
    return {
        "observedGeneration": integer("The spec generation last reconciled.", minimum=0),
        "conditions": conditions(),
        "lastSuccessTime": string("When a run last succeeded.", format="date-time"),
        "lastFailureTime": string("When a run last failed.", format="date-time"),
    }


def printer_column(
    name: str,
    path: str,
    *,
    type: str = "string",
    priority: int = 0,
    description: str = "",
) -> dict[str, Any]:
    """One ``additionalPrinterColumns`` entry for ``kubectl get``."""
    column: dict[str, Any] = {"name": name, "type": type, "jsonPath": path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


def ready_column() -> dict[str, Any]:
    """The ``Ready`` column: the status of the Ready condition."""
    return printer_column("Ready", '.status.conditions[?(@.type=="Ready")].status')


def age_column() -> dict[str, Any]:
    """The ``Age`` column ``kubectl get`` shows last."""
    return printer_column("Age", ".metadata.creationTimestamp", type="date")


def name_rule(max_length: int) -> tuple[str, str]:
    """A CEL rule bounding ``metadata.name`` so that child names stay valid."""
    return (
        f"self.metadata.name.size() <= {max_length}",
        f"metadata.name must be at most {max_length} characters (children's names derive from it)",
    )


def definition(
    *,
    kind: str,
    plural: str,
    short_names: Sequence[str],
    description: str,
    spec: Schema,
    status: Mapping[str, Schema],
    columns: Sequence[Mapping[str, Any]],
    max_name: int,
) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind, one served and stored version."""
    root = obj(
        description,
        {
            "apiVersion": string("API version of the object."),
            "kind": string("Kind of the object."),
            "metadata": {"type": "object"},
            "spec": spec,
            "status": obj("Observed state, written by the operator.", status),
        },
        required=("spec",),
        rules=(name_rule(max_name),),
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "tidal", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short_names),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }
