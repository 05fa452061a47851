"""Names of the objects derived from an App, kept to Kubernetes' 63-character label limit.

Called by `tidal._manifests.triggers` (one Trigger per subscription) and written into the chart
values, so the chart and `tidal manifests` name every object the same way.
"""

from __future__ import annotations

import hashlib
from typing import Final

LIMIT: Final = 63


def object_name(*parts: str) -> str:
    """``part-part``; past 63 characters, cut and suffixed with a hash of the full name."""
    full = "-".join(parts)
    if len(full) <= LIMIT:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: LIMIT - 9].rstrip('-')}-{digest}"
