"""Who owns a store prefix: one BackupPolicy and one DLQArchive at most.

``owners/backup-policy.json`` and ``owners/dlq-archive.json`` name the first owner that ran
there; a run of any other is refused with ``PrefixOwned``, so two policies (or archives) can
never prune or restore each other's data even by configuration mistake. Called by ``tidal
backup run`` and ``tidal dlq drain | prune``.
"""

from __future__ import annotations

import json
from typing import Final

from tidal_data.errors import StoreError
from tidal_data.keys import owner_key
from tidal_data.store import AlreadyExists, ObjectStore

OWNER_SCHEMA: Final = "tidal.dev/store-owner/v1"


def claim(store: ObjectStore, kind: str, owner: str) -> None:
    """Make the prefix ``owner``'s (``kind``: backup-policy or dlq-archive): the first run
    writes the marker, a run of any other owner is refused (``PrefixOwned``). Handing a
    prefix over means deleting ``owners/<kind>.json`` by hand."""
    key = owner_key(kind)
    body = json.dumps({"schema": OWNER_SCHEMA, "owner": owner}).encode()
    try:
        store.put_new(key, body)
        return
    except AlreadyExists:
        pass
    data = store.get(key)
    try:
        found = json.loads(data or b"{}").get("owner")
    except ValueError:
        found = None
    if found != owner:
        raise StoreError(
            f"{store.config.describe()} belongs to {kind} {found!r}, not {owner!r}: give each "
            "its own prefix (or delete "
            f"{store.config.prefix}{key} to hand it over)",
            reason="PrefixOwned",
        )
