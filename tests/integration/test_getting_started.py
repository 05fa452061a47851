"""docs/getting-started.md typed into real terminals (pexpect), its output checked as it says.

Issue 18's "done when": a terminal test walks the guide's commands. The guide's files are saved
in a fresh folder; each ``console`` block's commands are typed into a bash on a pseudo-terminal
(so tidal sees a terminal: text logs), ``<!-- terminal: server -->`` blocks into a second one that
runs the server (a new server block stops the previous server with Ctrl-C). Port 8080 becomes a
free port and ``localhost:9092`` the suite's Kafka-protocol broker (tansu, with its idempotent
producer setting, as the guide says).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from tests.support.docs import Block, blocks, steps
from tests.support.kafka import idempotence_supported
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
PROMPT = "tidal-guide$ "
TIMEOUT = 60


class Terminal:
    """A bash on a pseudo-terminal: `type` a command, `expect` output, wait for the prompt."""

    def __init__(self, cwd: Path, env: dict[str, str], log: list[str]) -> None:
        self.shell = pexpect.spawn(
            "bash",
            ["--norc", "--noprofile"],
            cwd=str(cwd),
            env={**env, "PS1": PROMPT},
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(50, 400),
            timeout=TIMEOUT,
        )
        self.shell.logfile_read = _Collect(log)
        self.prompt()

    def type(self, command: str) -> None:
        self.shell.sendline(command)

    def expect(self, fragment: str) -> None:
        try:
            self.shell.expect_exact(fragment)
        except (pexpect.TIMEOUT, pexpect.EOF):
            seen = str(self.shell.before)[-3000:]
            raise AssertionError(
                f"the guide expects {fragment!r}; the terminal shows:\n{seen}"
            ) from None

    def prompt(self) -> None:
        self.shell.expect_exact(PROMPT)

    def interrupt(self) -> None:
        self.shell.sendintr()
        self.prompt()

    def close(self) -> None:
        self.shell.close(force=True)


class _Collect:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def write(self, text: str) -> None:
        self.log.append(text)

    def flush(self) -> None:
        return None


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for block in blocks(GUIDE):
        if "file" in block.marks:
            (tmp_path / block.marks["file"]).write_text(block.text)
    return tmp_path


@pytest.fixture
def environment(kafka_bootstrap: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDAL_", "PYTEST_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["TIDAL_OBSERVABILITY__METRICS_PORT"] = "0"  # several workers on one test machine
    env["TERM"] = "dumb"
    return env


def substitute(command: str, port: int, bootstrap: str) -> str:
    kafka = f"TIDAL_KAFKA__BOOTSTRAP_SERVERS={bootstrap}"
    if not idempotence_supported(bootstrap):
        kafka += " TIDAL_KAFKA__IDEMPOTENT_PRODUCER=false"
    command = command.replace("TIDAL_KAFKA__BOOTSTRAP_SERVERS=localhost:9092", kafka)
    return command.replace("8080", str(port))


def console_blocks() -> list[Block]:
    return [block for block in blocks(GUIDE) if block.language == "console"]


def test_the_guide_has_commands_for_every_step() -> None:
    commands = [step.command for block in console_blocks() for step in steps(block)]
    joined = "\n".join(c for c in commands if c)
    for needed in ("tidal run handlers.py", "tidal send", "pytest", "--transport kafka"):
        assert needed in joined
    assert "tidal manifests" in joined


@pytest.fixture
def terminals(folder: Path, environment: dict[str, str]) -> Iterator[tuple[Terminal, Terminal]]:
    log: list[str] = []
    main, server = Terminal(folder, environment, log), Terminal(folder, environment, log)
    try:
        yield main, server
    finally:
        server.shell.sendintr()
        main.close()
        server.close()


def test_the_getting_started_guide_runs_as_written(
    terminals: tuple[Terminal, Terminal], kafka_bootstrap: str
) -> None:
    main, server = terminals
    port, serving = free_port(), False
    for block in console_blocks():
        on_server = block.marks.get("terminal") == "server"
        terminal = server if on_server else main
        for step in steps(block):
            if step.command is not None:
                if on_server and serving:
                    server.interrupt()  # the next server replaces the last
                terminal.type(substitute(step.command, port, kafka_bootstrap))
                serving = serving or on_server
            for fragment in step.expected:
                terminal.expect(fragment.replace("8080", str(port)))
            if step.command is not None and not on_server:
                terminal.prompt()
    server.interrupt()
