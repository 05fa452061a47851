"""Knative Serving's rules for a Knative Service, restated from knative/serving at the pin.

What the webhook lets through (the PodSpec, container, security-context and volume allowlists,
gated by the feature flags of config-features), what the revision reconciler does with probes,
the autoscaling annotations' names and ranges, and which images Knative resolves to digests.
``features(configs)`` is Knative's config-features as bootstrap.sh leaves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from tests.fidelity.rules import Cluster, Doc, Rule, is_kind
from tests.fidelity.serving_fields import (
    CONTAINER_FIELDS,
    CONTAINER_SECURITY,
    FEATURE_DEFAULTS,
    FLAGS,
    KPA_METRICS,
    POD_ALWAYS,
    POD_GATED,
    POD_SECURITY,
    PORT_NAMES,
    RESERVED_PORTS,
    REVISION_FIELDS,
    SCALING,
    SCALING_KEYS,
    SKIPPED_REGISTRIES,
    TARGET_MIN,
    VOLUME_ALWAYS,
    VOLUME_GATED,
)
from tests.fidelity.upstream import SERVING, Cite

FIELDMASK: Final = "pkg/apis/serving/fieldmask.go"
FEATURES_GO: Final = "pkg/apis/config/features.go"
VALIDATION: Final = "pkg/apis/serving/k8s_validation.go"
ANNOTATIONS: Final = "pkg/apis/autoscaling/annotation_validation.go"


def features(configs: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """config-features as Knative reads it: its defaults, then each known key whose value is
    a flag (any case); other values are ignored (features.go:205-218)."""
    flags = dict(FEATURE_DEFAULTS)
    for key, raw in configs.get("config-features", {}).items():
        match = [flag for flag in FLAGS if flag.lower() == str(raw).lower()]
        if key in flags and match:
            flags[key] = match[0]
    return flags


def _on(cluster: Cluster, flag: str) -> bool:
    return cluster.features.get(flag, "Disabled") != "Disabled"


def _template(doc: Doc) -> dict[str, Any]:
    return dict(doc.get("spec", {}).get("template", {}))


def _containers(doc: Doc) -> list[dict[str, Any]]:
    return list(_template(doc).get("spec", {}).get("containers", []))


def check_pod_fields(doc: Doc, cluster: Cluster) -> Iterator[str]:
    spec = _template(doc).get("spec", {})
    for key, value in spec.items():
        gated = POD_GATED.get(key)
        if key == "automountServiceAccountToken" and value is not False:
            yield "automountServiceAccountToken may only be false"
        elif key in POD_ALWAYS | REVISION_FIELDS or key == "automountServiceAccountToken":
            continue
        elif gated is None:
            yield f"spec.template.spec.{key} is not allowed by Knative"
        elif not _on(cluster, gated):
            yield f"spec.template.spec.{key} needs config-features {gated} enabled"


def check_security(doc: Doc, cluster: Cluster) -> Iterator[str]:
    pod = _template(doc).get("spec", {}).get("securityContext") or {}
    for key in sorted(set(pod) - POD_SECURITY):
        yield f"pod securityContext.{key} is not allowed by Knative"
    for container in _containers(doc):
        security = container.get("securityContext") or {}
        for key in sorted(set(security) - CONTAINER_SECURITY):
            yield f"container {container['name']}: securityContext.{key} is not allowed"
        if security.get("privileged") not in (None, False):
            yield f"container {container['name']}: privileged may only be false"
        adds = (security.get("capabilities") or {}).get("add")
        if adds and cluster.features.get("kubernetes.containerspec-addcapabilities") != "Enabled":
            yield f"container {container['name']}: capabilities.add needs addcapabilities"


def check_containers(doc: Doc, cluster: Cluster) -> Iterator[str]:
    for container in _containers(doc):
        for key in sorted(set(container) - CONTAINER_FIELDS):
            yield f"container {container.get('name')}: {key} is not allowed by Knative"
        for port in container.get("ports", []):
            if set(port) - {"containerPort", "name", "protocol"}:
                yield f"port {port}: only containerPort, name and protocol are allowed"
            if port.get("name", "") not in PORT_NAMES:
                yield f"port name {port.get('name')!r} must be empty, h2c or http1"
            if port.get("containerPort") in RESERVED_PORTS:
                yield f"port {port.get('containerPort')} is reserved by Knative"
            if port.get("protocol", "TCP") != "TCP":
                yield "port protocol must be TCP"
    spec = _template(doc).get("spec", {})
    for volume in spec.get("volumes", []):
        for key in set(volume) - {"name"}:
            flag = VOLUME_GATED.get(key)
            if key not in VOLUME_ALWAYS and (flag is None or not _on(cluster, flag)):
                yield f"volume {volume['name']}: {key} is not allowed (flag {flag})"


def _probe_port(probe: Mapping[str, Any]) -> Any:
    action = probe.get("httpGet") or probe.get("tcpSocket")
    return None if action is None else action.get("port", 0)


def check_probes(doc: Doc, cluster: Cluster) -> Iterator[str]:
    for container in _containers(doc):
        name = container.get("name")
        port_name = (container.get("ports") or [{}])[0].get("name", "")
        startup = container.get("startupProbe") or {}
        handler = startup.get("httpGet") is not None or startup.get("tcpSocket") is not None
        if handler and _probe_port(startup) in (0, "", None):
            yield f"container {name}: startupProbe has no port (only liveness gets one filled in)"
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            port = _probe_port(container.get(kind) or {})
            if isinstance(port, str) and port not in ("", port_name):
                yield f"container {name}: {kind} port {port!r} must match the container port"
        readiness = container.get("readinessProbe") or {}
        if not readiness.get("periodSeconds"):
            for key in ("failureThreshold", "timeoutSeconds"):
                if key in readiness:
                    yield f"container {name}: readinessProbe.{key} needs periodSeconds"


def check_cold_start(doc: Doc, cluster: Cluster) -> Iterator[str]:
    for container in _containers(doc):
        if "startupProbe" in container:
            yield f"container {container['name']}: a startupProbe disables the activator fast path"
        if (container.get("readinessProbe") or {}).get("periodSeconds"):
            yield f"container {container['name']}: readiness periodSeconds stops aggressive probing"


def _integer(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def check_scaling(doc: Doc, cluster: Cluster) -> Iterator[str]:
    annotations = {
        k.removeprefix(SCALING): v
        for k, v in (_template(doc).get("metadata", {}).get("annotations") or {}).items()
        if k.startswith(SCALING)
    }
    for key in sorted(set(annotations) - SCALING_KEYS):
        yield f"{SCALING}{key} is no autoscaling annotation Knative reads"
    bounds = {}
    for key in ("min-scale", "max-scale", "initial-scale"):
        if key in annotations:
            value = _integer(annotations[key])
            if value is None or value < 0:
                yield f"{SCALING}{key} {annotations[key]!r} must be an integer >= 0"
            bounds[key] = value or 0
    if bounds.get("max-scale", 0) and bounds["max-scale"] < bounds.get("min-scale", 0):
        yield f"max-scale {bounds['max-scale']} is less than min-scale {bounds['min-scale']}"
    if "target" in annotations:
        try:
            if float(annotations["target"]) < TARGET_MIN:
                yield f"target {annotations['target']} is below {TARGET_MIN}"
        except ValueError:
            yield f"target {annotations['target']!r} is not a number"
    kpa = annotations.get("class", "kpa.autoscaling.knative.dev") == "kpa.autoscaling.knative.dev"
    if kpa and "metric" in annotations and annotations["metric"] not in KPA_METRICS:
        yield f"metric {annotations['metric']!r} is not one the KPA scales on"


def registry(image: str) -> str:
    """go-containerregistry's registry of a reference: its first part when that has a dot or
    colon or is localhost, else Docker Hub."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "index.docker.io"


