"""Entry point of the operator's container: ``kopf run -m tidal_operator.main --all-namespaces``.

Registers every handler into kopf's default registry, with settings from ``TIDAL_OPERATOR_*``
variables and in-cluster credentials (the pod's service account; a kubeconfig outside a cluster).
"""

from __future__ import annotations

import os
from typing import Any

import kopf

from tidal_operator.config import OperatorConfig
from tidal_operator.handlers import register


def login_in_cluster(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The service account's token when in a pod, else the current kubeconfig context."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


register(
    kopf.get_default_registry(),
    config=OperatorConfig.from_env(os.environ),
    login=login_in_cluster,
)
