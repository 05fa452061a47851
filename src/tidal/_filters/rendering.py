"""Render CloudEvent attribute values as the strings filters compare.

Called by the Knative ``exact``/``prefix``/``suffix`` dialects and by the CESQL evaluator: the
SDK's ``get_attributes()`` hands over ``str`` values, except ``time`` (an aware ``datetime``)
and extensions, which may also be ``int`` or ``bool``. A ``time`` a binding decoded is compared
as the text the event carried (`tidal._events.Timestamp`); one made in process is rendered as
RFC 3339 the way Knative's filters render it (Go's ``time.RFC3339Nano``: the fraction without
trailing zeros, ``Z`` for UTC).
"""

from __future__ import annotations

from datetime import datetime

from tidal._events import wire_text


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text of ``moment``; UTC (or a naive time, taken as UTC) ends in ``Z``; no
    trailing zeros in the fraction (``12:34:56.78Z``)."""
    offset = moment.utcoffset()
    text = moment.replace(tzinfo=None, microsecond=0).isoformat()
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + ("Z" if not offset else moment.isoformat()[-6:])


def attribute_text(value: object) -> str:
    """The canonical string form of an attribute value (booleans as ``true``/``false``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return wire_text(value) or rfc3339(value)
    return str(value)