def check_images(doc: Doc, cluster: Cluster) -> Iterator[str]:
    """A local build (the dev loop) is in no registry: Knative must skip resolving its tag
    (resolve.go:101) and it must not go by digest, which only a registry gives (a digest
    reference is taken as is, resolve.go:91, and then not found on the node)."""
    if not cluster.local_images:
        return
    for container in _containers(doc):
        image = container.get("image", "")
        if "@sha256:" in image:
            yield f"image {image}: a local build has no registry digest to be pulled by"
        elif registry(image) not in SKIPPED_REGISTRIES:
            yield f"image {image}: Knative resolves it at {registry(image)}: no local build there"


def cite(path: str, lines: str) -> Cite:
    return Cite(SERVING, path, lines)


SERVICE = is_kind("serving.knative.dev/v1", "Service")
RULES: Final = (
    Rule(
        "serving-podspec-fields",
        (cite(FIELDMASK, "218-301"), cite(FEATURES_GO, "56-116")),
        SERVICE,
        check_pod_fields,
    ),
    Rule("serving-security-context", (cite(FIELDMASK, "663-760"),), SERVICE, check_security),
    Rule(
        "serving-containers",
        (cite(FIELDMASK, "51-85,306-338,480-497"), cite(VALIDATION, "61-80,753-806")),
        SERVICE,
        check_containers,
    ),
    Rule(
        "serving-probes",
        (
            cite("pkg/reconciler/revision/resources/deploy.go", "141-155,292-302"),
            cite(VALIDATION, "809-880"),
        ),
        SERVICE,
        check_probes,
    ),
    Rule(
        "serving-cold-start",
        (
            cite("pkg/activator/net/revision_backends.go", "556-564"),
            cite("pkg/queue/readiness/probe.go", "122-124"),
        ),
        SERVICE,
        check_cold_start,
    ),
    Rule(
        "serving-autoscaling-annotations",
        (
            cite("pkg/apis/autoscaling/register.go", "38-283"),
            cite(ANNOTATIONS, "33-52,93-130,178-262"),
        ),
        SERVICE,
        check_scaling,
    ),
    Rule(
        "serving-image-resolution",
        (
            cite("pkg/reconciler/revision/resolve.go", "80-101"),
            cite("pkg/deployment/config.go", "123"),
        ),
        SERVICE,
        check_images,
    ),
)
