"""The operator's own manifests: one Recreate replica, a liveness probe, least-privilege RBAC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tidal_operator.crds import GROUP
from tidal_operator.kube import RESOURCES
from tidal_operator.reconciling import BACKUP_LOCATION, BACKUP_POLICY, DLQ_ARCHIVE, RESTORE

MANIFESTS = Path(__file__).resolve().parents[2] / "k8s" / "operator"


def documents(name: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((MANIFESTS / name).read_text(encoding="utf-8"))
    return {doc["kind"]: doc for doc in docs}


def operator_container() -> dict[str, Any]:
    deployment = documents("deployment.yaml")["Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("name", ["deployment.yaml", "rbac.yaml"])
def test_every_object_is_a_valid_kubernetes_object(name: str) -> None:
    for doc in documents(name).values():
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_operator_runs_once_recreated_and_standalone() -> None:
    spec = documents("deployment.yaml")["Deployment"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    container = operator_container()
    assert container["command"] == ["kopf"]
    args = container["args"]
    assert args[0] == "run"
    assert {"--standalone", "--all-namespaces"} <= set(args)
    assert args[args.index("-m") + 1] == "tidal_operator.main"


def test_the_liveness_probe_asks_kopfs_health_endpoint() -> None:
    container = operator_container()
    [liveness] = [arg for arg in container["args"] if arg.startswith("--liveness=")]
    assert liveness == "--liveness=http://0.0.0.0:8080/healthz"
    probe = container["livenessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert (probe["path"], ports[probe["port"]]) == ("/healthz", 8080)


def test_the_operator_pod_is_restricted() -> None:
    deployment = documents("deployment.yaml")
    assert (
        deployment["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    pod = deployment["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = operator_container()["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def expected_rules() -> dict[tuple[str, str], set[str]]:
    """Exactly what the code touches (kopf's own needs, then the children's client)."""
    rules = {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("", "namespaces"): {"list", "watch"},
        ("", "events"): {"create"},
    }
    for kind in (BACKUP_POLICY, DLQ_ARCHIVE, RESTORE, BACKUP_LOCATION):
        rules[(GROUP, kind.plural)] = {"list", "watch", "patch"}
        rules[(GROUP, f"{kind.plural}/status")] = {"patch"}
    rules[(GROUP, BACKUP_LOCATION.plural)].add("get")  # a Restore reads the one it names
    kinds = (BACKUP_POLICY, DLQ_ARCHIVE, RESTORE, BACKUP_LOCATION)
    for child in {child for kind in kinds for child in kind.managed}:
        api_version, plural = RESOURCES[child]
        group = api_version.rpartition("/")[0]
        # server-side apply creates too: patch, and create when it creates (Jobs as well)
        rules[(group, plural)] = {"get", "list", "create", "patch", "delete"}
    rules[("", "pods")] = {"list"}
    return rules


def test_rbac_grants_exactly_what_the_operator_uses() -> None:
    role = documents("rbac.yaml")["ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == expected_rules()


def test_the_binding_gives_the_role_to_the_deployments_service_account() -> None:
    rbac = documents("rbac.yaml")
    account = rbac["ServiceAccount"]["metadata"]
    [subject] = rbac["ClusterRoleBinding"]["subjects"]
    assert (subject["name"], subject["namespace"]) == (account["name"], account["namespace"])
    assert rbac["ClusterRoleBinding"]["roleRef"]["name"] == rbac["ClusterRole"]["metadata"]["name"]
    pod = documents("deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]
