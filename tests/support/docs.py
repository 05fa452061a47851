"""The fenced blocks of a Markdown file, with the HTML comment that marks each one.

`tests/integration/test_docs.py` executes the ``python`` blocks of README.md and docs/*.md (a
block after ``<!-- file: NAME -->`` is a file the reader saves; ``<!-- snippet: kafka -->``
needs a Kafka broker); `tests/integration/test_getting_started.py` types the ``console``
blocks of docs/getting-started.md into a terminal (``<!-- terminal: server -->``: in the
terminal that runs the server). In a ``console`` block, ``$ `` starts a command and the lines
after it are what its output must contain, in order (a leading ``...`` stands for whatever the
line starts with: a timestamp).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*(\w+):\s*(.+?)\s*-->\s*$")


@dataclass
class Block:
    """One fenced block: its language, text, line number and the marks above it."""

    language: str
    text: str
    line: int
    marks: dict[str, str] = field(default_factory=dict)


@dataclass
class Step:
    """A console command and the fragments its output must show, in order."""

    command: str | None
    expected: list[str]


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    marks: dict[str, str] = {}
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        mark, fence = _MARK.match(line), _FENCE.match(line)
        if mark:
            marks[mark.group(1)] = mark.group(2)
        elif fence and fence.group(1):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            text = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(fence.group(1), text, index + 1, marks))
            marks, index = {}, end
        elif line.strip():
            marks = {}
        index += 1
    return found


def steps(block: Block) -> list[Step]:
    """A console block as commands with their expected output (a first step without command:
    output expected from what already runs)."""
    found: list[Step] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append(Step(line[2:], []))
            continue
        fragment = line.removeprefix("...").strip()
        if not fragment:
            continue
        if not found:
            found.append(Step(None, []))
        found[-1].expected.append(fragment)
    return found
