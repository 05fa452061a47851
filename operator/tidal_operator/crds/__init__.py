"""The CustomResourceDefinitions, built in Python: the one source of truth for their YAML.

``python -m tidal_operator.crds --out k8s/crds`` writes ``k8s/crds/tidal.dev_<plural>.yaml``;
``--check`` fails when the committed files differ, ``--docs`` prints the reference tables of
``docs/operator.md``. The operator applies the same schemas' defaults
(``tidal_operator.defaulting``).
"""

from __future__ import annotations

from typing import Any

from tidal_operator.crds import backuplocations, backuppolicies, dlqarchives, restores
from tidal_operator.crds.common import API_VERSION, GROUP, VERSION

__all__ = [
    "API_VERSION", "GROUP", "VERSION", "all_crds", "backuplocations", "backuppolicies",
    "dlqarchives", "restores",
]  # fmt: skip


def all_crds() -> list[dict[str, Any]]:
    """Every CRD the operator serves, in a stable order."""
    return [backuppolicies.crd(), dlqarchives.crd(), restores.crd(), backuplocations.crd()]
