"""``tidal asyncapi module:app``: the App's AsyncAPI 3.0 document, YAML or ``--json``.

Channels, operations and messages come from `tidal._asyncapi.document`; Kafka names (topics,
consumer groups, the emit topic) from the same ``TIDAL_KAFKA__*`` settings `tidal run` reads.
"""

from __future__ import annotations

import json
import os
import sys

import click
import yaml

from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal.cli._environment import load_settings


@click.command()
@click.argument("reference")
@click.option(
    "--transport",
    type=click.Choice(["http", "kafka"]),
    default="http",
    show_default=True,
    help="Describe the App as `tidal run` serves it over HTTP (Knative) or on Kafka.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.option("--api-version", default="1.0.0", show_default=True, help="info.version.")
def asyncapi(reference: str, transport: str, as_json: bool, api_version: str) -> None:
    """Print the AsyncAPI 3.0 document of the App at REFERENCE."""
    from tidal._asyncapi import document

    sys.path.insert(0, ".")
    try:
        app = load_app(reference)
        doc = document(
            app,
            transport="kafka" if transport == "kafka" else "http",
            kafka=load_settings(os.environ).kafka,
            version=api_version,
        )
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(yaml.safe_dump(doc, sort_keys=False, width=100), nl=False)
