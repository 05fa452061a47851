"""Reading Dockerfiles without a Docker engine, for tests/deploy: stages, their instructions,
and build arguments expanded as skaffold passes them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ARG_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, op: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == op]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def stages(path: Path) -> list[Stage]:
    found: list[Stage] = []
    for op, args in instructions(path):
        if op == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=words[0], name=name))
        elif found:
            found[-1].instructions.append((op, args))
    return found


def chain(all_stages: list[Stage], target: str | None) -> list[Stage]:
    """The stages a target is built from, base first (the last stage when target is None)."""
    by_name = {s.name: s for s in all_stages if s.name}
    stage = by_name[target] if target else all_stages[-1]
    lineage = [stage]
    while stage.base in by_name:
        stage = by_name[stage.base]
        lineage.insert(0, stage)
    return lineage


def expand(text: str, values: dict[str, str]) -> str:
    """Substitute ``$NAME`` / ``${NAME}`` build arguments; unknown ones raise KeyError."""
    return ARG_REFERENCE.sub(lambda m: values[m.group(1)], text)
