"""Status conditions (``metav1.Condition``): a small value type and the merge that keeps times.

``lastTransitionTime`` changes only when a condition's status flips, as the Kubernetes API
conventions ask. Pure; called by ``backup_status``, ``dlq_status`` and ``summarizing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tidal_operator.checks import SpecError

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"


@dataclass(frozen=True)
class Condition:
    """One condition as the operator decides it; times are added by ``merged``."""

    type: str
    status: str
    reason: str
    message: str = ""


def merged(
    previous: Sequence[Mapping[str, Any]],
    current: Sequence[Condition],
    *,
    now: str,
    generation: int,
) -> list[dict[str, Any]]:
    """The new condition list; a condition keeps its transition time while its status holds."""
    before = {str(item.get("type")): item for item in previous}
    result = []
    for condition in current:
        old = before.get(condition.type)
        unchanged = old is not None and old.get("status") == condition.status
        result.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": old["lastTransitionTime"] if unchanged and old else now,
                "observedGeneration": generation,
            }
        )
    return result


def invalid_conditions(error: SpecError) -> list[Condition]:
    """SpecValid, Ready, Degraded and Progressing of a spec that cannot be reconciled."""
    invalid = Condition("SpecValid", FALSE, error.reason, error.message)
    held = "nothing is changed until the spec is fixed; existing children are left as they are"
    return [
        invalid,
        Condition("Ready", FALSE, error.reason, error.message),
        Condition("Degraded", TRUE, error.reason, error.message),
        Condition("Progressing", FALSE, "InvalidSpec", held),
    ]


def ready_and_degraded(problems: Sequence[Condition], *, ok: Condition) -> list[Condition]:
    """Ready and Degraded from the first problem found (each a Condition naming its reason)."""
    if not problems:
        return [ok, Condition("Degraded", FALSE, "AsExpected", "")]
    first = problems[0]
    return [
        Condition("Ready", FALSE, first.reason, first.message),
        Condition("Degraded", TRUE, first.reason, first.message),
    ]
