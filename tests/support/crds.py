"""Where the upstream CRD schemas (Knative, KEDA, prometheus-operator) are read from.

They live beside the project, in ``../shared/crds`` (never copied into it); ``TIDAL_SHARED_CRDS``
points elsewhere when the checkout sits somewhere else. Tests that validate against them fail,
rather than skip, when they are missing: a skipped schema check would pass unnoticed.
Used by tests/deploy, tests/operator and tests/observability.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
SHARED_CRDS: Final = Path(os.environ.get("TIDAL_SHARED_CRDS") or ROOT.parent / "shared" / "crds")


def shared_crd(name: str) -> Path:
    """The path of one upstream CRD file; an AssertionError saying where it was looked for."""
    path = SHARED_CRDS / name
    assert path.is_file(), (
        f"{path} is missing: the upstream CRDs live in ../shared/crds (or set TIDAL_SHARED_CRDS)"
    )
    return path
