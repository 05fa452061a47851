"""The object-store flags of a data-plane command as one click decorator.

`object_store_options` stacks the store flags (``--bucket --prefix --region --endpoint
--path-style``), the encryption flags (``--encryption --sse-algorithm --sse-kms-key-id
--encryption-key-file --previous-key-file``) and the Object Lock flags of
`tidal_data.cli.shared`, in that order; `tidal_data.cli.shared.open_store` turns what they
parse into the `ObjectStore`. Used by ``tidal archive`` (`tidal_data.cli.archive`) and
``tidal restore`` / ``tidal replay`` (`tidal_data.cli.restore`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tidal_data.cli.shared import encryption_options, lock_options, store_options

F = TypeVar("F", bound=Callable[..., Any])


def object_store_options(func: F) -> F:
    """``--bucket --prefix [--region] [--endpoint] [--path-style]``, then ``--encryption`` and
    its settings, then ``--object-lock-mode --object-lock-days``."""
    return store_options(encryption_options(lock_options(func)))
