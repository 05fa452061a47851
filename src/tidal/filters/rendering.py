"""Render CloudEvent attribute values as the strings filters compare.

Called by the Knative ``exact``/``prefix``/``suffix`` dialects and by the CESQL evaluator: the
SDK's ``get_attributes()`` hands over ``str`` values, except ``time`` (an aware ``datetime``)
and extensions, which may also be ``int`` or ``bool``.
"""

from __future__ import annotations

from datetime import datetime


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text of ``moment``; UTC (or a naive time, taken as UTC) ends in ``Z``."""
    offset = moment.utcoffset()
    if not offset:
        return moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat()


def attribute_text(value: object) -> str:
    """The canonical string form of an attribute value (booleans as ``true``/``false``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)
