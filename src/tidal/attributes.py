"""CloudEvents attribute values: the spec's type system, checked, and each value's wire text.

`tidal.events.Event` validates its attributes here; the bindings parse ``time`` with
`Timestamp.parse` and write every attribute with `text` (the spec's canonical string encoding,
"type system" in spec.md): booleans are ``true`` / ``false``, a timestamp that arrived as text
goes out as exactly that text (nanoseconds and offset included), binary is base64. Filters that
compare an attribute as text read it with `text` too.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any, Final, SupportsIndex

from tidal.errors import InvalidEventError

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1

# RFC 3339 section 5.6 date-time (ABNF literals are case-insensitive: 't', 'z' too)
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# spec.md "String": no control characters, no unpaired surrogates (a Python str from valid
# UTF-8 or JSON holds pairs as one character), no Unicode noncharacters
_NONCHARACTERS: Final = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_DISALLOWED: Final = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")


class Timestamp(datetime):
    """A ``time`` read from RFC 3339 text, which it keeps in ``text``: a datetime holds only
    microseconds, and the text (``.123456789Z``, ``+02:00``) is what goes out again.

    Arithmetic and ``replace`` give a Timestamp without text, written from its value."""

    text: str | None = None

    @classmethod
    def parse(cls, value: Any) -> datetime:
        """``value`` as a datetime, or `InvalidEventError` naming the attribute: a plain one
        where `time_text` writes ``value`` back exactly (``...:05Z``, ``...:05.123456Z``, what
        tidal writes), else a Timestamp keeping ``value``."""
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise InvalidEventError(f"attribute 'time' is not an RFC 3339 timestamp: {value!r}")
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError as exc:  # 2026-02-30, 24:00:00, a leap second
            raise InvalidEventError(
                f"attribute 'time' is not an RFC 3339 timestamp: {value!r} ({exc})"
            ) from exc
        size = len(value)
        if (
            value[-1] == "Z"
            and value[10] == "T"
            and (size == 20 or (size == 27 and parsed.microsecond))
        ):
            return parsed
        kept = cls.fromisoformat(value.upper())
        kept.text = value
        return kept

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        if self.text is None:
            return super().__reduce_ex__(protocol)
        return (Timestamp.parse, (self.text,))


def time_text(value: datetime) -> str:
    """RFC 3339 text of a datetime: a Timestamp's own text, else ISO 8601 with ``Z`` for UTC."""
    kept = getattr(value, "text", None)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    written = value.isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def text(value: Any) -> str:
    """The canonical string encoding of an attribute value (spec.md, "Type System")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise InvalidEventError(f"{type(value).__name__} is not a CloudEvents attribute type")


def valid_string(value: str) -> bool:
    """True when ``value`` is a legal CloudEvents String (``isprintable`` settles most)."""
    return value.isprintable() or _DISALLOWED.search(value) is None


def check_value(name: str, value: Any) -> None:
    """Raise `InvalidEventError` unless ``value`` is of a CloudEvents type and legal."""
    if isinstance(value, str):
        if not valid_string(value):
            raise InvalidEventError(
                f"attribute {name!r} holds a character CloudEvents forbids (a control "
                f"character, an unpaired surrogate or a noncharacter): {value!r}"
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidEventError(
                f"attribute {name!r} is an integer outside the signed 32-bit range: {value}"
            )
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidEventError(f"attribute {name!r} is a timestamp without a time zone")
    elif not isinstance(value, bytes | bytearray):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise InvalidEventError(
            f"attribute {name!r} must be a string, boolean, integer, binary or timestamp, "
            f"not {kind}"
        )


_JSON_KINDS: Final[dict[type, str]] = {
    dict: "an object",
    list: "an array",
    float: "a number with a fraction or exponent",
}
