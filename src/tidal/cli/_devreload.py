"""``tidal dev --reload``: rerun the dev loop in a fresh process whenever a ``.py`` file changes.

`dev` calls `supervise` with its own arguments: this process runs ``python -m tidal.cli dev``
without ``--reload`` (on the same ingress port, so ``tidal send`` keeps its address) and polls
the modification times of the ``.py`` files under the current directory (hidden folders,
virtualenvs and caches skipped). On a change it stops the child as Ctrl-C would (it drains and
prints its summary) and starts a new one: a fresh interpreter, so every module is imported anew.
A child that fails at start (a syntax error) is restarted at the next change. The child runs in
a process group of its own: Ctrl-C reaches only this process, which passes it on once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

POLL: Final = 0.5  # s between scans
SETTLE: Final = 0.2  # s to let an editor finish writing before restarting
STOP_TIMEOUT: Final = 40.0  # s for a child to drain (its own limit is 30 s) before SIGKILL
SKIP: Final = frozenset({"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"})

Snapshot = dict[str, int]


def scan(root: Path) -> Snapshot:
    """Modification time (ns) of every ``.py`` file under ``root``."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except FileNotFoundError:
                    continue
    return found


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """The files added, removed or modified between two scans."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def child_args(args: list[str], port: int) -> list[str]:
    """``args`` without ``--reload`` and with ``--port`` set to ``port``."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--port":
            skip = True
        elif arg != "--reload" and not arg.startswith("--port="):
            kept.append(arg)
    return [*kept, "--port", str(port)]


def supervise(args: list[str], *, port: int) -> int:
    """Run ``tidal dev`` (``args`` as given to this process) until Ctrl-C, restarting on change."""
    root = Path.cwd()
    command = [sys.executable, "-m", "tidal.cli", *child_args(args, port)]
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    _say(f"watching the .py files under {root}; a change restarts the run")
    snapshot = scan(root)
    child: subprocess.Popen[bytes] | None = _start(command)
    try:
        while True:
            time.sleep(POLL)
            if child is not None and child.poll() is not None:
                _say(f"the run exited with {child.returncode}; waiting for a change")
                child = None
            now = scan(root)
            if now == snapshot:
                continue
            time.sleep(SETTLE)
            now = scan(root)
            _say(f"{', '.join(_names(changed(snapshot, now), root))} changed: restarting")
            snapshot = now
            if child is not None:
                _stop(child)
            child = _start(command)
    except KeyboardInterrupt:
        if child is not None:
            return _stop(child)
        return 0


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, process_group=0)


def _stop(child: subprocess.Popen[bytes]) -> int:
    """SIGINT (drain and summary), then SIGKILL after `STOP_TIMEOUT`; the exit status."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def _names(paths: list[str], root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in paths[:3]] + (["..."] if len(paths) > 3 else [])


def _say(text: str) -> None:
    print(f"tidal dev --reload: {text}", file=sys.stderr, flush=True)
