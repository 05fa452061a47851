"""Entry point of the ``tidal`` command (``[project.scripts]``): the click group.

Each subcommand's module is imported only when that subcommand runs (`LazyGroup`), so
`tidal run` starts without the data plane (boto3, cryptography, aiokafka for HTTP) or the
dev tooling: start-up time is cold-start time for a scale-from-zero service.
"""

from __future__ import annotations

import importlib
from typing import Final

import click

# name -> "module:attribute" of the click command
COMMANDS: Final = {
    "run": "tidal.cli.run:run",
    "dev": "tidal.cli.dev:dev",
    "send": "tidal.cli.send:send",
    "tail": "tidal.cli.tail:tail",
    "manifests": "tidal.cli.manifests:manifests",
    "asyncapi": "tidal.cli.asyncapi:asyncapi",
    "archive": "tidal.cli.archive:archive_command",
    "backup": "tidal.cli.backup:backup",
    "restore": "tidal.cli.restore:restore",
    "replay": "tidal.cli.restore:replay",
    "dlq": "tidal.cli.dlq:dlq",
    "source": "tidal.cli.source:source",
    "outbox": "tidal.cli.outbox:outbox",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module, attribute = COMMANDS[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        self.add_command(command, cmd_name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tidal")
def cli() -> None:
    """tidal: CloudEvents handlers on Knative (HTTP push) or Kafka (KEDA-scaled pull)."""


def main() -> None:
    cli()
