"""``tidal manifests module:app``: the App's Knative Triggers and KEDA ScaledObject as YAML.

``--values`` prints the chart-values form instead (``services.<app>`` for charts/tidal); the
reference services' committed values are made this way. ``--event-types`` adds Knative
EventTypes carrying the payload schemas of typed subscriptions (`tidal._manifests.eventtypes`).
Kafka names (topics, consumer-group prefix, offset reset) come from the same ``TIDAL_KAFKA__*``
settings `tidal run` reads, and the Kafka worker's own naming (`tidal._transports.kafka.names`),
so ``tidal[kafka]`` is needed.
"""

from __future__ import annotations

import os
import sys

import click
import yaml

from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal.cli._environment import load_settings


@click.command()
@click.argument("reference")
@click.option("--values", "as_values", is_flag=True, help="Print the chart values instead.")
@click.option(
    "--mode",
    type=click.Choice(["all", "knative", "kafka-keda"]),
    default="all",
    show_default=True,
    help="Which objects to print: Triggers (knative), the ScaledObject (kafka-keda) or both.",
)
@click.option("--broker", default="default", show_default=True, help="Broker the Triggers use.")
@click.option("--partitions", type=int, default=6, show_default=True, help="Topic partitions.")
@click.option(
    "--max-replicas",
    type=int,
    default=6,
    show_default=True,
    help="Most worker replicas (capped at --partitions).",
)
@click.option(
    "--lag-threshold", type=int, default=50, show_default=True, help="Target lag per replica."
)
@click.option(
    "--activation-lag-threshold",
    type=int,
    default=0,
    show_default=True,
    help="Lag above which the worker scales from zero; only 0 is accepted (events would wait).",
)
@click.option(
    "--event-types",
    is_flag=True,
    help="Also print Knative EventTypes (v1beta2) with the payload JSON Schemas of the types "
    "the App emits and the typed ones it consumes.",
)
def manifests(
    reference: str,
    as_values: bool,
    mode: str,
    broker: str,
    partitions: int,
    max_replicas: int,
    lag_threshold: int,
    activation_lag_threshold: int,
    event_types: bool,
) -> None:
    """Print the Kubernetes objects (or chart values) derived from the App at REFERENCE."""
    # imported here: Kafka naming lives in the kafka transport, whose package needs aiokafka
    from tidal._manifests import ScalingOptions, scaled_object, trigger
    from tidal._manifests.eventtypes import event_types as types_of
    from tidal._manifests.values import render_values

    sys.path.insert(0, ".")
    try:
        app = load_app(reference)
        kafka = load_settings(os.environ).kafka
        if as_values:
            click.echo(render_values(app, reference, kafka), nl=False)
            return
        options = ScalingOptions(
            partitions=partitions,
            max_replicas=max_replicas,
            lag_threshold=lag_threshold,
            activation_lag_threshold=activation_lag_threshold,
        )
        documents = []
        if mode in ("all", "knative"):
            documents += [trigger(app, sub, broker=broker) for sub in app.subscriptions]
            if event_types:
                documents += types_of(app, broker=broker)
        if mode in ("all", "kafka-keda"):
            documents.append(scaled_object(app, kafka, options))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(yaml.safe_dump_all(documents, sort_keys=False, width=100), nl=False)
