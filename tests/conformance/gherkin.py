"""Just enough Gherkin to run the cloudevents/conformance ``.feature`` files as written.

Reads scenarios (outlines expanded over their Examples) into their steps: each step's text,
its doc string and its table. Used by `test_conformance_material.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Step:
    text: str
    doc: str | None = None
    table: list[list[str]] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    steps: list[Step]

    def step(self, start: str) -> Step:
        return next(step for step in self.steps if step.text.startswith(start))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _blocks(path: Path) -> list[tuple[str, list[Step], list[list[str]]]]:
    """(scenario name, steps, examples table) for every scenario of the file."""
    blocks: list[tuple[str, list[Step], list[list[str]]]] = []
    lines = path.read_text().splitlines()
    index, examples = 0, False
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if line.startswith(("Scenario:", "Scenario Outline:")):
            blocks.append((line.split(":", 1)[1].strip(), [], []))
            examples = False
        elif line.startswith("Examples:"):
            examples = True
        elif line.startswith('"""') and blocks:
            end = next(i for i in range(index, len(lines)) if lines[i].strip() == '"""')
            indent = len(lines[index - 1]) - len(lines[index - 1].lstrip())
            blocks[-1][1][-1].doc = "\n".join(text[indent:] for text in lines[index:end])
            index = end + 1
        elif line.startswith("|") and blocks:
            target = blocks[-1][2] if examples else blocks[-1][1][-1].table
            target.append(_cells(line))
        elif line.split(" ", 1)[0] in ("Given", "When", "Then", "And") and blocks:
            blocks[-1][1].append(Step(line.split(" ", 1)[1]))
    return blocks


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return text


def scenarios(path: Path) -> list[Scenario]:
    """The file's scenarios, each outline once per row of its Examples."""
    found = []
    for name, steps, examples in _blocks(path):
        rows = [dict(zip(examples[0], row, strict=True)) for row in examples[1:]] or [{}]
        for values in rows:
            filled = [
                Step(
                    _fill(s.text, values),
                    None if s.doc is None else _fill(s.doc, values),
                    [[_fill(cell, values) for cell in row] for row in s.table],
                )
                for s in steps
            ]
            found.append(Scenario(_fill(name, values), filled))
    return found
