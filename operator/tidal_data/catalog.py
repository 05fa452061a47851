"""The store's backups in a few bytes: what ``tidal backup sync`` reports so that an operator
in another cluster knows them (a BackupLocation's status, as Velero's backup sync makes Backup
objects from a BackupStorageLocation).

``{"backups": N, "listed": n, "unreadable": u, "policies": {"<ns>/<name>": [[id, flags, events,
bytes], ...]}}``, newest first per policy; flags: ``c`` complete, ``v`` verified, ``p`` partly
failed (missing topics or unreadable offsets). Only as many as fit ``budget`` bytes are listed
(the newest first); ``listed`` < ``backups`` says so. Pure; called by `tidal_data.cli.backup`.
"""

from __future__ import annotations

import json
from typing import Any

from tidal_data.backups import Listing
from tidal_data.manifest import Manifest

BUDGET = 3000
"""Bytes of a listing at most: a run result (the termination message) holds 4096."""


def flags(manifest: Manifest) -> str:
    found = "c" if manifest.state == "complete" else ""
    found += "v" if manifest.verified else ""
    return found + ("p" if manifest.missing_topics or manifest.gaps() else "")


def catalog(listing: Listing, budget: int = BUDGET) -> dict[str, Any]:
    """The compact listing of every readable backup, newest first, cut to ``budget`` bytes."""
    newest_first = sorted(listing.manifests, key=lambda m: (m.created_at, m.id), reverse=True)
    body: dict[str, Any] = {
        "backups": len(newest_first),
        "listed": 0,
        "unreadable": len(listing.unreadable),
        "policies": {},
    }
    size = len(json.dumps(body, separators=(",", ":")))
    for manifest in newest_first:
        entry = [manifest.id, flags(manifest), manifest.events, manifest.size]
        policy = manifest.policy or ""
        cost = len(json.dumps(entry, separators=(",", ":"))) + 1
        if policy not in body["policies"]:
            cost += len(json.dumps(policy)) + 3
        if size + cost > budget:
            break
        body["policies"].setdefault(policy, []).append(entry)
        body["listed"] += 1
        size += cost
    return body
