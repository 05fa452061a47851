"""Entry point of the ``tidal`` command (``[project.scripts]``): the click group."""

from __future__ import annotations

import click

from tidal.cli.dev import dev
from tidal.cli.run import run
from tidal.cli.send import send


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tidal")
def cli() -> None:
    """tidal: CloudEvents handlers on Knative (HTTP push) or Kafka (KEDA-scaled pull)."""


cli.add_command(run)
cli.add_command(dev)
cli.add_command(send)


def main() -> None:
    cli()
