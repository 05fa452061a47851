"""charts/tidal rendered with real Helm for every ci/ scenario: helm lint passes, every object
is valid against Kubernetes' schemas or its CRD's, and each mode makes the objects it should."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import helm_python as helm
import isodate
import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.deploy.rendering import (
    CHART,
    KUBERNETES,
    NAMESPACE,
    ROOT,
    SCENARIOS,
    Doc,
    deep_merge,
    of_kind,
    render,
    rendered,
    scenario_values,
)
from tests.fidelity.catalog import RULES
from tests.support.crds import SHARED_CRDS

WORKLOADS = ("Deployment",)


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) to the openAPIV3Schema, from ../shared/crds and k8s/crds."""
    schemas = {}
    for path in [*SHARED_CRDS.glob("*.yaml"), *(ROOT / "k8s" / "crds").glob("*.yaml")]:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def test_there_is_a_scenario_per_mode() -> None:
    assert {"knative", "kafka-keda", "operator-only", "monitoring"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_finds_nothing(scenario: str) -> None:
    report = helm.lint(str(CHART), scenario_values(scenario), strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems
    assert report["errors"] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_is_valid_against_its_schema(scenario: str) -> None:
    assert SHARED_CRDS.is_dir(), f"{SHARED_CRDS} is missing (set TIDAL_SHARED_CRDS)"
    schemas = crd_schemas()
    docs = rendered(scenario)
    assert docs
    for doc in docs:
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        if (doc["apiVersion"], doc["kind"]) in NO_SHARED_CRD:
            assert [r for r in RULES if r.applies(doc)], "checked by tests/fidelity instead"
        elif schema is None:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        else:
            # no check of the schema itself: CRDs hold Go regexes Python cannot compile
            jsonschema.Draft202012Validator(schema).validate(doc)


# eventing-kafka-broker's KafkaSink: no CRD in shared/crds; tests/fidelity's eventing-kafka-sink
# rule restates its webhook (kafka_sink_validation.go) instead
NO_SHARED_CRD = {("eventing.knative.dev/v1alpha1", "KafkaSink")}


def pod_specs(docs: tuple[Doc, ...]) -> list[tuple[str, Doc]]:
    """Every pod template: Deployments' and Knative Services'."""
    pods = [
        (d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in of_kind(docs, "Deployment")
    ]
    pods += [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1"
    ]
    return pods


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_meets_the_restricted_standard(scenario: str) -> None:
    for name, pod in pod_specs(rendered(scenario)):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"requests", "limits"} <= set(container["resources"]), name
            writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
            assert writable == ["/tmp"], name  # anything else mounted is read-only


def test_knative_services_scale_to_zero_on_concurrency_and_start_without_a_probe_period() -> None:
    """No startup probe (it would have no port and turns off the activator's fast path) and a
    readiness probe without periodSeconds (the queue-proxy's 25 ms probing): tests/fidelity."""
    services = [d for d in rendered("knative") if d["apiVersion"] == "serving.knative.dev/v1"]
    assert sorted(s["metadata"]["name"] for s in services) == ["files", "fleet", "orders"]
    for service in services:
        template = service["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/min-scale"] == "0"
        assert annotations["autoscaling.knative.dev/metric"] == "concurrency"
        assert int(annotations["autoscaling.knative.dev/target"]) > 0
        [container] = template["spec"]["containers"]
        assert "startupProbe" not in container
        assert container["readinessProbe"] == {"httpGet": {"path": "/readyz"}}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["args"] == [f"services.{service['metadata']['name']}.app:app"]
    orders = next(s for s in services if s["metadata"]["name"] == "orders")
    assert (
        orders["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/target"]
        == "20"
    )


def test_knative_mode_makes_a_broker_a_trigger_per_subscription_and_no_workers() -> None:
    docs = rendered("knative")
    [broker] = of_kind(docs, "Broker")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    triggers = of_kind(docs, "Trigger")
    values = scenario_values("knative")["services"]
    expected = {s["trigger"]["name"] for v in values.values() for s in v["subscriptions"]}
    assert {t["metadata"]["name"] for t in triggers} == expected
    assert all(t["spec"]["broker"] == broker["metadata"]["name"] for t in triggers)
    # KEDA scales only the object source (on its queue), never a Knative service
    assert [s["metadata"]["name"] for s in of_kind(docs, "ScaledObject")] == ["tidal-object-source"]
    sinks = of_kind(docs, "SinkBinding")
    # every Knative Service's emitted events go to the Broker (K_SINK): a reply carries one
    # event (eventing pkg/broker/filter/filter_handler.go writeResponse, lines 552-583)
    knative = [
        d["metadata"]["name"] for d in of_kind(docs, "Service") if "knative" in d["apiVersion"]
    ]
    assert knative
    subjects = {(s["spec"]["subject"]["kind"], s["spec"]["subject"]["name"]) for s in sinks}
    deployments = {("Deployment", "tidal-gateway"), ("Deployment", "tidal-object-source")}
    assert subjects == deployments | {("Service", name) for name in knative}
    assert all(s["spec"]["sink"]["ref"]["name"] == broker["metadata"]["name"] for s in sinks)


def test_the_default_dead_letter_sink_goes_only_where_the_code_set_none() -> None:
    values = scenario_values("knative")
    values["services"]["fleet"]["subscriptions"][0]["trigger"]["delivery"]["deadLetterSink"] = {
        "uri": "http://own.example"
    }
    docs = render(values)
    triggers = {t["metadata"]["name"]: t for t in of_kind(docs, "Trigger")}
    sinks = {name: t["spec"]["delivery"]["deadLetterSink"] for name, t in triggers.items()}
    assert sinks.pop("fleet-telemetry") == {"uri": "http://own.example"}
    [kafka_sink] = of_kind(docs, "KafkaSink")
    assert kafka_sink["spec"]["topic"] == values["knative"]["deadLetterSink"]["kafkaTopic"]
    ref = {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink"}
    assert {str(s) for s in sinks.values()} == {
        str({"ref": ref | {"name": kafka_sink["metadata"]["name"]}})
    }


def test_a_dead_letter_uri_and_topic_together_are_refused() -> None:
    values = scenario_values("knative")
    values["knative"]["deadLetterSinkUri"] = "http://sink.example"
    with pytest.raises(helm.HelmError, match="name two fallback dead-letter sinks"):
        render(values)


def test_kafka_keda_mode_scales_workers_from_zero_capped_at_the_partitions() -> None:
    docs = rendered("kafka-keda")
    values = scenario_values("kafka-keda")
    partitions = values["kafka"]["partitions"]
    scaled = {s["metadata"]["name"]: s["spec"] for s in of_kind(docs, "ScaledObject")}
    scaled.pop("tidal-object-source")  # on its queue: test_the_object_source_scales_on_its_queue
    workers = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    assert set(scaled) == {"files", "fleet", "orders"} <= workers
    assert scaled["fleet"]["maxReplicaCount"] == partitions  # keda.maxReplicas 10 capped at 3
    assert scaled["orders"]["maxReplicaCount"] == 2
    for name, spec in scaled.items():
        assert spec["minReplicaCount"] == 0
        assert spec["scaleTargetRef"] == {"name": name}
        groups = {s["consumerGroup"] for s in values["services"][name]["subscriptions"]}
        assert {t["metadata"]["consumerGroup"] for t in spec["triggers"]} == groups
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["lagThreshold"] == "100"
            assert meta["activationLagThreshold"] == "0"
            assert meta["offsetResetPolicy"] == "earliest"
            assert meta["bootstrapServers"] == values["kafka"]["bootstrapServers"]
    assert of_kind(docs, "Trigger") == of_kind(docs, "Broker") == []


def test_an_explicit_zero_is_a_value_not_a_missing_one() -> None:
    """`{{ x | default y }}` turned an explicit 0 into the default."""
    values = scenario_values("knative")
    values["knative"]["minScale"] = 2
    values["services"]["orders"]["minScale"] = 0
    services = {s["metadata"]["name"]: s for s in render(values) if s["kind"] == "Service"}
    annotations = services["orders"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"
    fleet = services["fleet"]["spec"]["template"]["metadata"]["annotations"]
    assert fleet["autoscaling.knative.dev/min-scale"] == "2"
    workers = scenario_values("kafka-keda")
    workers["services"]["orders"]["lagThreshold"] = 0
    with pytest.raises(helm.HelmError, match="lagThreshold"):  # refused, not replaced
        render(workers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keda": {"activationLagThreshold": 5}}, "leaves up to that many events"),
        (
            {"services": {"fleet": {"kafka": {"offsetResetPolicy": "latest"}}}},
            "latest cannot scale from zero",
        ),
    ],
)
def test_workers_that_would_not_wake_for_the_first_event_are_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(deep_merge(scenario_values("kafka-keda"), change))


def test_a_max_scale_below_the_min_scale_is_refused() -> None:
    values = deep_merge(scenario_values("knative"), {"services": {"orders": {"minScale": 6}}})
    with pytest.raises(helm.HelmError, match="maxScale 5 is below minScale 6"):
        render(values)


def test_workers_run_the_kafka_transport_with_the_topics_the_values_name() -> None:
    fleet = next(
        d for d in of_kind(rendered("kafka-keda"), "Deployment") if d["metadata"]["name"] == "fleet"
    )
    [container] = fleet["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--transport", "kafka", "services.fleet.app:app"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TIDAL_KAFKA__TOPICS"] == '["events"]'
    assert env["TIDAL_KAFKA__GROUP_ID_PREFIX"] == "tidal"
    assert "replicas" not in fleet["spec"]  # KEDA owns the count
    probes = {p: container[p]["httpGet"] for p in ("readinessProbe", "livenessProbe")}
    assert probes == {  # the metrics listener: ready while every dependency answers, alive
        "readinessProbe": {"path": "/readyz", "port": "metrics"},
        "livenessProbe": {"path": "/healthz", "port": "metrics"},
    }


def otel_env(docs: tuple[Doc, ...] | list[Doc]) -> dict[str, dict[str, str]]:
    """Each Deployment's OTEL_* variables."""
    found = {}
    for deployment in of_kind(docs, "Deployment"):
        [container, *_] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        found[deployment["metadata"]["name"]] = {k: v for k, v in env.items() if "OTEL" in k}
    return found


def test_tracing_goes_to_the_endpoint_sampled_parent_based_at_one_percent() -> None:
    expected = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }
    traced = otel_env(rendered("kafka-keda"))
    assert traced["fleet"] == expected
    assert traced["tidal-gateway"] == expected
    assert not any(otel_env(rendered("knative")).values())  # no endpoint: tracing stays off


def test_a_sampler_tidal_does_not_know_is_refused_by_the_schema() -> None:
    values = {**scenario_values("kafka-keda"), "tracing": {"endpoint": "x", "sampler": "jaeger"}}
    with pytest.raises(Exception, match="sampler"):
        render(values)


def test_operator_only_renders_the_operator_its_crds_and_nothing_else() -> None:
    docs = rendered("operator-only")
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "NetworkPolicy",
        "ServiceAccount",
    ]
    crds = of_kind(docs, "CustomResourceDefinition")
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)


def test_crds_are_skippable() -> None:
    docs = rendered("monitoring")
    assert of_kind(docs, "CustomResourceDefinition") == []
    assert of_kind(docs, "ClusterRole") != []


def test_monitoring_objects_sit_behind_their_switches() -> None:
    docs = rendered("monitoring")
    monitors = {m["metadata"]["name"]: m for m in of_kind(docs, "PodMonitor")}
    monitor = monitors["tidal-services"]  # (tidal-dlq-drainers: test_deploy_drainer_scrape.py)
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "user-port"
    # the operator's pod too, on its metrics port
    [components] = monitor["spec"]["selector"]["matchExpressions"]
    assert components["values"] == ["service", "operator"]
    assert monitor["spec"]["podMetricsEndpoints"][1]["port"] == "metrics"
    [operator] = [d for d in of_kind(docs, "Deployment") if "operator" in d["metadata"]["name"]]
    [container] = operator["spec"]["template"]["spec"]["containers"]
    assert {"name": "metrics", "containerPort": 9090} in container["ports"]
    labels = operator["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] in components["values"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert len(of_kind(docs, "PrometheusRule")) == 1
    assert len(of_kind(docs, "ConfigMap")) == 3
    quiet = rendered("operator-only")
    assert of_kind(quiet, "PodMonitor") == of_kind(quiet, "PrometheusRule") == []
    assert of_kind(quiet, "ConfigMap") == []


def test_network_policies_admit_knative_and_prometheus_only() -> None:
    policies = {
        p["metadata"]["name"]: p["spec"] for p in of_kind(rendered("knative"), "NetworkPolicy")
    }
    sources = policies["tidal-services"]["ingress"][0]["from"]
    names = {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in sources
        if "namespaceSelector" in s
    }
    assert names == {"knative-serving", "kourier-system", "knative-eventing", "monitoring"}
    # the operator admits only scrapes of its metrics port (the PodMonitor selects it too)
    [scrape] = policies["tidal-operator"]["ingress"]
    assert scrape["ports"] == [{"port": "metrics"}]
    assert {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in scrape["from"]
    } == names
    quiet = of_kind(rendered("operator-only"), "NetworkPolicy")
    assert all("ingress" not in p["spec"] for p in quiet), "no PodMonitor: no ingress at all"


def test_an_enabled_service_without_subscriptions_fails_with_the_command_to_run() -> None:
    values = {"services": {"billing": {"enabled": True, "app": "billing.app:app"}}}
    with pytest.raises(helm.HelmError, match=re.escape("tidal manifests billing.app:app --values")):
        render(values)


KNATIVE_ONLY = ("containerConcurrency", "timeoutSeconds")


def test_knative_pod_templates_are_valid_kubernetes_pod_specs() -> None:
    """Knative's Service CRD leaves the template untyped: check it as the PodSpec it becomes."""
    services = [d for d in rendered("knative") if d["apiVersion"] == "serving.knative.dev/v1"]
    for service in services:
        spec = {
            k: v for k, v in service["spec"]["template"]["spec"].items() if k not in KNATIVE_ONLY
        }
        [container] = spec["containers"]
        assert len(container["ports"]) == 1  # Knative serves one port
        for probe in ("readinessProbe", "livenessProbe"):
            assert "port" not in container[probe]["httpGet"]  # Knative's own port (fidelity)
            container[probe]["httpGet"]["port"] = container["ports"][0]["containerPort"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": service["metadata"], "spec": spec}
        kubernetes_validate.validate(pod, KUBERNETES, strict=True)


DIALECTS = {"exact", "prefix", "suffix", "all", "any", "not", "cesql"}


def check_filter(flt: dict[str, Any]) -> None:
    """One SubscriptionsAPIFilter expression (knative eventing's trigger_types.go contract)."""
    [(dialect, value)] = flt.items()
    assert dialect in DIALECTS
    if dialect in ("exact", "prefix", "suffix"):
        assert value
        assert all(isinstance(v, str) for v in value.values())
    elif dialect in ("all", "any"):
        assert value
        for nested in value:
            check_filter(nested)
    elif dialect == "not":
        check_filter(value)
    else:
        assert isinstance(value, str)
        assert value


def test_triggers_follow_knatives_filter_and_delivery_contracts() -> None:
    triggers = of_kind(rendered("knative"), "Trigger")
    assert any("filters" in t["spec"] for t in triggers)
    assert any("filter" in t["spec"] for t in triggers)
    for trigger in triggers:
        spec = trigger["spec"]
        assert not ("filter" in spec and "filters" in spec)
        for flt in spec.get("filters", []):
            check_filter(flt)
        for value in spec.get("filter", {}).get("attributes", {}).values():
            assert isinstance(value, str)
        delivery = spec["delivery"]
        assert isinstance(delivery["retry"], int)
        assert delivery["retry"] >= 0
        assert delivery["backoffPolicy"] in ("linear", "exponential")
        assert isodate.parse_duration(delivery["backoffDelay"]).total_seconds() > 0
        assert delivery["deadLetterSink"]["ref"]["kind"] == "KafkaSink"
        assert (
            spec["subscriber"]["uri"]
            == f"/{trigger['metadata']['labels']['tidal.dev/subscription']}"
        )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"mode": "kafka"}, "mode"),
        ({"kafka": {"partitions": 0}}, "partitions"),
        ({"services": {"Billing": {"enabled": True}}}, "Billing"),
        ({"keda": {"lagThreshold": "many"}}, "lagThreshold"),
    ],
)
def test_bad_values_are_refused_naming_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(helm.HelmError, match=field):
        render(values)


def test_the_charts_operator_runs_as_k8s_operator_deployment_yaml_does() -> None:
    manifest = yaml.safe_load_all((ROOT / "k8s" / "operator" / "deployment.yaml").read_text())
    [reference] = [d for d in manifest if d["kind"] == "Deployment"]
    [charted] = [
        d
        for d in of_kind(rendered("operator-only"), "Deployment")
        if "operator" in d["metadata"]["name"]
    ]
    [want] = reference["spec"]["template"]["spec"]["containers"]
    [got] = charted["spec"]["template"]["spec"]["containers"]
    assert (got["command"], got["args"]) == (want["command"], want["args"])
    assert {e["name"] for e in want["env"]} <= {e["name"] for e in got["env"]}
    assert got["livenessProbe"] == want["livenessProbe"]
    assert got["ports"] == want["ports"]
    assert charted["spec"]["strategy"] == reference["spec"]["strategy"]
    assert charted["spec"]["replicas"] == 1
