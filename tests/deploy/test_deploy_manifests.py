"""`tidal manifests`: filters and delivery policy to Triggers, consumer groups to a ScaledObject,
and the chart renders the same objects from the generated values."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.deploy.rendering import of_kind, render, scenario_values

from tidal import App, DeliveryPolicy, all_of, cesql, exact, prefix
from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal._manifests import (
    ScalingOptions,
    scaled_object,
    trigger,
    trigger_delivery,
    trigger_filters,
)
from tidal._manifests.naming import object_name
from tidal._settings import KafkaSettings
from tidal.cli.main import cli


def handler(event: Any) -> None:
    return None


def test_exact_filters_become_attributes() -> None:
    filters = [{"exact": {"type": "a.b"}}, exact(source="/s", subject="x")]
    assert trigger_filters(filters) == {
        "filter": {"attributes": {"type": "a.b", "source": "/s", "subject": "x"}}
    }


@pytest.mark.parametrize(
    "filters",
    [
        [exact(type="a"), prefix(source="/fleet/")],
        [cesql("type LIKE 'a.%'")],
        [exact(type="a"), exact(type="b")],  # contradictory: Knative must see both
        [all_of(exact(type="a"), prefix(subject="x"))],
    ],
)
def test_any_other_dialect_puts_the_whole_list_in_filters(filters: list[dict[str, Any]]) -> None:
    assert trigger_filters(filters) == {"filters": filters}


def test_no_filter_means_every_event() -> None:
    assert trigger_filters([]) == {}


def test_delivery_maps_attempts_backoff_and_a_url_dead_letter() -> None:
    policy = DeliveryPolicy.of(
        max_attempts=4, backoff="linear", delay="PT2S", dead_letter="http://dlq.ns.svc"
    )
    assert trigger_delivery(policy) == {
        "retry": 3,
        "backoffPolicy": "linear",
        "backoffDelay": "PT2S",
        "deadLetterSink": {"uri": "http://dlq.ns.svc"},
    }
    topic = DeliveryPolicy.of(max_attempts=1, dead_letter="{topic}.dead")
    assert trigger_delivery(topic) == {
        "retry": 0,
        "backoffPolicy": "exponential",
        "backoffDelay": "PT0.2S",
    }


def test_long_names_stay_dns_labels_and_distinct() -> None:
    first, second = object_name("a" * 40, "b" * 30), object_name("a" * 40, "b" * 31)
    assert len(first) == len(second) == 63
    assert first != second
    assert object_name("fleet", "notify") == "fleet-notify"


def test_the_scaled_object_caps_replicas_at_the_partitions_and_watches_retry_topics() -> None:
    app = App("billing")
    app.on(type="a")(handler)
    settings = KafkaSettings(topics=["in-a", "in-b"], bootstrap_servers="k:9092")
    spec = scaled_object(app, settings, ScalingOptions(partitions=4, max_replicas=9))["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)
    topics = [t["metadata"]["topic"] for t in spec["triggers"]]
    assert topics == ["in-a", "in-b", "tidal.billing.handler.retry"]
    assert {t["metadata"]["consumerGroup"] for t in spec["triggers"]} == {"tidal.billing"}
    assert all(isinstance(v, str) for t in spec["triggers"] for v in t["metadata"].values())


def test_subscriptions_sharing_the_apps_group_watch_each_source_topic_once() -> None:
    app = App("billing")
    app.on(type="a", name="invoice")(handler)
    app.on(type="a", name="audit")(handler)
    app.on(type="a", name="alone")(handler)
    settings = KafkaSettings(topics=["in"], group_ids={"alone": "solo"})
    triggers = scaled_object(app, settings, ScalingOptions(partitions=2))["spec"]["triggers"]
    pairs = [(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers]
    assert pairs == [
        ("tidal.billing", "in"),
        ("tidal.billing", "tidal.billing.invoice.retry"),
        ("tidal.billing", "tidal.billing.audit.retry"),
        ("solo", "in"),
        ("solo", "solo.alone.retry"),
    ]


def test_bad_scaling_options_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        ScalingOptions(partitions=0)
    with pytest.raises(ConfigurationError):
        ScalingOptions(lag_threshold=0)


def test_the_command_prints_triggers_and_a_scaled_object() -> None:
    result = CliRunner().invoke(cli, ["manifests", "services.fleet.app:app", "--partitions", "2"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert [d["kind"] for d in docs] == ["Trigger", "Trigger", "Trigger", "ScaledObject"]
    assert docs[-1]["spec"]["maxReplicaCount"] == 2
    only = CliRunner().invoke(cli, ["manifests", "services.fleet.app:app", "--mode", "knative"])
    assert {d["kind"] for d in yaml.safe_load_all(only.output)} == {"Trigger"}


def test_the_command_reads_kafka_naming_from_the_environment() -> None:
    env = {"TIDAL_KAFKA__TOPICS": "pos,web", "TIDAL_KAFKA__GROUP_ID_PREFIX": "acme"}
    result = CliRunner().invoke(cli, ["manifests", "services.orders.app:app", "--values"], env=env)
    service = yaml.safe_load(result.output)["services"]["orders"]
    assert service["kafka"]["topics"] == ["pos", "web"]
    assert service["subscriptions"][0]["consumerGroup"] == "acme.orders"
    assert service["subscriptions"][0]["topics"] == ["pos", "web", "acme.orders.inventory.retry"]


def test_a_bad_reference_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["manifests", "no.such.module:app"])
    assert result.exit_code == 1
    assert "cannot import 'no.such.module'" in result.output


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {"kind": doc["kind"], "name": doc["metadata"]["name"], "spec": doc["spec"]}


@pytest.mark.parametrize("name", ["fleet", "orders"])
def test_the_chart_renders_the_triggers_the_command_derives(name: str) -> None:
    app = load_app(f"services.{name}.app:app")
    values = scenario_values("knative")
    values["knative"]["deadLetterSink"]["kafkaTopic"] = ""
    charted = [strip(t) for t in of_kind(render(values), "Trigger")]
    derived = [strip(trigger(app, sub, broker="default")) for sub in app.subscriptions]
    assert derived
    assert all(t in charted for t in derived)


@pytest.mark.parametrize("name", ["fleet", "orders"])
def test_the_chart_renders_the_scaled_object_triggers_the_command_derives(name: str) -> None:
    app = load_app(f"services.{name}.app:app")
    values = scenario_values("kafka-keda")
    options = ScalingOptions(
        partitions=values["kafka"]["partitions"],
        lag_threshold=values["keda"]["lagThreshold"],
        activation_lag_threshold=values["keda"]["activationLagThreshold"],
    )
    settings = KafkaSettings(bootstrap_servers=values["kafka"]["bootstrapServers"])
    derived = scaled_object(app, settings, options)["spec"]["triggers"]
    [charted] = [
        s for s in of_kind(render(values), "ScaledObject") if s["metadata"]["name"] == name
    ]
    assert charted["spec"]["triggers"] == derived


def test_a_retry_topic_two_subscriptions_would_share_is_refused_as_the_worker_refuses_it() -> None:
    app = App("billing")
    app.on(type="a", name="invoice")(handler)
    app.on(type="a", name="audit")(handler)
    settings = KafkaSettings(topics=["in"], retry_topic="{group}.retry")
    with pytest.raises(ConfigurationError, match=r"retry topic 'tidal\.billing\.retry'"):
        scaled_object(app, settings, ScalingOptions(partitions=2))
