"""Entry point of the ``tidal`` command (``[project.scripts]``): the click group.

Each subcommand's module is imported only when that subcommand runs (`LazyGroup`), so
`tidal run` starts without the dev tooling or any other distribution's code: start-up time is
cold-start time for a scale-from-zero service. Other distributions add commands through the
``tidal.commands`` entry-point group (`PLUGINS`): the ``tidal-operator`` distribution adds its
data plane's ``archive``, ``backup``, ``restore``, ``replay`` and ``dlq`` (operator/pyproject.toml);
without it, or without its ``data-plane`` extra, those commands say what to install
(`ELSEWHERE`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

import click

# name -> "module:attribute" of the click command
COMMANDS: Final = {
    "run": "tidal.cli._run:run",
    "dev": "tidal.cli._dev:dev",
    "send": "tidal.cli._send:send",
    "tail": "tidal.cli._tail:tail",
    "manifests": "tidal.cli._manifests:manifests",
    "asyncapi": "tidal.cli._asyncapi:asyncapi",
    "source": "tidal.cli._source:source",
    "outbox": "tidal.cli._outbox:outbox",
}
PLUGINS: Final = "tidal.commands"
"""The entry-point group of the commands other distributions add (a built-in name wins)."""
ELSEWHERE: Final = dict.fromkeys(
    ("archive", "backup", "restore", "replay", "dlq"), "tidal-operator[data-plane]"
)
"""Commands of another distribution -> what to install, said when they are missing."""


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use; ``plugins`` names the
    entry-point group read (only) for a command that is not built in, and for ``--help``."""

    def __init__(self, *args: Any, plugins: str = PLUGINS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugins = plugins
        self._found: dict[str, EntryPoint] | None = None

    def plugin_commands(self) -> dict[str, EntryPoint]:
        """The installed distributions' commands (read once)."""
        if self._found is None:
            found = entry_points(group=self.plugins)
            self._found = {ep.name: ep for ep in found if ep.name not in COMMANDS}
        return self._found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.plugin_commands(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
        elif (plugin := self.plugin_commands().get(cmd_name)) is not None:
            command = _load(plugin, cmd_name)
        else:
            return None
        self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in ELSEWHERE and self.get_command(ctx, name) is None:
            ctx.fail(
                f"`tidal {name}` is a command of the data plane, which is not installed here:"
                f" pip install '{ELSEWHERE[name]}'"
            )
        return super().resolve_command(ctx, args)


def _load(plugin: EntryPoint, name: str) -> click.Command:
    """The entry point's command; a module it needs and cannot find is a usage error that says
    what to install rather than a traceback."""
    try:
        command: click.Command = plugin.load()
    except ModuleNotFoundError as exc:
        wanted = ELSEWHERE.get(name, plugin.dist.name if plugin.dist else plugin.value)
        raise click.UsageError(f"`tidal {name}` needs {exc.name}: pip install '{wanted}'") from exc
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tidal")
def cli() -> None:
    """tidal: CloudEvents handlers on Knative (HTTP push) or Kafka (KEDA-scaled pull)."""


def main() -> None:
    cli()
