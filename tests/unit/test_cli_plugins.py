"""The data plane's commands come from the tidal-operator distribution through the
``tidal.commands`` entry points (issue 19: the data plane shipped inside the runtime).

Installed (the dev virtualenv installs ``tidal-operator[data-plane]``), ``tidal backup`` and the
others are found through the group; without the distribution, or with a command whose module
cannot be imported, the ``tidal`` command says what to install instead of "No such command" or
a traceback. The entry points here are real distribution metadata (a ``.dist-info`` on
``sys.path``), read by `importlib.metadata` as pip's would be.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tidal.cli.main import COMMANDS, ELSEWHERE, PLUGINS, LazyGroup, cli

ROOT = Path(__file__).resolve().parents[2]
DATA_PLANE = {"archive", "backup", "restore", "replay", "dlq"}


def declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "operator" / "pyproject.toml").read_text())["project"]
    commands: dict[str, str] = project["entry-points"][PLUGINS]
    return commands


def group(plugins: str) -> click.Group:
    @click.group(cls=LazyGroup, plugins=plugins)
    def tidal() -> None:
        """A tidal command reading another entry-point group."""

    return tidal


def test_the_operator_distribution_declares_the_data_plane_commands_and_they_are_installed() -> (
    None
):
    assert set(declared()) == DATA_PLANE == set(ELSEWHERE)
    installed = {ep.name: ep.value for ep in entry_points(group=PLUGINS)}
    assert installed == declared()  # stale metadata: `make venv` re-installs ./operator
    assert not DATA_PLANE & set(COMMANDS)  # none of them is built into the runtime


def test_an_installed_data_plane_command_runs_through_the_tidal_command() -> None:
    outcome = CliRunner().invoke(cli, ["backup", "--help"])
    assert outcome.exit_code == 0, outcome.output
    assert "Back up topics" in outcome.output
    backup = cli.get_command(click.Context(cli), "backup")
    assert backup is not None
    assert backup.callback is not None
    assert backup.callback.__module__ == "tidal_data.cli.backup"
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert all(f"  {name} " in listed for name in DATA_PLANE | set(COMMANDS))


def test_without_the_data_plane_its_commands_say_what_to_install() -> None:
    bare = group("tidal.commands.nothing-installed")
    outcome = CliRunner().invoke(bare, ["backup", "run"])
    assert outcome.exit_code == 2
    assert "pip install 'tidal-operator[data-plane]'" in outcome.output
    listed = CliRunner().invoke(bare, ["--help"]).output
    assert "  run " in listed
    assert not any(f"  {name} " in listed for name in DATA_PLANE)
    unknown = CliRunner().invoke(bare, ["bakup"])
    assert unknown.exit_code == 2
    assert "No such command 'bakup'" in unknown.output


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution declaring ``backup`` in a group of its own, from a module that is not
    there (as ``tidal-operator`` without its data-plane extra lacks boto3)."""
    info = tmp_path / "tidal_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tidal-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[tidal.commands.broken]\nbackup = tidal_broken_absent.cli:backup\nrun = x:y\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert str(tmp_path) in sys.path
    return "tidal.commands.broken"


def test_a_command_whose_module_is_missing_says_what_to_install(broken_plugin: str) -> None:
    plugged = group(broken_plugin)
    outcome = CliRunner().invoke(plugged, ["backup", "run"])
    assert outcome.exit_code == 2
    assert "needs tidal_broken_absent" in outcome.output
    assert "pip install 'tidal-operator[data-plane]'" in outcome.output
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)


def test_a_plugin_cannot_replace_a_built_in_command(broken_plugin: str) -> None:
    plugged = group(broken_plugin)
    command = plugged.get_command(click.Context(plugged), "run")
    assert command is not None
    assert command.callback is not None
    assert command.callback.__module__ == "tidal.cli._run"
