"""docs/architecture.md names only modules that exist (issue 19: the doc had drifted).

Every dotted name of tidal's packages (``tidal._stores``, ``tidal_operator.metrics``,
``tidal_data.writer``, ``services.gateway``) must be a module, or a module's attribute; every
path in backquotes (```bindings/http.py```, ```cli/{run,send,tail}.py```, ```tests/unit/...```)
must be a file or folder of the repository, a bare one under ``src/tidal`` (or below it, as
```kafka/fitting.py```). Mermaid diagrams are read like the text.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("tidal", "tidal_operator", "tidal_data", "services", "harness", "bench", "monitoring")
DOTTED = re.compile(r"(?<![\w./-])(?:" + "|".join(PACKAGES) + r")(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"`([\w{},-][\w{},./-]*(?:/|\.py|\.md))`")
"""A path in backquotes (not a bare suffix: "a `.py` change")."""
OUTSIDE = ("shared/",)
"""Paths outside the repository (the upstream docs)."""


def dotted_names(text: str) -> set[str]:
    return {name.rstrip(".") for name in DOTTED.findall(text)}


def paths(text: str) -> set[str]:
    return {p for p in PATH.findall(text) if "/" in p or p.endswith(".py")}


def expand(path: str) -> list[str]:
    """``cli/{archive,backup}.py`` -> ``cli/archive.py``, ``cli/backup.py``."""
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent is a module, not a package
        return False


def module_exists(name: str) -> bool:
    """A module, or an attribute of one (``tidal._pipeline.Pipeline``)."""
    if is_module(name):
        return True
    parent, _, attribute = name.rpartition(".")
    return is_module(parent) and hasattr(importlib.import_module(parent), attribute)


def path_exists(path: str) -> bool:
    if path.startswith(OUTSIDE):
        return True
    if (ROOT / path).exists():
        return True
    src = ROOT / "src" / "tidal"
    if (src / path).exists():
        return True
    tail = path.rstrip("/")
    return any(str(p).endswith("/" + tail) for p in src.rglob(Path(tail).name))


def missing(text: str) -> list[str]:
    gone = [name for name in sorted(dotted_names(text)) if not module_exists(name)]
    for path in sorted(paths(text)):
        gone += [p for p in expand(path) if not path_exists(p)]
    return gone


def test_every_module_the_architecture_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(dotted_names(text)) > 30  # the parser finds them
    assert len(paths(text)) > 30
    assert missing(text) == []


def test_a_module_that_does_not_exist_is_caught() -> None:
    text = (
        "`tidal._transports.kafka.juggling` runs it; `cli/{_run,nothing}.py`, "
        "`stores/memcached.py` and `tidal.observability._hooks.tracer` (an attribute)."
    )
    assert missing(text) == [
        "tidal._transports.kafka.juggling",
        "cli/nothing.py",
        "stores/memcached.py",
    ]
