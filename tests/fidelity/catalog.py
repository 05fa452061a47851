"""Every fidelity rule, for the tests of tests/fidelity and tests/deploy."""

from __future__ import annotations

from typing import Final

from tests.fidelity import eventing, keda, keda_sqs, serving
from tests.fidelity.rules import Rule

RULES: Final[tuple[Rule, ...]] = serving.RULES + eventing.RULES + keda.RULES + keda_sqs.RULES
