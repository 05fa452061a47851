"""Apply a structural schema's defaults to an object, the way the API server does.

The API server defaults a CR on every read, but objects written before a default existed, or
served by a test emulator, may lack them; the operator defaults every spec it reads from the
same CRD schema it generates, so the defaults have one source. Pure; called by ``specs``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def defaulted(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of ``value`` with every absent property that has a default filled in, recursively.

    Like the API server, a default applies only where the enclosing object exists; an object
    default (often ``{}``) is itself defaulted, so nested defaults appear with it.
    """
    if isinstance(value, Mapping) and schema.get("type") == "object":
        result = {key: copy.deepcopy(item) for key, item in value.items()}
        for name, child in schema.get("properties", {}).items():
            if name not in result and "default" in child:
                result[name] = copy.deepcopy(child["default"])
            if name in result:
                result[name] = defaulted(child, result[name])
        return result
    if isinstance(value, list) and schema.get("type") == "array":
        return [defaulted(schema["items"], item) for item in value]
    return value
