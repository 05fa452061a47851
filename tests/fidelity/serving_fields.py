"""Knative Serving's allowlists and names at the pin (knative/serving knative-v1.22.1), as data.

Each constant names the file and lines it restates; ``tests.fidelity.serving`` checks
Knative Services against them.
"""

from __future__ import annotations

from typing import Final

# features.go:82-116 (defaults) and 56-79, 124-155 (every flag name asFlag reads)
FEATURE_DEFAULTS: Final = {
    "multi-container": "Enabled",
    "multi-container-probing": "Disabled",
    "kubernetes.podspec-affinity": "Disabled",
    "kubernetes.podspec-topologyspreadconstraints": "Disabled",
    "kubernetes.podspec-hostaliases": "Disabled",
    "kubernetes.podspec-fieldref": "Disabled",
    "kubernetes.podspec-nodeselector": "Disabled",
    "kubernetes.podspec-runtimeclassname": "Disabled",
    "kubernetes.podspec-securitycontext": "Disabled",
    "kubernetes.podspec-shareprocessnamespace": "Disabled",
    "kubernetes.podspec-hostipc": "Disabled",
    "kubernetes.podspec-hostpid": "Disabled",
    "kubernetes.podspec-hostnetwork": "Disabled",
    "kubernetes.podspec-priorityclassname": "Disabled",
    "kubernetes.podspec-schedulername": "Disabled",
    "kubernetes.containerspec-addcapabilities": "Disabled",
    "kubernetes.podspec-tolerations": "Disabled",
    "kubernetes.podspec-volumes-emptydir": "Enabled",
    "kubernetes.podspec-volumes-hostpath": "Disabled",
    "kubernetes.podspec-volumes-mount-propagation": "Disabled",
    "kubernetes.podspec-volumes-csi": "Disabled",
    "kubernetes.podspec-volumes-image": "Disabled",
    "kubernetes.podspec-persistent-volume-claim": "Disabled",
    "kubernetes.podspec-persistent-volume-write": "Disabled",
    "queueproxy.mount-podinfo": "Disabled",
    "queueproxy.resource-defaults": "Disabled",
    "kubernetes.podspec-init-containers": "Disabled",
    "kubernetes.podspec-dnspolicy": "Disabled",
    "kubernetes.podspec-dnsconfig": "Disabled",
    "secure-pod-defaults": "Disabled",
    "tag-header-based-routing": "Disabled",
    "autodetect-http2": "Disabled",
}
FLAGS: Final = ("Enabled", "Allowed", "Disabled")  # features.go:205-218: case-insensitive
# fieldmask.go:226-236: always allowed (automountServiceAccountToken only when false)
POD_ALWAYS: Final = frozenset(
    {"serviceAccountName", "containers", "volumes", "imagePullSecrets", "enableServiceLinks"}
)
# fieldmask.go:238-288: allowed unless the flag is Disabled
POD_GATED: Final = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "tolerations": "kubernetes.podspec-tolerations",
    "securityContext": "kubernetes.podspec-securitycontext",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
}
# pkg/apis/serving/v1/revision_types.go:84-102: the RevisionSpec's own fields
REVISION_FIELDS: Final = frozenset(
    {"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"}
)
# fieldmask.go:314-330
CONTAINER_FIELDS: Final = frozenset(
    {"name", "args", "command", "env", "workingDir", "envFrom", "image", "imagePullPolicy"}
    | {"livenessProbe", "ports", "readinessProbe", "resources", "securityContext"}
    | {"startupProbe", "terminationMessagePath", "terminationMessagePolicy", "volumeMounts"}
)
# fieldmask.go:663-705 (with the flag) and 707-741
POD_SECURITY: Final = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups", "seccompProfile"}
)
CONTAINER_SECURITY: Final = frozenset(
    {"capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup", "runAsNonRoot"}
    | {"allowPrivilegeEscalation", "seccompProfile", "privileged"}
)
# fieldmask.go:51-85
VOLUME_ALWAYS: Final = frozenset({"secret", "configMap", "projected"})
VOLUME_GATED: Final = {
    "emptyDir": "kubernetes.podspec-volumes-emptydir",
    "persistentVolumeClaim": "kubernetes.podspec-persistent-volume-claim",
    "hostPath": "kubernetes.podspec-volumes-hostpath",
    "csi": "kubernetes.podspec-volumes-csi",
    "image": "kubernetes.podspec-volumes-image",
}
# k8s_validation.go:61-80 with pkg/networking/constants.go:24-42 and knative.dev/pkg pprof.go:34
RESERVED_PORTS: Final = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
PORT_NAMES: Final = frozenset({"", "h2c", "http1"})
# pkg/apis/autoscaling/register.go:38-223 (keys) and 227-283 (their older spellings)
SCALING: Final = "autoscaling.knative.dev/"
SCALING_KEYS: Final = frozenset(
    {"class", "min-scale", "max-scale", "initial-scale", "scale-down-delay", "metric", "target"}
    | {"scale-to-zero-pod-retention-period", "metric-aggregation-algorithm", "window"}
    | {"target-utilization-percentage", "target-burst-capacity", "panic-window-percentage"}
    | {"panic-threshold-percentage", "activation-scale", "initialScale", "maxScale", "minScale"}
    | {"metricAggregationAlgorithm", "panicThresholdPercentage", "panicWindowPercentage"}
    | {"scaleDownDelay", "scaleToZeroPodRetentionPeriod", "targetBurstCapacity"}
    | {"targetUtilizationPercentage"}
)
TARGET_MIN: Final = 0.01  # register.go:83-87
KPA_METRICS: Final = frozenset({"concurrency", "rps"})  # annotation_validation.go:237-262
# pkg/deployment/config.go:123 (config/core/configmaps/deployment.yaml:47)
SKIPPED_REGISTRIES: Final = frozenset({"kind.local", "ko.local", "dev.local"})
