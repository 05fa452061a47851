"""Entry point of the ``tidal`` command (``[project.scripts]``): the click group."""

from __future__ import annotations

import click

from tidal.cli.archive import archive_command
from tidal.cli.backup import backup
from tidal.cli.dev import dev
from tidal.cli.dlq import dlq
from tidal.cli.manifests import manifests
from tidal.cli.restore import replay, restore
from tidal.cli.run import run
from tidal.cli.send import send


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tidal")
def cli() -> None:
    """tidal: CloudEvents handlers on Knative (HTTP push) or Kafka (KEDA-scaled pull)."""


cli.add_command(run)
cli.add_command(dev)
cli.add_command(send)
cli.add_command(manifests)
cli.add_command(archive_command)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(replay)
cli.add_command(dlq)


def main() -> None:
    cli()
