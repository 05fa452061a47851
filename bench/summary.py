"""The ratios each benchmark reports against its target, and the one table `python -m bench`
prints after running them all."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

OPERATORS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Ratio:
    """One measured ratio (tidal / its baseline) and the target it must meet."""

    bench: str
    what: str
    value: float
    op: str  # ">=" or "<="
    target: float

    @property
    def met(self) -> bool:
        return bool(OPERATORS[self.op](self.value, self.target))


def table(ratios: Sequence[Ratio]) -> str:
    lines = [f"{'benchmark':12} {'ratio':58} {'value':>7}  {'target':>8}  met"]
    for r in ratios:
        mark = "yes" if r.met else "NO"
        lines.append(f"{r.bench:12} {r.what:58} {r.value:7.2f}  {r.op} {r.target:5.2f}  {mark}")
    return "\n".join(lines)
